import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ComponentInstance, LEAKED_HANDLES_REBUILD } from '../../src/component/instance.js';
import type { HostConfig, InboundMessage, LogLine } from '../../src/component/types.js';
import { decode, examples, fixture, load, text } from '../helpers.js';

const host: HostConfig = { brokers: ['default'] };
const msg = (data: string, extra: Partial<InboundMessage> = {}): InboundMessage => ({
  payload: text(data),
  channel: 'orders',
  partition: 2,
  offset: '41',
  timestamp: Date.UTC(2026, 0, 2, 3, 4, 5),
  ...extra,
});

async function instance(file: string, config: HostConfig = host): Promise<ComponentInstance> {
  return ComponentInstance.create(await load(file), config);
}

describe('world A examples', () => {
  test('noop (WAT) accepts and publishes nothing', async () => {
    const out = (await instance(examples.noop)).call(msg('anything'));
    assert.deepEqual(out, { result: { tag: 'ok' }, outbox: [] });
  });

  test('enrich (C) reads the amount and publishes the enriched event', async () => {
    const out = (await instance(examples.enrich)).call(
      msg('{"user":"ada","amount":1250}', { headers: { trace: 't-1' } }),
    );
    assert.deepEqual(out.result, { tag: 'ok' });
    assert.equal(out.outbox.length, 1);
    const [o] = out.outbox;
    assert.equal(o!.kind, 'topic');
    assert.equal(o!.channel, 'orders.enriched');
    assert.equal(o!.broker, 'default');
    assert.deepEqual(JSON.parse(decode(o!.data)), { user: 'ada', amount: 1250, tier: 'large' });
    assert.equal(o!.headers['ce_type'], 'org.wasmsg.order.enriched');
    assert.equal(o!.headers['ce_id'], 'orders/2/41', 'id synthesised from the broker position');
    assert.equal(o!.headers['ce_time'], '2026-01-02T03:04:05.000Z');
    assert.equal(o!.headers['content-type'], 'application/json');
    assert.equal(o!.headers['ce_enriched-by'], 'enrich-c');
  });

  test('enrich (C) refuses data without an amount with its own error', async () => {
    const out = (await instance(examples.enrich)).call(msg('{"user":"ada"}'));
    assert.deepEqual(out.result, {
      tag: 'error',
      error: { tag: 'other', val: "event data has no numeric field 'amount'" },
    });
    assert.deepEqual(out.outbox, []);
  });

  test('fizzbuzz (JS): fizz… becomes buzz… on topic rust; anything else publishes nothing', async () => {
    const inst = await instance(examples.fizzbuzz);
    const out = inst.call(msg('fizz and fizz again'));
    assert.deepEqual(out.result, { tag: 'ok' });
    assert.equal(out.outbox.length, 1);
    assert.equal(out.outbox[0]!.channel, 'rust');
    assert.equal(decode(out.outbox[0]!.data), 'buzz and buzz again');
    assert.deepEqual(inst.call(msg('not fizz first')), { result: { tag: 'ok' }, outbox: [] });
  });

  test('an unknown broker is connection("unknown broker ..."), returned to the guest', async () => {
    const out = (await instance(examples.enrich, { brokers: ['elsewhere'] })).call(msg('{"amount":1}'));
    assert.deepEqual(out.result, { tag: 'error', error: { tag: 'connection', val: "unknown broker 'default'" } });
  });

  test('a publish outside the grants is permission-denied, and the host survives', async () => {
    const inst = await instance(examples.enrich, { brokers: ['default'], grants: { publish: ['audit.*'] } });
    const out = inst.call(msg('{"amount":1}'));
    assert.equal(out.result.tag, 'error');
    assert.deepEqual(out.result.tag === 'error' && out.result.error.tag, 'permission-denied');
    assert.match(
      out.result.tag === 'error' && 'val' in out.result.error ? out.result.error.val : '',
      /orders\.enriched/,
    );
    assert.equal(inst.rebuilds, 0, 'a denied call is not a trap');
  });

  test('a broker outside the grants is permission-denied', async () => {
    const inst = await instance(examples.fizzbuzz, { brokers: ['default'], grants: { brokers: ['other'] } });
    const out = inst.call(msg('fizz'));
    assert.equal(out.result.tag, 'error');
    assert.equal(out.result.tag === 'error' && out.result.error.tag, 'permission-denied');
  });
});

