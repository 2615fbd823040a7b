import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutRecord } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import { cacheDir, decode, examples, settleValues, text } from '../helpers.js';

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

  test('a publish that fails twice and then succeeds: the input is acked once, its output published once', async () => {
    const memory = new RefusingPublishMemoryBroker({ name: 'default', partitions: 1 });
    memory.refusals.set('echo', 2);
    const engine = echoEngine(memory, { workers: 1, retries: { maxAttempts: 3, backoffMs: 1 } });
    const s = await settleValues(engine, memory, ['only']);
    assert.equal(s.deadLettered, 0);
    assert.equal(s.acked, 1);
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
