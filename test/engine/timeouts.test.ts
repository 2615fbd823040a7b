import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import type { EngineStats } from '../../src/engine/stats.js';
import { ComponentLinkError } from '../../src/errors.js';
import { at, cacheDir, examples, fixture, settleValues, text } from '../helpers.js';

/**
 * `values` through the spin example (each a round count) on one worker: handler timeout 300 ms,
 * one attempt, ordering none unless `extra` says otherwise. Returns the engine's stats and the
 * dead letters once every value settled.
 */
async function runSpin(
  values: string[],
  extra: Partial<EngineOptionsInput>,
): Promise<{ s: EngineStats; dead: BrokerRecord[] }> {
  const memory = new MemoryBroker({ name: 'default', partitions: 1 });
  const engine = new Engine(
    {
      components: [{ path: examples.spin, subscriptions: [{ channel: 'in' }] }],
      workers: 1,
      cacheDir,
      handlerTimeoutMs: 300,
      ordering: 'none',
      retries: { maxAttempts: 1, backoffMs: 1 },
      ...extra,
    },
    [memory],
  );
  const s = await settleValues(engine, memory, values);
  return { s, dead: memory.read('wasmsg.dead-letter') };
}

/** 8 messages, the one at `hungAt` spinning for seconds. */
const withHungCall = (hungAt: number): string[] =>
  Array.from({ length: 8 }, (_, i) => (i === hungAt ? '2000000000 rounds' : `${i}`));

describe('engine: timeouts', () => {
  test('the handler timeout applies to each call, not to the batch: a slow but correct handler is never cut off', async () => {
    // 12 calls of ≈80 ms in one batch on one worker: ≈1 s a batch, each call far under 600 ms
    // (a timeout per batch, as before, aborted such a batch and dead-lettered healthy messages)
    const { s } = await runSpin(
      Array.from({ length: 12 }, () => '80000000 rounds'),
      {
        handlerTimeoutMs: 600,
        batch: { maxMessages: 12, lingerMs: 0 },
      },
    );
    assert.equal(s.deadLettered, 0, 'no healthy message dead-lettered');
    assert.equal(s.processed, 12);
    assert.equal(s.failed, 0);
  });

  test('a hung call is identified and dead-lettered alone; the messages after it in its batch are run again and succeed', async () => {
    const { s, dead } = await runSpin(withHungCall(3), { batch: { maxMessages: 8, lingerMs: 0 } });
    assert.equal(dead.length, 1);
    assert.match(new TextDecoder().decode(dead[0]!.value), /^2000000000/);
    assert.match(dead[0]!.headers['x-wasmsg-error']!, /^timeout: handler ran longer than 300 ms$/);
    assert.equal(s.processed, 7);
  });

  test('a batch waiting on the worker of a hung call goes back whole when that worker is stopped: only the hung message fails', async () => {
    // two slots for the one worker: the second batch waits in the worker's port behind the first
    // (concurrentTasksPerWorker 2), and dies with the thread the watchdog terminates
    const { s, dead } = await runSpin(withHungCall(1), {
      maxInFlightBatches: 2,
      batch: { maxMessages: 4, lingerMs: 0 },
    });
    assert.deepEqual(
      dead.map((r) => r.headers['x-wasmsg-error']),
      ['timeout: handler ran longer than 300 ms'],
    );
    assert.match(new TextDecoder().decode(dead[0]!.value), /^2000000000/);
    assert.equal(s.processed, 7, 'the queued batch and the rest of the first ran on the replacement worker');
    assert.equal(s.failed, 1, 'no attempt counted for the batch that never started');
  });

  test('a finished batch whose result waits behind a hung one on its worker is not blamed: only the hung message fails', async () => {
    // a fast batch, then a hung one, posted to the one worker together: piscina posts the first
    // one's result after the second began, so it waited as the second hung. Before, its progress
    // word still named its last message, the watchdog took that for a stuck call and the message
    // was dead-lettered beside the hung one (3 of 8 runs here); the race is run 4 times
    for (let run = 0; run < 4; run++) {
      const { dead } = await runSpin([...Array.from({ length: 10 }, (_, i) => `${i}`), '20000000000 rounds'], {
        maxInFlightBatches: 2,
        batch: { maxMessages: 10, lingerMs: 0 },
      });
      assert.deepEqual(
        dead.map((r) => new TextDecoder().decode(r.value)),
        ['20000000000 rounds'],
        `run ${run}`,
      );
    }
  });

  test('a component whose start function loops fails the start after instantiateTimeoutMs, naming it (a ComponentLinkError, as a start that traps)', async () => {
    const engine = new Engine(
      {
        components: [{ path: fixture('start-loop'), subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        cacheDir,
        instantiateTimeoutMs: 500,
      },
      [new MemoryBroker({ name: 'default' })],
    );
    await assert.rejects(engine.start(), (err: unknown) => {
      // before: a plain WasmsgError, so `instanceof ComponentLinkError` (the class of every other
      // E_INSTANTIATE: a start function that traps, a core module that does not compile) missed it
      assert.ok(err instanceof ComponentLinkError, `a ComponentLinkError, got ${String(err)}`);
      assert.equal(err.code, 'E_INSTANTIATE');
      assert.match(err.message, /start-loop\.wasm: not instantiated within 500 ms/);
      return true;
    });
  });

  test('timeouts beyond what a timer can hold are refused, naming the field', () => {
    assert.throws(
      () =>
        new Engine({ components: [{ path: 'x.wasm', subscriptions: [{ channel: 'in' }] }], handlerTimeoutMs: 2 ** 31 }),
      /options\.handlerTimeoutMs: /,
    );
  });
});

describe('engine: memory held is bounded in bytes', () => {
  test('big payloads pause intake at maxInFlightBatches × batch.maxBytes × 2 bytes, not only at a message count', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 1, maxBatch: 4 });
    const engine = new Engine(
      {
        components: [{ path: examples.spin, subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        cacheDir,
        maxInFlightBatches: 2,
        batch: { maxMessages: 256, maxBytes: 64 * 1024, lingerMs: 0 },
      },
      [memory],
    );
    await engine.start();
    let maxBytes = 0;
    engine.on('settled', () => (maxBytes = Math.max(maxBytes, engine.snapshot().bufferedBytes)));
    const N = 120;
    const done = engine.waitForSettled(N);
    const payload = new Uint8Array(32 * 1024).fill(0x2e);
    payload.set(text('200000 rounds'));
    for (let i = 0; i < N; i++) memory.produce('in', { value: payload });
    await done;
    await engine.stop();
    // 2 × 64 KiB × 2 = 256 KiB, plus one broker delivery (4 × 32 KiB) past it; the 120 × 32 KiB
    // = 3.75 MiB input was never held at once (a count limit alone would be 2 × 256 × 2 messages)
    assert.ok(maxBytes <= 256 * 1024 + 4 * 32 * 1024, `held ${maxBytes} bytes`);
    assert.ok(maxBytes > 0);
  });
});

describe('engine: guest memory is capped', () => {
  test('a guest that grows its memory without end gets memory.grow = -1 at maxMemoryBytes, not the host memory', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      {
        components: [{ path: fixture('grow'), subscriptions: [{ channel: 'in' }], maxMemoryBytes: 16 * 1024 * 1024 }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 1 },
      },
      [memory],
    );
    const s = await settleValues(engine, memory, ['more', 'more', 'more']);
    // the fixture traps if it got more than 256 pages (16 MiB) before memory.grow said -1
    assert.equal(s.processed, 3);
    assert.equal(s.deadLettered, 0);
  });
});

