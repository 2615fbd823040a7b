import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ComponentInstance } from '../../src/component/instance.js';
import { HostState } from '../../src/component/host-state.js';
import { Meta, toGuestMessage, worldCImports, type GuestMessage } from '../../src/component/host-c.js';
import { inspectComponent } from '../../src/component/load.js';
import type { BatchOutcome, HostConfig, InboundMessage } from '../../src/component/types.js';
import { WorldId } from '../../src/component/worlds.js';
import { ErrorCode } from '../../src/errors.js';
import { cacheDir, decode, examples, fixture, load, text } from '../helpers.js';

const host: HostConfig = { brokers: ['default'] };
const script = fixture('batch-script');

/** A batch whose message i carries `datas[i]` (the script fixture's command), offsets 10, 11, … */
const batch = (datas: string[], extra: Partial<InboundMessage> = {}): InboundMessage[] =>
  datas.map((d, i) => ({
    payload: text(d),
    channel: 'in',
    partition: 1,
    offset: String(10 + i),
    broker: 'default',
    ...extra,
  }));

async function instance(file: string, config: HostConfig = host): Promise<ComponentInstance> {
  return ComponentInstance.create(await load(file), config);
}

const tags = (out: BatchOutcome): string[] => out.results.map((r) => r.tag);
const errorVal = (out: BatchOutcome, i: number): string => {
  const r = out.results[i]!;
  assert.equal(r.tag, 'error', `message ${i} is ${r.tag}`);
  return r.tag === 'error' && 'val' in r.error ? r.error.val : '';
};

describe('world C: recognised', () => {
  test('the example is world C (@0.2.0-draft messaging), told from world B by its interfaces', async () => {
    const info = await inspectComponent(examples.batch, { cacheDir });
    assert.equal(info.world, WorldId.batch);
    assert.equal(info.family, 'c');
    assert.deepEqual(info.exports, ['wasi:messaging/messaging-guest@0.2.0-draft']);
    // it imports only what it uses
    assert.deepEqual(
      new Set(info.imports),
      new Set(['wasi:messaging/messaging-types@0.2.0-draft', 'wasi:messaging/producer@0.2.0-draft']),
    );
  });

  test('the @0.1.0 label is world C too, and runs', async () => {
    const info = await inspectComponent(fixture('batch-v010'), { cacheDir });
    assert.equal(info.world, WorldId.batchV010);
    assert.equal(info.family, 'c');
    const out = (await instance(fixture('batch-v010'))).callBatch(batch(['x', 'y']));
    assert.deepEqual(tags(out), ['ok', 'ok']);
    assert.deepEqual(
      out.outbox.map((o) => decode(o.data)),
      ['x', 'y'],
    );
  });
});

describe('world C: configure', () => {
  test('configure() runs when the instance is built and its configuration is exposed', async () => {
    assert.deepEqual((await instance(examples.batch)).configuration, { channels: ['in'], extensions: undefined });
    assert.deepEqual((await instance(script)).configuration, {
      channels: ['in'],
      extensions: [['fixture', 'batch-script']],
    });
  });

  test('configure() returning err fails the instance with its error text', async () => {
    await assert.rejects(instance(fixture('batch-noconf')), {
      code: ErrorCode.instantiate,
      message: /configure\(\) returned err: connection: unknown broker 'nope'/,
    });
  });
});

