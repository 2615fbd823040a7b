import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutRecord } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import { cacheDir, decode, examples, fixture, settleValues, text } from '../helpers.js';

/** The echo example (publishes each input to topic `echo`) on `memory`, subscribed to `in`. */
function echoEngine(memory: MemoryBroker, options: Partial<EngineOptionsInput>): Engine {
  return new Engine(
    { components: [{ path: examples.echo, subscriptions: [{ channel: 'in' }] }], cacheDir, ...options },
    [memory],
  );
}

/**
 * The embedded broker with publishes to some channels refused — a stand-in (no real server
 * refuses on demand; the fault suite kills real ones) for a broker that refuses a publish:
 * NATS during a restart, a Redis key of another type.
 */
class RefusingPublishMemoryBroker extends MemoryBroker {
  refusals = new Map<string, number>();
  refused = 0;
  override async publish(records: readonly OutRecord[]): Promise<void> {
    for (const r of records) {
      const left = this.refusals.get(r.channel) ?? 0;
      if (left > 0) {
        this.refusals.set(r.channel, left - 1);
        this.refused++;
        throw new Error(`refused publish to ${r.channel}`);
      }
    }
    return super.publish(records);
  }
}

/**
 * The embedded broker with its first publish stored and confirmed only when `confirmFirst()` runs,
 * or right after a later publish went through — a stand-in for a client that retries one send
 * while a later one is accepted (kafkajs after a metadata refresh), which no real server here
 * does on demand.
 */
class FirstPublishLateMemoryBroker extends MemoryBroker {
  private waiting: (() => void) | undefined;
  private calls = 0;
  /** Told when the first publish arrives (and waits). */
  onFirst: () => void = () => {};
  override async publish(records: readonly OutRecord[]): Promise<void> {
    if (this.calls++ === 0) {
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        this.onFirst();
      });
      return super.publish(records);
    }
    await super.publish(records);
    this.confirmFirst();
  }
  confirmFirst(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
}

describe('engine: outputs in order', () => {
  test("a partition's next batch waits until the outputs before it are confirmed: they reach the broker in order", async () => {
    const memory = new FirstPublishLateMemoryBroker({ name: 'default', partitions: 1 });
    const engine = echoEngine(memory, { workers: 2, ordering: 'partition', batch: { maxMessages: 1, lingerMs: 0 } });
    // Once the first batch settled (its publish waiting), the engine must have sent nothing more
    // of the partition; only then is the first publish confirmed. Had it sent m1 on, m1's output
    // would be stored first.
    memory.onFirst = () =>
      setImmediate(() => {
        if (engine.snapshot().inFlightBatches === 0) memory.confirmFirst();
      });
    await engine.start();
    const done = engine.waitForSettled(6);
    for (let i = 0; i < 6; i++) memory.produce('in', { value: text(`m${i}`) });
    await done;
    await engine.stop();
    assert.deepEqual(
      memory.read('echo').map((r) => decode(r.value)),
      ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'],
    );
  });

  test('an input whose outputs were refused is retried before anything later of its partition', async () => {
    const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    memory.refusals.set('echo', 1);
    const engine = echoEngine(memory, {
      workers: 2,
      ordering: 'partition',
      batch: { maxMessages: 1, lingerMs: 0 },
      retries: { maxAttempts: 3, backoffMs: 1 },
    });
    const s = await settleValues(engine, memory, ['m0', 'm1', 'm2', 'm3']);
    assert.equal(memory.refused, 1);
    assert.equal(s.retried, 1);
    assert.deepEqual(
      memory.read('echo').map((r) => decode(r.value)),
      ['m0', 'm1', 'm2', 'm3'],
    );
  });
});