describe('engine: what one input may publish is bounded', () => {
  test('a call past maxOutputBytes fails (retried, then dead-lettered) and publishes nothing', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      {
        components: [{ path: examples.echo, subscriptions: [{ channel: 'in' }], maxOutputBytes: 1000 }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 2, backoffMs: 1 },
      },
      [memory],
    );
    await engine.start();
    const done = engine.waitForSettled(2);
    memory.produce('in', { value: new Uint8Array(5000) });
    memory.produce('in', { value: text('small') });
    await done;
    await engine.stop();
    assert.deepEqual(
      memory.read('echo').map((r) => r.value.length),
      [5],
    );
    const dead = memory.read('wasmsg.dead-letter');
    assert.equal(dead.length, 1);
    assert.match(
      dead[0]!.headers['x-wasmsg-error']!,
      /^other: output limit: a call may publish 10000 messages and 1000 bytes/,
    );
  });

  test('world C: a batch whose send goes past maxOutputs fails as a whole, then each message alone fits', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      {
        components: [{ path: at('examples/batch-wat/batch.wasm'), maxOutputs: 4 }],
        workers: 1,
        cacheDir,
        batch: { maxMessages: 10, lingerMs: 0 },
      },
      [memory],
    );
    const s = await settleValues(
      engine,
      memory,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    assert.equal(s.deadLettered, 0);
    assert.equal(memory.read('out').length, 10);
  });
});

describe('options that cannot work are refused, naming the field', () => {
  test('a batch arena beyond 2 GiB (huge maxInFlightBatches × batch.maxBytes) is an OptionError, not an allocation failure at start', () => {
    const base = { components: [{ path: 'x.wasm', subscriptions: [{ channel: 'in' }] }] };
    assert.throws(
      () => new Engine({ ...base, maxInFlightBatches: 4000, batch: { maxBytes: 100 * 1024 * 1024 } }),
      /options\.maxInFlightBatches × \(batch\.maxBytes × 2 \+ 32 B × batch\.maxMessages \+ 64 KiB\) is \d+ bytes/,
    );
    assert.throws(() => new Engine({ ...base, maxInFlightBatches: 1e9 }), /options\.maxInFlightBatches: /);
    assert.throws(() => new Engine({ ...base, batch: { maxBytes: 2 ** 40 } }), /options\.batch\.maxBytes: /);
  });
});