describe('world C: a batch in one handler call', () => {
  test('the example forwards the whole batch with one send: outputs keep the broker headers and the key (wasmsg-key), no other wasmsg-*', async () => {
    const msgs = batch(['a', 'b', 'c'], { headers: { trace: 't-1', [Meta.index]: 'forged' }, key: 'k' });
    const out = (await instance(examples.batch)).callBatch(msgs);
    assert.deepEqual(tags(out), ['ok', 'ok', 'ok']);
    assert.equal(out.outbox.length, 3);
    for (const [i, o] of out.outbox.entries()) {
      assert.equal(o.broker, 'default');
      assert.equal(o.kind, 'topic');
      assert.equal(o.channel, 'out');
      assert.equal(decode(o.data), ['a', 'b', 'c'][i]);
      // the engine publishes wasmsg-key as the output's key (engine/outputs.ts), not as a header
      assert.deepEqual(o.headers, { trace: 't-1', [Meta.key]: 'k' });
    }
  });

  test('call() is a batch of one', async () => {
    const out = (await instance(examples.batch)).call(batch(['one'])[0]!);
    assert.deepEqual(out.result, { tag: 'ok' });
    assert.deepEqual(
      out.outbox.map((o) => [o.channel, decode(o.data)]),
      [['out', 'one']],
    );
  });

  test('completed → ok, abandoned → error, the rest follow the handler; later messages of a failed lane are skipped', async () => {
    const inst = await instance(script);
    // one lane (same channel and partition): after the abandoned one, everything is skipped
    const one = inst.callBatch(batch(['c', 'a', 'c', 'o']));
    assert.deepEqual(tags(one), ['ok', 'error', 'skipped', 'skipped']);
    assert.equal(errorVal(one, 1), 'abandoned by the guest (abandon-message)');
    // lanes given: only the abandoned message's lane stops
    const lanes = inst.callBatch(batch(['c', 'a', 'c', 'o', 'c']), [1, 1, 1, 2, 2]);
    assert.deepEqual(tags(lanes), ['ok', 'error', 'skipped', 'ok', 'ok']);
    assert.equal(inst.rebuilds, 0);
  });

  test("handler err: unsettled messages get the error's text; a completed one is ok unless a failure precedes it in its lane", async () => {
    const inst = await instance(script);
    const out = inst.callBatch(batch(['c', 'o', 'e', 'c', 'c']), [1, 1, 1, 1, 2]);
    assert.deepEqual(tags(out), ['ok', 'error', 'skipped', 'skipped', 'ok']);
    assert.equal(errorVal(out, 1), "connection: unknown broker 'nope'");
  });

  test('what send published goes out only when a message of the batch is ok', async () => {
    const inst = await instance(script);
    const failed = inst.callBatch(batch(['s', 'e']));
    assert.deepEqual(tags(failed), ['error', 'skipped']);
    assert.deepEqual(failed.outbox, []);
    const partly = inst.callBatch(batch(['s', 'e', 'c']), [1, 1, 2]);
    assert.deepEqual(tags(partly), ['error', 'skipped', 'ok']);
    assert.deepEqual(
      partly.outbox.map((o) => [o.channel, decode(o.data)]),
      [['out', 's']],
    );
  });

  test('a trap: every unsettled message traps, the instance is rebuilt (configure again) before the next batch', async () => {
    const inst = await instance(script);
    const out = inst.callBatch(batch(['s', 'c', 't', 'o']), [1, 2, 3, 4]);
    assert.deepEqual(tags(out), ['trap', 'ok', 'trap', 'trap']);
    assert.match(out.results[0]!.tag === 'trap' ? out.results[0]!.message : '', /unreachable/);
    assert.equal(out.outbox.length, 1, "the completed message is ok, so the batch's send goes out");
    const next = inst.callBatch(batch(['o']));
    assert.deepEqual(tags(next), ['ok']);
    assert.equal(inst.rebuilds, 1);
    assert.deepEqual(inst.configuration?.channels, ['in']);
  });

  test('a send outside the grants is permission-denied, as an error resource; the host survives', async () => {
    const inst = await instance(script, { brokers: ['default'], grants: { publish: ['audit.*'] } });
    const out = inst.callBatch(batch(['s', 'o']));
    assert.deepEqual(tags(out), ['error', 'skipped']);
    assert.equal(errorVal(out, 0), "permission-denied: not granted publish to 'out' on broker 'default'");
    assert.deepEqual(out.outbox, []);
    assert.equal(inst.rebuilds, 0);
  });

  test('pulling and reconfiguring return err saying what is not supported (no trap, no hang)', async () => {
    const inst = await instance(script);
    for (const [cmd, fn] of [
      ['p', 'subscribe-try-receive'],
      ['r', 'subscribe-receive'],
      ['g', 'update-guest-configuration'],
    ]) {
      const out = inst.callBatch(batch([cmd!]));
      assert.match(errorVal(out, 0), new RegExp(`^not supported: ${fn}: `));
    }
    assert.equal(inst.rebuilds, 0);
    // without the grant to subscribe, a pull is permission-denied first
    const denied = (await instance(script, { brokers: ['default'], grants: { subscribe: [] } })).callBatch(
      batch(['p']),
    );
    assert.equal(errorVal(denied, 0), "permission-denied: not granted subscribe to 'in' on broker 'default'");
  });

  test('error.trace() is the text of the last error the host returned', async () => {
    const inst = await instance(script);
    // p: an error; T: send trace() to `trace`; c (own lane): ok, so the batch's outputs go out
    const out = inst.callBatch(batch(['p', 'T', 'c']), [1, 1, 2]);
    assert.deepEqual(tags(out), ['error', 'skipped', 'ok']);
    assert.equal(out.outbox.length, 1);
    assert.equal(out.outbox[0]!.channel, 'trace');
    assert.equal(decode(out.outbox[0]!.data), errorVal(out, 0));
  });

  test('complete-message on a record that is not of the batch returns err saying so', async () => {
    const out = (await instance(script)).callBatch(batch(['u']));
    assert.equal(errorVal(out, 0), `complete-message: not a message of this batch (its metadata has no ${Meta.index})`);
  });

  test('callBatch needs a world C component', async () => {
    const a = await instance(examples.noop);
    assert.throws(() => a.callBatch(batch(['x'])), { code: ErrorCode.badInput });
  });
});