describe('engine: publishes that fail', () => {
  test("a failed output publish is a failed attempt of its input: retried, then dead-lettered — no 'error', no crash", async () => {
    const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    memory.refusals.set('echo', Infinity);
    const engine = echoEngine(memory, { workers: 1, retries: { maxAttempts: 3, backoffMs: 1 } });
    let errors = 0;
    engine.on('error', () => errors++);
    const s = await settleValues(engine, memory, ['a', 'b']);
    const dead = memory.read('wasmsg.dead-letter');
    assert.equal(dead.length, 2);
    assert.match(dead[0]!.headers['x-wasmsg-error']!, /^publish failed: .*refused publish to echo/);
    assert.equal(dead[0]!.headers['x-wasmsg-attempts'], '3');
    assert.equal(s.failed, 6);
    assert.equal(errors, 0);
    assert.equal(memory.read('echo').length, 0);
  });

  test('a publish that fails twice and then succeeds: the input is acked once, its output published once, counted handled once', async () => {
    const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    memory.refusals.set('echo', 2);
    const engine = echoEngine(memory, { workers: 1, retries: { maxAttempts: 3, backoffMs: 1 } });
    const s = await settleValues(engine, memory, ['only']);
    assert.equal(s.deadLettered, 0);
    assert.equal(s.acked, 1);
    // the handler ran 3 times: `processed` (handled ok) counted each run before, 3 of 1 received
    assert.deepEqual([s.received, s.processed, s.failed, s.retried], [1, 1, 2, 2]);
    assert.deepEqual(
      memory.read('echo').map((r) => new TextDecoder().decode(r.value)),
      ['only'],
    );
  });

  test('a dead-letter publish that fails is tried again with backoff until it succeeds', async () => {
    const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    memory.refusals.set('wasmsg.dead-letter', 3);
    const engine = echoEngine(memory, { workers: 1, retries: { maxAttempts: 1, backoffMs: 1, maxBackoffMs: 5 } });
    memory.refusals.set('echo', Infinity);
    await engine.start();
    const done = engine.waitForSettled(1);
    memory.produce('in', { value: text('poison') });
    await done;
    await engine.stop();
    assert.equal(memory.refused >= 4, true, `refused ${memory.refused}`);
    assert.equal(memory.read('wasmsg.dead-letter').length, 1);
  });
});

