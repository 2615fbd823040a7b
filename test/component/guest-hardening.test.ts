import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco-transpile/wasm-tools';
import { ComponentInstance } from '../../src/component/instance.js';
import { loadComponent } from '../../src/component/load.js';
import { RELEASED_MESSAGE } from '../../src/component/direct/traps.js';
import { at, cacheDir, examples, fixture } from '../helpers.js';

/**
 * What a guest can do wrong, or a record can carry, that the host must meet with a trap or a
 * handled message, never wrong data (each test failed before its fix). The world B guests are
 * WAT written here and made components with jco's wasm-tools, as `wasmsg new` does.
 */

const B_WIT = readFileSync(at('wit/messaging-0.2.0-draft/messaging.wit'), 'utf8');
/** A bump allocator: every realloc a fresh block. */
const REALLOC = `
  (global $heap (mut i32) (i32.const 256))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
      (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))`;
const IMPORTS = `
  (import "wasi:messaging/types@0.2.0-draft" "[static]client.connect" (func $connect (param i32 i32 i32)))
  (import "wasi:messaging/types@0.2.0-draft" "[constructor]message" (func $new (param i32 i32) (result i32)))
  (import "wasi:messaging/types@0.2.0-draft" "[resource-drop]message" (func $drop (param i32)))
  (import "wasi:messaging/producer@0.2.0-draft" "send" (func $send (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "default")
  (data (i32.const 80) "out")`;
/** A world B guest whose handler is `body` (the inbound handle in $m); it returns ok. */
async function worldB(body: string, globals = ''): Promise<Uint8Array> {
  const wat = `(module ${IMPORTS} ${REALLOC} ${globals}
    (func (export "wasi:messaging/incoming-handler@0.2.0-draft#handle") (param $m i32) (result i32)
      ${body}
      (i32.store8 (i32.const 0) (i32.const 0))
      (i32.const 0)))`;
  return componentNew(await componentEmbed({ binary: await parse(wat), witSource: B_WIT, world: 'messaging-core' }));
}
/** Sends handle `h` to channel `out` of broker `default` (result at 32). */
const send = (h: string): string =>
  `(call $connect (i32.const 64) (i32.const 7) (i32.const 16))
   (call $send (i32.load (i32.const 20)) (i32.const 80) (i32.const 3) ${h} (i32.const 32))`;

describe('the host against guest mistakes and odd records', () => {
  test('a pointer past 2 GiB is read unsigned: past the end of memory it traps (direct binding), never reads memory from the end', async () => {
    // the guest makes a message of (0xFFFFFFE0, 16) in a 64 KiB memory: before, the signed −32
    // passed the bounds check and the 16 bytes 32 from the end of memory were published
    const c = await loadComponent(
      await worldB(`(call $drop (local.get $m)) ${send('(call $new (i32.const -32) (i32.const 16))')}`),
      { cacheDir },
    );
    assert.equal(c.binding.kind, 'direct');
    const inst = await ComponentInstance.create(c, { brokers: ['default'] });
    const out = inst.call({ payload: new Uint8Array([1]), channel: 'in' });
    assert.equal(out.result.tag, 'trap');
    assert.match(
      out.result.tag === 'trap' ? out.result.message : '',
      /4294967264\.\.4294967280 is past the end of memory/,
    );
    assert.equal(out.outbox.length, 0);
  });

  for (const binding of ['auto', 'jco'] as const) {
    test(`world B (${binding}): a message kept past its call and sent later traps; it is not published empty as a success`, async () => {
      // the guest keeps each inbound message and sends it on the next call
      const c = await loadComponent(
        await worldB(
          `(if (global.get $kept) (then ${send('(global.get $kept)')}))
           (global.set $kept (local.get $m))`,
          '(global $kept (mut i32) (i32.const 0))',
        ),
        { cacheDir },
      );
      const inst = await ComponentInstance.create(c, { brokers: ['default'], binding });
      const call = (p: string) => inst.call({ payload: Buffer.from(p), channel: 'in', headers: { trace: p } });
      const first = call('first');
      assert.deepEqual([first.result.tag, first.outbox.length], ['ok', 0]);
      const second = call('second');
      assert.deepEqual(second.result, { tag: 'trap', message: RELEASED_MESSAGE });
      assert.equal(second.outbox.length, 0, 'nothing published');
      // the trap rebuilt the instance: the next call starts with nothing kept
      assert.equal(call('third').result.tag, 'ok');
    });

    test(`world C (${binding}): complete-message of a message with no offset (the library's call) is accepted`, async () => {
      // before, the direct binding compared the offset with 'undefined' and refused it
      const inst = await ComponentInstance.create(await loadComponent(fixture('batch-script'), { cacheDir }), {
        brokers: ['default'],
        binding,
      });
      const out = inst.callBatch([{ payload: Buffer.from('c'), channel: 'in', partition: 0 }]);
      assert.deepEqual(out.results, [{ tag: 'ok' }]);
    });

    test(`world A (${binding}): a timestamp no date can hold gives an event without time, not a trap`, async () => {
      // a producer's microseconds taken for milliseconds: before, new Date(ts).toISOString()
      // threw while the event was mapped, reported as the guest's trap (and dead-lettered)
      const inst = await ComponentInstance.create(await loadComponent(examples.enrich, { cacheDir }), {
        brokers: ['default'],
        binding,
      });
      const call = (timestamp: number) =>
        inst.call({
          payload: Buffer.from('{"user":"ada","amount":1}'),
          channel: 'orders',
          partition: 0,
          offset: '1',
          timestamp,
        });
      const out = call(1.7e18);
      assert.equal(out.result.tag, 'ok');
      assert.equal(out.outbox.length, 1);
      assert.equal(out.outbox[0]!.headers['ce_time'], undefined);
      assert.equal(call(1.7e12).outbox[0]!.headers['ce_time'], '2023-11-14T22:13:20.000Z', 'a usual one is passed on');
    });
  }
});