describe('world C: records and metadata (host side)', () => {
  const msg: InboundMessage = {
    payload: text('p'),
    channel: 'orders',
    partition: 3,
    offset: '77',
    key: 'k-1',
    broker: 'kafka',
    timestamp: 1_700_000_000_000,
    headers: { trace: 't' },
  };

  test('metadata: broker headers, then channel, partition, offset, key, broker, timestamp and batch index', () => {
    assert.deepEqual(toGuestMessage(msg, 4).metadata, [
      ['trace', 't'],
      ['wasmsg-channel', 'orders'],
      ['wasmsg-partition', '3'],
      ['wasmsg-offset', '77'],
      ['wasmsg-key', 'k-1'],
      ['wasmsg-broker', 'kafka'],
      ['wasmsg-timestamp', '1700000000000'],
      ['wasmsg-index', '4'],
    ]);
  });

  test("format: cloudevents when the record carries CloudEvents attributes, else the broker's kind, else raw", () => {
    const formats = { kafka: 'kafka' } as const;
    assert.equal(toGuestMessage(msg, 0, formats).format, 'kafka');
    assert.equal(toGuestMessage({ ...msg, broker: 'default' }, 0, formats).format, 'raw');
    assert.equal(toGuestMessage({ ...msg, headers: { ce_specversion: '1.0' } }, 0, formats).format, 'cloudevents');
    assert.equal(
      toGuestMessage({ ...msg, headers: { 'content-type': 'application/cloudevents+json' } }, 0).format,
      'cloudevents',
    );
  });

  test('a handed-back message is recognised by its index and must match its position; settling twice differently is an err', () => {
    const c = worldCImports(new HostState(host));
    const consumer = c.imports['wasi:messaging/consumer']! as Record<string, (m: GuestMessage) => void>;
    const attempt = (fn: string, m: GuestMessage): string => {
      try {
        consumer[fn]!(m);
        return 'ok';
      } catch (e) {
        return c.guestError(e)?.val ?? `not an error resource: ${String(e)}`;
      }
    };
    const records = c.begin([msg, { ...msg, offset: '78' }]);
    assert.match(attempt('completeMessage', records[0]!), /^ok$/);
    const moved = {
      ...records[1]!,
      metadata: records[1]!.metadata!.map(([k, v]): [string, string] => [k, k === Meta.offset ? '99' : v]),
    };
    assert.equal(
      attempt('completeMessage', moved),
      "complete-message: not a message of this batch (wasmsg-index 1 has wasmsg-offset '78', this message says '99')",
    );
    const beyond = { ...records[1]!, metadata: [[Meta.index, '2']] as Array<[string, string]> };
    assert.equal(
      attempt('abandonMessage', beyond),
      "abandon-message: not a message of this batch (wasmsg-index '2'; the batch has 2 messages)",
    );
    assert.equal(
      attempt('abandonMessage', records[0]!),
      'abandon-message: message 0 of the batch was already completed',
    );
    assert.equal(attempt('abandonMessage', records[1]!), 'ok');
    assert.deepEqual(c.end(), ['complete', 'abandon']);
    assert.equal(
      attempt('completeMessage', records[0]!),
      'complete-message: no batch is being handled (call it from handler)',
    );
  });
});