describe('engine: one output refused among a batch', () => {
  for (const ordering of ['partition', 'none'] as const)
    test(`ordering ${ordering}: an output the broker refuses fails its own input only; the batch's others are acked, their outputs kept`, async () => {
      // The embedded broker's own refusal (a record over its retentionBytes), as Kafka's
      // MESSAGE_TOO_LARGE or an MQTT topic it cannot take: it fails the whole publish call.
      const src = new MemoryBroker({ name: 'src', partitions: 1 });
      const out = new MemoryBroker({ name: 'default', retentionBytes: 10_000 });
      const engine = new Engine(
        {
          components: [{ path: examples.echo, subscriptions: [{ broker: 'src', channel: 'in' }] }],
          workers: 1,
          ordering,
          cacheDir,
          retries: { maxAttempts: 3, backoffMs: 1 },
        },
        [src, out],
      );
      const values = Array.from({ length: 50 }, (_, i) => (i === 25 ? 'X'.repeat(20_000) : `ok${i}`));
      await engine.start();
      const done = engine.waitForSettled(values.length);
      for (const v of values) src.produce('in', { value: text(v) });
      await done;
      const s = engine.snapshot();
      await engine.stop();
      const dead = src.read('wasmsg.dead-letter');
      assert.deepEqual(
        dead.map((r) => decode(r.value).slice(0, 3)),
        ['XXX'],
        'only the input whose output was refused is dead-lettered',
      );
      assert.match(dead[0]!.headers['x-wasmsg-error']!, /^publish failed: .*retentionBytes/);
      assert.equal(s.failed, 3, 'three failed attempts, all of that input');
      assert.equal(s.acked, 50);
      // each other input's output is kept (some twice: the embedded broker stores what came
      // before the refused record of the batch's publish), in input order under `partition`
      const outputs = out.read('echo').map((r) => decode(r.value));
      const firsts = [...new Set(outputs)];
      const expected = values.filter((_, i) => i !== 25);
      if (ordering === 'partition') assert.deepEqual(firsts, expected);
      else assert.deepEqual([...firsts].sort(), [...expected].sort());
    });

  test('outputs in two brokers, one refusing: the input goes back only once the other broker’s publish ended', async () => {
    const log: string[] = [];
    const first = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    first.refusals.set('in.out', 1);
    /**
     * The embedded broker with its first publish held ≈ 100 ms — a stand-in for a slow broker
     * beside one that refuses at once (no real server here is slow on demand).
     */
    class SlowFirstPublishMemoryBroker extends MemoryBroker {
      private calls = 0;
      override async publish(records: readonly OutRecord[]): Promise<void> {
        const call = ++this.calls;
        log.push(`second ${call} sent`);
        if (call === 1) await new Promise((r) => setTimeout(r, 100));
        await super.publish(records);
        log.push(`second ${call} confirmed`);
      }
    }
    const second = new SlowFirstPublishMemoryBroker({ name: 'second', partitions: 1 });
    const original = first.publish.bind(first);
    first.publish = async (records) => {
      log.push('default sent');
      return original(records);
    };
    const engine = new Engine(
      {
        components: [{ path: fixture('fanout'), subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 3, backoffMs: 1 },
      },
      [first, second],
    );
    const s = await settleValues(engine, first, ['m0']);
    assert.equal(s.acked, 1);
    assert.equal(s.failed, 1);
    // before: the refusal sent m0 back at once; its second attempt published to `second` while
    // the first publish there was still under way
    assert.deepEqual(log, [
      'default sent',
      'second 1 sent',
      'second 1 confirmed',
      'default sent',
      'second 2 sent',
      'second 2 confirmed',
    ]);
  });

  for (const ordering of ['none', 'partition'] as const) {
    test(`world C (${ordering}): a batch whose outputs were refused goes back whole; every forwarded output is published`, async () => {
      // examples/batch-wat forwards its batch to `out`: the batch's outputs are attached to its
      // first ok message. Before, the retry one input at a time found the others with no outputs
      // of their own and acked them: their outputs were never published
      const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: ordering === 'none' ? 1 : 4 });
      memory.refusals.set('out', 2);
      const engine = new Engine(
        {
          components: [{ path: examples.batch, subscriptions: [{ channel: 'in' }] }],
          workers: 1,
          ordering,
          cacheDir,
          retries: { maxAttempts: 5, backoffMs: 1 },
        },
        [memory],
      );
      const values = ['m0', 'm1', 'm2', 'm3'];
      const s = await settleValues(engine, memory, values);
      assert.equal(memory.refused, 2);
      assert.deepEqual([s.acked, s.deadLettered], [4, 0]);
      assert.deepEqual(
        memory
          .read('out')
          .map((r) => decode(r.value))
          .sort(),
        values,
      );
    });
  }

  test('world C: a forwarded output keeps the key its message came with and only its own trace context', async () => {
    // before: every output of the batch took the first ok message's key and traceparent
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      { components: [{ path: examples.batch, subscriptions: [{ channel: 'in' }] }], workers: 1, cacheDir },
      [memory],
    );
    await engine.start();
    try {
      const trace = '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01';
      const keys = ['k1', 'k2', null, 'k4'];
      for (const [i, key] of keys.entries())
        memory.produce('in', { key, value: text(`m${i}`), headers: i === 0 ? { traceparent: trace } : {} });
      await engine.waitForSettled(keys.length);
      const out = memory.read('out').map((r) => [decode(r.value), r.key, r.headers['traceparent'] ?? null]);
      assert.deepEqual(out, [
        ['m0', 'k1', trace],
        ['m1', 'k2', null],
        ['m2', null, null],
        ['m3', 'k4', null],
      ]);
      assert.ok(
        memory.read('out').every((r) => !('wasmsg-key' in r.headers)),
        'the key is not a header too',
      );
    } finally {
      await engine.stop();
    }
  });
});