describe('world B examples', () => {
  test('echo (WAT) forwards the message as it is to topic echo', async () => {
    const out = (await instance(examples.echo)).call(
      msg('hello', { headers: { 'content-type': 'text/plain', a: '1' } }),
    );
    assert.deepEqual(out.result, { tag: 'ok' });
    assert.equal(out.outbox.length, 1);
    assert.equal(out.outbox[0]!.channel, 'echo');
    assert.equal(decode(out.outbox[0]!.data), 'hello');
    assert.deepEqual(out.outbox[0]!.headers, { a: '1', 'content-type': 'text/plain' });
  });

  test('echo (WAT) passes a connect error through', async () => {
    const out = (await instance(examples.echo, { brokers: ['x'] })).call(msg('hello'));
    assert.deepEqual(out.result, { tag: 'error', error: { tag: 'connection', val: "unknown broker 'default'" } });
  });

  test('shout (JS) upper-cases to the reply-to topic; empty data is its error', async () => {
    const inst = await instance(examples.shout);
    const out = inst.call(msg('hi there', { headers: { 'reply-to': 'answers' } }));
    assert.deepEqual(out.result, { tag: 'ok' });
    assert.equal(out.outbox[0]!.channel, 'answers');
    assert.equal(decode(out.outbox[0]!.data), 'HI THERE');
    assert.deepEqual(out.outbox[0]!.headers, { 'shouted-by': 'shout-js', 'content-type': 'text/plain' });
    assert.deepEqual(inst.call(msg('')).result, { tag: 'error', error: { tag: 'other', val: 'empty message' } });
  });

  test('messages the guest never drops are released after every call; memory does not grow', async () => {
    const inst = await instance(fixture('leak-b'));
    const payload = new Uint8Array(64 * 1024);
    const calls = 3 * LEAKED_HANDLES_REBUILD;
    const heap = (): number => {
      global.gc?.();
      return process.memoryUsage().heapUsed;
    };
    for (let i = 0; i < 1000; i++) inst.call({ payload, channel: 'x' });
    const before = heap();
    for (let i = 0; i < calls; i++) assert.equal(inst.call({ payload, channel: 'x' }).result.tag, 'ok');
    const grown = heap() - before;
    // Kept, the payloads alone would be calls × 64 KiB ≈ 1.9 GiB; released, only handle slots remain.
    assert.ok(grown < 64 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB over ${calls} calls`);
    assert.ok(inst.rebuilds >= 2, `the instance was rebuilt to free leaked handle slots (${inst.rebuilds})`);
  });

  test('a guest that drops or sends its messages never needs a rebuild', async () => {
    const inst = await instance(examples.echo);
    for (let i = 0; i < LEAKED_HANDLES_REBUILD + 10; i++) inst.call(msg('x'));
    assert.equal(inst.rebuilds, 0);
  });
});

describe('misbehaving components', () => {
  test('err fixture: its error variant, nothing published, instance kept', async () => {
    const inst = await instance(fixture('err'));
    assert.deepEqual(inst.call(msg('x')), {
      result: { tag: 'error', error: { tag: 'other', val: 'rejected by fixture' } },
      outbox: [],
    });
    inst.call(msg('y'));
    assert.equal(inst.rebuilds, 0);
  });

  test('trap fixture: a trap result, and the dead instance is rebuilt before the next call', async () => {
    const inst = await instance(fixture('trap'));
    const first = inst.call(msg('x'));
    assert.equal(first.result.tag, 'trap');
    assert.match(first.result.tag === 'trap' ? first.result.message : '', /unreachable/);
    assert.equal(inst.rebuilds, 0);
    assert.equal(inst.call(msg('y')).result.tag, 'trap');
    assert.equal(inst.rebuilds, 1);
  });
});

describe('WASI sandbox', () => {
  test('a component sees no preopened directory (so no host file) and no environment', async () => {
    const out = (await instance(fixture('sandbox-probe'))).call(msg('x'));
    assert.deepEqual(out.result, { tag: 'ok' });
  });

  test('the probe does detect an open filesystem (control)', async () => {
    const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
    const { worldAImports } = await import('../../src/component/host-a.js');
    const { HostState } = await import('../../src/component/host-state.js');
    const c = await load(fixture('sandbox-probe'));
    const glue = (await import(c.glueUrl)) as {
      instantiate: (
        g: (n: string) => WebAssembly.Module,
        i: unknown,
      ) => Record<string, { onReceive: (e: unknown) => void }>;
    };
    const open = new WASIShim({ sandbox: { preopens: { '/': '/' } } } as never).getImportObject();
    const exports = glue.instantiate((n) => c.modules[n]!, { ...open, ...worldAImports(new HostState(host)) });
    assert.throws(
      () =>
        exports['wasi:messaging/handler@0.1.0-draft']!.onReceive({ specversion: '1.0', ty: 't', source: 's', id: '1' }),
      (e: unknown) => (e as { val?: string }).val === 'sandbox open: preopened directories are visible',
    );
  });

  test("a JS component's console output goes to the host's logger, tagged with its name", async () => {
    const lines: LogLine[] = [];
    const inst = await instance(examples.shout, { brokers: ['default'], logger: (l) => lines.push(l) });
    inst.call(msg('hello'));
    assert.deepEqual(lines, [{ component: 'shout', stream: 'stdout', text: 'shouting 5 characters to shouted' }]);
  });
});
