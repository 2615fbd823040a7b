import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { generate, syntheticPayload } from '../../src/brokers/synthetic.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import type { ProcessInput } from '../../src/engine/process.js';
import { ErrorCode, OptionError, WasmsgError } from '../../src/errors.js';
import { cacheDir, decode, examples, fixture, text, within } from '../helpers.js';

type Settled = { record: BrokerRecord; outcome: string };

function engineFor(
  file: string,
  extra: Partial<EngineOptionsInput> = {},
  partitions = 4,
): { engine: Engine; memory: MemoryBroker } {
  const memory = new MemoryBroker({ name: 'default', partitions });
  const engine = new Engine(
    { components: [{ path: file, subscriptions: [{ channel: 'in' }] }], workers: 2, cacheDir, ...extra },
    [memory],
  );
  return { engine, memory };
}

/** A process() source of `count` inputs (`0`, `1`, …) that says when it was closed (its finally ran) and how many were pulled. */
function closingSource(count = Infinity): {
  inputs: () => AsyncGenerator<{ value: Uint8Array }>;
  closed: Promise<void>;
  pulled: number;
} {
  let closed!: () => void;
  const source = {
    closed: new Promise<void>((r) => (closed = r)),
    pulled: 0,
    async *inputs(): AsyncGenerator<{ value: Uint8Array }> {
      try {
        for (let i = 0; i < count; i++) {
          source.pulled++;
          yield { value: text(`${i}`) };
        }
      } finally {
        closed();
      }
    },
  };
  return source;
}

/** Resolves with every settled event once `n` messages have settled. */
function settledUntil(engine: Engine, n: number): Promise<Settled[]> {
  const seen: Settled[] = [];
  return new Promise((resolve) =>
    engine.on('settled', (e) => {
      seen.push(e);
      if (seen.length === n) resolve(seen);
    }),
  );
}

const digest = (chunks: Iterable<Uint8Array>): string => {
  const sorted = [...chunks].map((c) => Buffer.from(c).toString('hex')).sort();
  return createHash('sha256').update(sorted.join(',')).digest('hex');
};

describe('engine: delivery', () => {
  test('a normal run loses nothing and duplicates nothing (count and checksum of all payloads)', async () => {
    const N = 20_000;
    const { engine, memory } = engineFor(examples.echo, { ordering: 'none' });
    await engine.start();
    const done = settledUntil(engine, N);
    await generate(memory, 'in', { count: N, size: 64, keys: 50 });
    const settled = await done;
    await engine.stop();
    const out = memory.read('echo');
    assert.equal(out.length, N, 'one output per input');
    const expected = Array.from({ length: N }, (_, i) => syntheticPayload(i, 64));
    assert.equal(digest(out.map((r) => r.value)), digest(expected));
    assert.equal(
      new Set(settled.map((s) => `${s.record.partition}/${s.record.offset}`)).size,
      N,
      'each input settled once',
    );
    const s = engine.snapshot();
    assert.deepEqual([s.received, s.processed, s.acked, s.published, s.failed], [N, N, N, N, 0]);
    const committed = memory.committed('in', 'wasmsg');
    assert.equal(committed.length, 4);
    assert.equal(
      committed.reduce((x, y) => x + y, 0),
      N,
      'every partition committed to its end',
    );
  });

  test('payloads of every size cross intact: in the msgpack, out of band at any source offset, and too big for the slot', async () => {
    // batch.maxBytes 64 KiB (maxMessages 1024) makes slots of 224 KiB: 2 KiB–150 KiB payloads go
    // out of band (at the source's offset mod 8), 180 KB stays inside the msgpack (no room left
    // for it beside the msgpack's 64 KiB), and 300 KB does not fit the slot at all (the request
    // goes inline)
    const sizes = [0, 1, 100, 2047, 2048, 2049, 5000, 65_536, 100_000, 150_000, 180_000, 300_000];
    const { engine, memory } = engineFor(examples.echo, { ordering: 'none', batch: { maxBytes: 65_536 } });
    await engine.start();
    const sent: Uint8Array[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, size] of sizes.entries()) {
        const at = (i + round) % 8; // every source offset mod 8
        const backing = new Uint8Array(size + 8);
        for (let b = 0; b < backing.length; b++) backing[b] = (b * 31 + i * 7 + round) & 0xff;
        sent.push(backing.subarray(at, at + size));
      }
    }
    const done = settledUntil(engine, sent.length);
    for (const value of sent) memory.produce('in', { key: null, value });
    await done;
    await engine.stop();
    const out = memory.read('echo');
    assert.equal(out.length, sent.length);
    assert.equal(digest(out.map((r) => r.value)), digest(sent), 'every payload came back byte for byte');
  });

  test('generate reuses big payload buffers only once their records are dropped: every payload arrives intact', async () => {
    const N = 3000;
    const size = 20_000; // over the 16 KiB from which the generator recycles
    // 1 MiB of retention a partition: the generator must wait for the engine, and reuse
    const memory = new MemoryBroker({ name: 'default', partitions: 4, retentionBytes: 1 << 20 });
    const engine = new Engine(
      {
        components: [{ path: examples.echo, subscriptions: [{ channel: 'in' }] }],
        workers: 2,
        cacheDir,
        ordering: 'none',
      },
      [memory],
    );
    const outputs: Uint8Array[] = [];
    let allOut!: () => void;
    const gotAll = new Promise<void>((r) => (allOut = r));
    const reader = await memory.subscribe({ channel: 'echo', kind: 'topic' }, (records) => {
      for (const r of records) {
        outputs.push(r.value);
        reader.settle(r, 'ack');
      }
      if (outputs.length >= N) allOut();
    });
    await engine.start();
    const done = settledUntil(engine, N);
    const reused = new Set<Uint8Array>();
    let drops = 0;
    const listen = memory.onRecordDropped.bind(memory);
    memory.onRecordDropped = (f) =>
      listen(
        f &&
          ((r) => {
            if (r.channel === 'in') {
              drops++;
              reused.add(r.value);
            }
            f(r);
          }),
      );
    const generating = generate(memory, 'in', { count: N, size });
    await generating;
    await done;
    await gotAll;
    await engine.stop();
    assert.equal(outputs.length, N);
    const expected = Array.from({ length: N }, (_, i) => syntheticPayload(i, size));
    assert.equal(digest(outputs), digest(expected), 'no payload was overwritten before its time');
    assert.ok(drops > 0 && reused.size < N, `buffers were recycled (${reused.size} buffers for ${drops} drops)`);
  });

  for (const ordering of ['partition', 'key'] as const) {
    test(`ordering '${ordering}' holds across 2 workers with random handler delays`, async () => {
      const N = 3000;
      const { engine, memory } = engineFor(examples.spin, { ordering, batch: { maxMessages: 16, lingerMs: 0 } });
      await engine.start();
      const done = settledUntil(engine, N);
      // spin-wat spins for the leading number of rounds: 0–20 000 rounds ≈ 0–30 µs, at random
      for (let i = 0; i < N; i++)
        memory.produce('in', { key: `k${i % 37}`, value: text(`${Math.floor(Math.random() * 20_000)} seq=${i}`) });
      const settled = await done;
      await engine.stop();
      const last = new Map<string, number>();
      for (const { record } of settled) {
        const lane = ordering === 'partition' ? `${record.partition}` : `${record.key}`;
        const seq = Number(/seq=(\d+)/.exec(decode(record.value))![1]);
        assert.ok(seq > (last.get(lane) ?? -1), `${lane}: ${seq} settled after ${last.get(lane)}`);
        last.set(lane, seq);
      }
      assert.equal(last.size, ordering === 'partition' ? 4 : 37);
    });
  }
});

describe('engine: batching', () => {
  test(
    'a burst over 4 partitions meets 2 idle workers: 2 batches of 2 lanes, sent at once however long the linger',
    {
      timeout: 60_000,
    },
    async () => {
      // 40 records, 10 in each partition, there before the engine subscribes: one delivery
      const { engine, memory } = engineFor(examples.noop, { ordering: 'partition', batch: { lingerMs: 600_000 } });
      for (let i = 0; i < 40; i++) memory.produce('in', { value: text(`m${i}`) });
      const done = settledUntil(engine, 40);
      await engine.start();
      const settled = await done; // a linger applied while a worker sat idle would hold these 10 minutes
      const { batches } = engine.snapshot();
      await engine.stop();
      assert.deepEqual(new Set(settled.map((e) => e.record.partition)), new Set([0, 1, 2, 3]));
      // one batch per idle worker, not one per free slot (4): each burst costs half the tasks
      assert.equal(batches, 2);
    },
  );
});

describe('engine: batch sizes', () => {
  test('batches of many small messages fit their slot: 8192 messages a batch with batch.maxBytes 64 KiB', async () => {
    // the request's columns take 32 bytes a message at fixed places in the slot; sized from
    // maxBytes alone (192 KiB), a batch of 8192 threw a RangeError in intake and its messages
    // were never settled
    const memory = new MemoryBroker({ name: 'default', partitions: 1, maxBatch: 8192 });
    const engine = new Engine(
      {
        components: [{ path: examples.noop, subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        maxInFlightBatches: 1,
        ordering: 'partition',
        batch: { maxMessages: 8192, maxBytes: 65_536, targetMs: 0 },
        cacheDir,
      },
      [memory],
    );
    await engine.start();
    const sizes: number[] = [];
    engine.on('settledBatch', ({ records }) => sizes.push(records.length));
    const done = engine.waitForSettled(8192);
    for (let i = 0; i < 8192; i++) memory.produce('in', { value: text('x') });
    await done;
    await engine.stop();
    assert.equal(engine.snapshot().acked, 8192);
    assert.equal(Math.max(...sizes), 8192, `batch sizes ${sizes.join(', ')}`);
  });

  test(
    "a slow handler's batches are cut to about batch.targetMs of a worker's time (ordering none; ordered lanes keep 256); targetMs 0 fills them",
    { timeout: 120_000 },
    async () => {
      const N = 300;
      const run = async (
        targetMs: number,
        ordering: 'none' | 'partition' = 'none',
      ): Promise<{ sizes: number[]; handlerUs: number; highWater: number; peak: number }> => {
        const { engine, memory } = engineFor(
          examples.spin,
          { workers: 1, ordering, batch: { maxMessages: 128, lingerMs: 0, targetMs } },
          1,
        );
        // spin-wat spins for the leading number of rounds: 1 000 000 ≈ 1.5 ms here; all there before the start
        for (let i = 0; i < N; i++) memory.produce('in', { value: text(`1000000 m${i}`) });
        const sizes: number[] = [];
        let settled = 0;
        const done = new Promise<void>((resolve) =>
          engine.on('settledBatch', ({ records }) => {
            sizes.push(records.length);
            if ((settled += records.length) === N) resolve();
          }),
        );
        await engine.start();
        await done;
        const handlerUs = engine.histograms().handlerNs.getValueAtPercentile(50) / 1000;
        const highWater = engine.highWater;
        const peak = engine.peakHighWater;
        await engine.stop();
        return { sizes, handlerUs, highWater, peak };
      };
      const full = await run(0);
      assert.equal(Math.max(...full.sizes), 128, `batches: ${full.sizes.join(' ')}`);
      assert.equal(full.highWater, 2 * 2 * 128, 'held before intake pauses: 2 slots × 2 × 128');
      const cut = await run(20);
      // the 2 batches sent before any returned: at most 32 each (the handler's cost unknown);
      // then ≈ 20 ms ÷ the handler's time a message (≈ 13 here), within a factor 4 either way
      const expected = 20_000 / cut.handlerUs;
      const [low, high] = [Math.floor(expected / 4), Math.floor(expected * 4) + 1];
      assert.ok(high < 128 && low >= 1, `the handler took ${cut.handlerUs} µs: outside what this test can tell`);
      assert.ok(Math.max(...cut.sizes.slice(0, 2)) <= 32, `first batches: ${cut.sizes.slice(0, 2).join(' ')}`);
      const later = cut.sizes.slice(2, -1); // the last batch takes what is left
      assert.ok(
        later.length > 0 && Math.max(...later) <= high && Math.max(...later) >= low,
        `later batches within ${low}–${high} (handler ${cut.handlerUs} µs): ${later.join(' ')}`,
      );
      // and the engine holds a slow handler's backlog in time: 2 slots × 2 × its cut batch (32 at least)
      assert.ok(cut.highWater <= 4 * Math.max(32, high), `held before intake pauses: ${cut.highWater}`);
      // what a generator's lead follows stays the mark with full batches (`wasmsg run --generate`)
      assert.equal(cut.peak, 2 * 2 * 128);
      // an ordered lane waits a round trip between its batches: not cut below 256 (here maxMessages)
      const ordered = await run(20, 'partition');
      assert.equal(Math.max(...ordered.sizes.slice(1)), 128, `ordered batches: ${ordered.sizes.join(' ')}`);
    },
  );
});

describe('engine: batch sizes and linger', () => {
  test('linger fills a batch to its cut size, not to maxMessages: the next batch waits in the worker’s port', async () => {
    // 1 worker, 2 slots: the second batch should be sent while the first runs. A linger that
    // waited for maxMessages (1024) would hold it until the first returned (600 s at most).
    const N = 300;
    const { engine, memory } = engineFor(
      examples.spin,
      { workers: 1, ordering: 'none', batch: { maxMessages: 1024, lingerMs: 600_000, targetMs: 20 } },
      1,
    );
    for (let i = 0; i < N; i++) memory.produce('in', { value: text(`1000000 m${i}`) });
    const behind: number[] = []; // batches in flight as each batch settles (the one settling excluded)
    engine.on('settledBatch', () => behind.push(engine.snapshot().inFlightBatches));
    await engine.start();
    await engine.waitForSettled(N);
    await engine.stop();
    const middle = behind.slice(1, -2); // the last ones have nothing left to send behind them
    assert.ok(middle.length >= 5, `batches: ${behind.length}`);
    // (most, not all: a main thread stalled for a whole batch could settle two before sending one)
    assert.ok(
      middle.filter((n) => n === 1).length >= 0.8 * middle.length,
      `a batch was waiting behind each one that settled: ${behind.join(' ')}`,
    );
  });
});

describe('engine: failures', () => {
  test('err → retried up to maxAttempts → dead-lettered with error, attempts and source → acked', async () => {
    const { engine, memory } = engineFor(fixture('err'), { retries: { maxAttempts: 3, backoffMs: 1 } }, 2);
    await engine.start();
    const done = settledUntil(engine, 20);
    for (let i = 0; i < 20; i++) memory.produce('in', { value: text(`m${i}`), headers: { origin: 'test' } });
    const settled = await done;
    await engine.stop();
    assert.ok(settled.every((s) => s.outcome === 'dead-lettered'));
    const dlq = memory.read('wasmsg.dead-letter');
    assert.equal(dlq.length, 20);
    const h = dlq[0]!.headers;
    assert.equal(h['x-wasmsg-error'], 'other: rejected by fixture');
    assert.equal(h['x-wasmsg-attempts'], '3');
    assert.match(h['x-wasmsg-source']!, /^default\/in\/\d\/\d+$/);
    assert.equal(h['origin'], 'test', 'original headers kept');
    assert.deepEqual(new Set(dlq.map((r) => decode(r.value))), new Set(Array.from({ length: 20 }, (_, i) => `m${i}`)));
    const s = engine.snapshot();
    assert.deepEqual([s.failed, s.retried, s.deadLettered, s.acked], [60, 40, 20, 20]);
  });

  for (const ordering of ['key', 'none'] as const) {
    test(`a poison message (traps every time) is rebuilt, retried, dead-lettered; in '${ordering}' mode the rest of its partition proceeds`, async () => {
      const { engine, memory } = engineFor(
        fixture('poison'),
        { ordering, retries: { maxAttempts: 3, backoffMs: 200 }, batch: { maxMessages: 8, lingerMs: 0 } },
        1,
      );
      await engine.start();
      const N = 200;
      const done = settledUntil(engine, N);
      for (let i = 0; i < N; i++)
        memory.produce('in', { key: i === 0 ? 'bad' : `k${i % 5}`, value: text(i === 0 ? 'X poison' : `ok ${i}`) });
      const settled = await done;
      await engine.stop();
      const poison = settled.findIndex((s) => decode(s.record.value) === 'X poison');
      assert.equal(settled[poison]!.outcome, 'dead-lettered');
      assert.equal(
        poison,
        N - 1,
        'every other message of the partition settled while the poison waited out its backoffs',
      );
      assert.match(memory.read('wasmsg.dead-letter')[0]!.headers['x-wasmsg-error']!, /^trap: .*unreachable/);
    });
  }

  test("in 'partition' mode a failing message holds back its partition (order is kept)", async () => {
    const { engine, memory } = engineFor(
      fixture('poison'),
      { ordering: 'partition', retries: { maxAttempts: 2, backoffMs: 1 } },
      1,
    );
    await engine.start();
    const done = settledUntil(engine, 3);
    for (const v of ['ok 1', 'X poison', 'ok 2']) memory.produce('in', { value: text(v) });
    const settled = await done;
    await engine.stop();
    assert.deepEqual(
      settled.map((s) => [decode(s.record.value), s.outcome]),
      [
        ['ok 1', 'ok'],
        ['X poison', 'dead-lettered'],
        ['ok 2', 'ok'],
      ],
    );
  });

  test("'settledBatch' reports the messages of 'settled', in their order, one event per batch acknowledged", async () => {
    const { engine, memory } = engineFor(
      fixture('poison'),
      { ordering: 'partition', retries: { maxAttempts: 2, backoffMs: 1 }, batch: { maxMessages: 64, lingerMs: 0 } },
      1,
    );
    const batches: Array<{ records: readonly BrokerRecord[]; outcome: string }> = [];
    engine.on('settledBatch', (e) => batches.push(e));
    await engine.start();
    const N = 300;
    const done = settledUntil(engine, N);
    for (let i = 0; i < N; i++) memory.produce('in', { value: text(i === 150 ? 'X poison' : `ok ${i}`) });
    const settled = await done;
    await engine.stop();
    const flat = batches.flatMap((b) => b.records.map((record) => ({ record, outcome: b.outcome })));
    assert.deepEqual(
      flat.map((s) => [s.record.offset, s.outcome]),
      settled.map((s) => [s.record.offset, s.outcome]),
    );
    assert.ok(batches.length < N / 4, `${batches.length} events for ${N} messages: one per batch, not per message`);
    const dead = batches.filter((b) => b.outcome === 'dead-lettered');
    assert.deepEqual(
      dead.map((b) => b.records.map((r) => decode(r.value))),
      [['X poison']],
      'a dead-lettered message is an event of its own',
    );
  });

  test("a batch holding two subscriptions' messages acknowledges each run to its own consumer", async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const engine = new Engine(
      {
        components: [{ path: examples.noop, subscriptions: [{ channel: 'a' }, { channel: 'b' }] }],
        workers: 2,
        cacheDir,
        ordering: 'none',
        // targetMs 0: batches (and the high-water mark) full from the start, so both channels'
        // deliveries are held at once and batches mix them (with the cut, the mark starts at
        // 4 slots × 2 × 32 and the first channel's 300 messages alone could fill it)
        batch: { maxMessages: 64, lingerMs: 0, targetMs: 0 },
      },
      [memory],
    );
    let mixed = 0;
    engine.on('settledBatch', ({ records }) => {
      if (new Set(records.map((r) => r.channel)).size === 2) mixed++;
    });
    await engine.start();
    const N = 600;
    for (let i = 0; i < N; i++) memory.produce(i % 2 === 0 ? 'a' : 'b', { value: text(`m ${i}`) });
    await engine.waitForSettled(N);
    await engine.stop();
    assert.ok(mixed > 0, 'some batch held messages of both subscriptions (the case under test)');
    for (const channel of ['a', 'b']) {
      assert.equal(
        memory.committed(channel, 'wasmsg').reduce((x, y) => x + y, 0),
        N / 2,
        `channel ${channel} committed to its end`,
      );
    }
  });

  test('a publish outside the grants is permission-denied → dead-lettered, nothing published', async () => {
    const memory = new MemoryBroker({ name: 'default' });
    const engine = new Engine(
      {
        components: [{ path: examples.enrich, subscriptions: [{ channel: 'in' }], grants: { publish: ['audit.*'] } }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 1 },
      },
      [memory],
    );
    await engine.start();
    const done = settledUntil(engine, 1);
    memory.produce('in', { value: text('{"amount":5}') });
    await done;
    await engine.stop();
    assert.equal(memory.read('orders.enriched').length, 0);
    assert.match(
      memory.read('wasmsg.dead-letter')[0]!.headers['x-wasmsg-error']!,
      /^permission-denied: not granted publish to 'orders\.enriched'/,
    );
  });
});

describe('engine: stats', () => {
  test('the handler histogram counts each call, not the messages skipped behind a failed one', async () => {
    // one partition in order: each batch's first message fails, the rest of it is skipped and
    // sent again; every message is called maxAttempts times, always failing
    const { engine, memory } = engineFor(
      fixture('err'),
      { ordering: 'partition', retries: { maxAttempts: 2, backoffMs: 0, maxBackoffMs: 0 } },
      1,
    );
    await engine.start();
    const done = settledUntil(engine, 20);
    for (let i = 0; i < 20; i++) memory.produce('in', { value: text(`m${i}`) });
    await done;
    const calls = engine.histograms().handlerNs.totalCount;
    const failed = engine.snapshot().failed;
    await engine.stop();
    assert.equal(failed, 40);
    assert.equal(calls, failed, 'one handler-time record per call');
  });
});

describe('engine: backpressure and stop', () => {
  test('stop() during start() waits for it, then stops: nothing runs after stop() resolved', async () => {
    const { engine, memory } = engineFor(examples.noop, { workers: 1 }, 1);
    const order: string[] = [];
    const starting = engine.start().then(() => order.push('started'));
    await engine.stop();
    order.push('stopped');
    await starting;
    assert.deepEqual(order, ['started', 'stopped']);
    assert.equal(engine.ready(), false, 'the engine runs after stop() resolved');
    memory.produce('in', { value: syntheticPayload(0, 32) });
    await assert.rejects(engine.waitForSettled(1), /stopped with 0 settled/);
    assert.equal(engine.snapshot().received, 0);
  });

  test('a lane whose next message would pass batch.maxBytes stays ready: every partition is handled', async () => {
    // one slot of at most 1000 bytes: a batch takes one 600-byte message, and the other
    // partition's lane, which gave it nothing, must not be left marked busy
    const { engine, memory } = engineFor(
      examples.noop,
      { workers: 1, maxInFlightBatches: 1, ordering: 'partition', batch: { maxBytes: 1000, lingerMs: 0 } },
      2,
    );
    await engine.start();
    for (let i = 0; i < 40; i++) memory.produce('in', { value: syntheticPayload(i, 600) });
    await within(engine.waitForSettled(40), 20_000, 'the 40 messages of 2 partitions settled');
    await engine.stop();
  });

  test('stop() before start(): the start after it is refused, and nothing runs', async () => {
    const { engine, memory } = engineFor(examples.noop, { workers: 1 }, 1);
    const stopped = engine.stop();
    await assert.rejects(engine.start(), (e: unknown) => e instanceof WasmsgError && e.code === ErrorCode.engineState);
    await stopped;
    memory.produce('in', { value: syntheticPayload(0, 32) });
    await assert.rejects(engine.waitForSettled(1), /stopped with 0 settled/);
    assert.equal(engine.ready(), false);
  });

  test('a start that fails (a file that is no component) ends waitForSettled() too; stop() after it resolves', async () => {
    const { engine } = engineFor(fileURLToPath(import.meta.url), { workers: 1 }, 1);
    const ended = within(
      assert.rejects(
        engine.waitForSettled(1),
        (e: unknown) => e instanceof WasmsgError && e.code === ErrorCode.engineState,
      ),
      20_000,
      'waitForSettled(1) ended by the failed start',
    );
    await assert.rejects(engine.start(), (e: unknown) => e instanceof WasmsgError && e.code === ErrorCode.notWasm);
    await ended;
    await engine.stop();
    assert.equal(engine.ready(), false);
  });

  test('a second stop() resolves only once the first has stopped everything', async () => {
    const { engine, memory } = engineFor(examples.noop, { workers: 1 }, 1);
    await engine.start();
    for (let i = 0; i < 100; i++) memory.produce('in', { value: syntheticPayload(i, 32) });
    let firstDone = false;
    const first = engine.stop().then(() => (firstDone = true));
    await engine.stop();
    assert.equal(firstDone, true, 'the second stop() resolved while the first was still stopping');
    assert.equal(engine.ready(), false);
    await first;
  });

  test('waitForSettled(n) for more than will settle rejects when the engine stops, and at once after', async () => {
    const { engine, memory } = engineFor(examples.noop, { workers: 1 }, 1);
    await engine.start();
    for (let i = 0; i < 5; i++) memory.produce('in', { value: syntheticPayload(i, 32) });
    await engine.waitForSettled(5);
    const stopped = (e: unknown): boolean => {
      assert.ok(e instanceof WasmsgError, String(e));
      assert.equal(e.code, ErrorCode.engineState);
      assert.equal(e.context['settled'], 5, e.message);
      return true;
    };
    const more = assert.rejects(within(engine.waitForSettled(10), 20_000, 'waitForSettled(10) ended'), stopped);
    await engine.stop();
    await more;
    await assert.rejects(engine.waitForSettled(6), stopped);
    await engine.waitForSettled(5); // what did settle still resolves
  });

  test('waitForSettled() of no count (NaN, Infinity, a string, -1) is refused, and holds back no other waiter', async () => {
    const { engine, memory } = engineFor(examples.noop, { workers: 1 }, 1);
    await engine.start();
    try {
      // before: waitForSettled(NaN) waited until stop, and at the head of the waiters it held back
      // every later one (the 3 below never resolved)
      for (const n of [NaN, Infinity, '3' as unknown as number, -1]) {
        await assert.rejects(
          engine.waitForSettled(n),
          (e: unknown) =>
            e instanceof OptionError && e.code === ErrorCode.badOption && /waitForSettled/.test(e.message),
        );
      }
      const three = engine.waitForSettled(3);
      for (let i = 0; i < 3; i++) memory.produce('in', { value: syntheticPayload(i, 32) });
      await within(three, 20_000, 'waitForSettled(3) after a refused NaN');
    } finally {
      await engine.stop();
    }
  });

  test('with a slow handler, in-flight batches and buffered messages stay within their bounds', async () => {
    const { engine, memory } = engineFor(
      examples.fizzbuzz,
      { workers: 1, maxInFlightBatches: 2, batch: { maxMessages: 8, lingerMs: 0 } },
      1,
    );
    await engine.start();
    const N = 400;
    let maxBuffered = 0;
    let maxInFlight = 0;
    engine.on('settled', () => {
      const s = engine.snapshot();
      maxBuffered = Math.max(maxBuffered, s.buffered);
      maxInFlight = Math.max(maxInFlight, s.inFlightBatches);
    });
    const done = settledUntil(engine, N);
    for (let i = 0; i < N; i++) memory.produce('in', { value: syntheticPayload(i, 32) });
    await done;
    await engine.stop();
    assert.ok(maxInFlight <= 2, `in flight ${maxInFlight}`);
    // high water = 2 batches × 8 × 2 = 32, plus at most one broker delivery (512) past it
    assert.ok(maxBuffered <= 32 + 512, `buffered ${maxBuffered}`);
    assert.ok(maxBuffered < N, 'intake paused: the engine never held the whole input');
  });

  test("a slow component's big payloads past the engine's byte mark do not pause a fast component that holds nothing", async () => {
    // 400 payloads of 64 KiB (25 MiB) for the slow one, past the engine's 8 MiB mark. Before,
    // every consumer was paused until the engine held 4 MiB: the fast component's 200 messages
    // waited for all but ≈ 64 of the slow backlog
    const memory = new MemoryBroker({ name: 'default', partitions: 4 });
    const engine = new Engine(
      {
        components: [
          { path: examples.noop, name: 'fast', subscriptions: [{ channel: 'fast' }] },
          { path: examples.spin, name: 'slow', subscriptions: [{ channel: 'slow' }] },
        ],
        workers: 2,
        ordering: 'none',
        cacheDir,
      },
      [memory],
    );
    await engine.start();
    try {
      const pad = new Uint8Array(64 * 1024).fill(32);
      pad.set(text('5000000'));
      for (let i = 0; i < 400; i++) memory.produce('slow', { value: pad });
      const settled = (channel: string): number => engine.channelStats().find((c) => c.channel === channel)!.acked;
      let slowLeftWhenFastDone = -1;
      const fastDone = new Promise<void>((resolve) => {
        let fed = false;
        engine.on('settledBatch', () => {
          if (!fed && settled('slow') > 0) {
            fed = true; // the engine is past its byte mark by now
            assert.ok(engine.snapshot().bufferedBytes > 8 << 20);
            for (let i = 0; i < 200; i++) memory.produce('fast', { value: text(`f${i}`) });
          }
          if (slowLeftWhenFastDone === -1 && settled('fast') === 200) {
            slowLeftWhenFastDone = 400 - settled('slow');
            resolve();
          }
        });
      });
      await within(fastDone, 60_000, 'the fast messages settled');
      assert.ok(
        slowLeftWhenFastDone >= 200,
        `the slow backlog left when the fast one was done: ${slowLeftWhenFastDone}`,
      );
      await engine.waitForSettled(600);
    } finally {
      await engine.stop();
    }
  });

  test("a slow component beside a fast one: intake holds the slow one's backlog at its own mark, the fast one's consumers keep going", async () => {
    // noop on 'fast', spin-wat on 'slow' (2 000 000 rounds ≈ 3 ms a message here): the slow
    // component's batches are cut to ≈ 10 ms (batch.targetMs), the fast one's take 1024, so the
    // engine's mark is 4 slots × 2 × 1024 = 8192; the slow one's own mark is 4 × 2 × its cut
    // batch (≈ 3), a batch counting as at least 32 in a mark: 256
    const memory = new MemoryBroker({ name: 'default', partitions: 1, maxBatch: 16 });
    const engine = new Engine(
      {
        components: [
          { path: examples.noop, subscriptions: [{ channel: 'fast' }] },
          { path: examples.spin, subscriptions: [{ channel: 'slow' }] },
        ],
        workers: 2,
        ordering: 'none',
        cacheDir,
      },
      [memory],
    );
    const SLOW = 400;
    const FAST = 20_000;
    for (let i = 0; i < 2000; i++) memory.produce('fast', { value: syntheticPayload(i, 32) }); // the fast one's cost learned first
    for (let i = 0; i < SLOW; i++) memory.produce('slow', { value: text(`2000000 s${i}`) });
    const stats = (channel: string): { held: number; settled: number } => {
      const s = engine.channelStats().find((c) => c.channel === channel)!;
      return { held: s.received - s.acked - s.deadLettered, settled: s.acked + s.deadLettered };
    };
    let mostHeld = 0;
    let sawPaused = false;
    let slowLeftWhenFastDone = -1;
    let fed = false;
    engine.on('settledBatch', () => {
      mostHeld = Math.max(mostHeld, stats('slow').held);
      sawPaused ||= engine.isPaused();
      // once slow batches return (its intake paused by now), more for the fast one: they still flow
      if (!fed && stats('slow').settled > 0) {
        fed = true;
        for (let i = 0; i < FAST; i++) memory.produce('fast', { value: syntheticPayload(i, 32) });
      }
      if (slowLeftWhenFastDone === -1 && stats('fast').settled === 2000 + FAST) {
        slowLeftWhenFastDone = SLOW - stats('slow').settled;
      }
    });
    await engine.start();
    await engine.waitForSettled(2000 + FAST + SLOW);
    const mark = engine.highWater;
    await engine.stop();
    assert.ok(mark >= 8192, `the engine's mark follows the fast component: ${mark}`);
    // its own mark, plus at most one broker delivery (16) past it
    assert.ok(mostHeld <= 256 + 16, `the slow component held ${mostHeld} of its ${SLOW} messages at once`);
    assert.ok(sawPaused, 'isPaused() while the slow component was at its mark');
    assert.ok(slowLeftWhenFastDone > 0, `the fast component finished with ${slowLeftWhenFastDone} slow messages left`);
  });

  test('a graceful stop mid-stream loses nothing: a second engine in the group gets the rest', async () => {
    const N = 5000;
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const options: EngineOptionsInput = {
      components: [{ path: examples.echo, subscriptions: [{ channel: 'in', kind: 'queue', group: 'g' }] }],
      workers: 2,
      cacheDir,
    };
    for (let i = 0; i < N; i++) memory.produce('in', { value: syntheticPayload(i, 16) });
    const first = new Engine(options, [memory]);
    const seen = new Set<string>();
    first.on('settled', (e) => seen.add(`${e.record.partition}/${e.record.offset}`));
    await first.start();
    await settledUntil(first, 1000);
    await first.stop();
    const firstCount = seen.size;
    assert.ok(firstCount >= 1000 && firstCount < N, `first engine settled ${firstCount}`);
    const second = new Engine(options, [memory]);
    const rest = new Set<string>();
    second.on('settled', (e) => rest.add(`${e.record.partition}/${e.record.offset}`));
    const all = new Promise<void>((resolve) =>
      second.on('settled', () => seen.size + rest.size >= N && new Set([...seen, ...rest]).size === N && resolve()),
    );
    await second.start();
    await all;
    await second.stop();
    assert.equal(new Set([...seen, ...rest]).size, N, 'every input settled by one of the two');
    assert.equal(memory.read('echo').length >= N, true, 'every input has its output');
  });
});

describe('engine: options', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no components', { components: [] }, /^options\.components: /],
    [
      'workers 0',
      { components: [{ path: 'x', subscriptions: [{ channel: 'c' }] }], workers: 0 },
      /^options\.workers: /,
    ],
    [
      'bad kind',
      { components: [{ path: 'x', subscriptions: [{ channel: 'c', kind: 'fanout' }] }] },
      /^options\.components\[0\]\.subscriptions\[0\]\.kind: .*"queue"\|"topic"/,
    ],
    [
      'bad ordering',
      { components: [{ path: 'x', subscriptions: [{ channel: 'c' }] }], ordering: 'total' },
      /^options\.ordering: /,
    ],
    [
      'unknown field',
      { components: [{ path: 'x', subscriptions: [{ channel: 'c' }] }], wrokers: 2 },
      /Unrecognized key: "wrokers"/,
    ],
    [
      'unknown broker',
      { components: [{ path: 'x', subscriptions: [{ channel: 'c', broker: 'kafka' }] }] },
      /subscriptions\[0\]\.broker: no broker named 'kafka'/,
    ],
  ];
  for (const [name, options, message] of cases) {
    test(name, () => {
      assert.throws(
        () => new Engine(options as EngineOptionsInput),
        (e: unknown) => e instanceof OptionError && e.code === ErrorCode.badOption && message.test(e.message),
      );
    });
  }
});

describe('engine: as a pipeline stage (process)', () => {
  test('yields one result per input, in input order, with the outputs; failures as failed', async () => {
    const engine = new Engine({
      components: [{ path: examples.enrich, subscriptions: [{ channel: 'unused' }] }],
      workers: 2,
      cacheDir,
      ordering: 'none',
      retries: { maxAttempts: 2, backoffMs: 1 },
    });
    await engine.start();
    async function* inputs(): AsyncGenerator<{ value: Uint8Array }> {
      for (let i = 0; i < 500; i++) yield { value: text(i % 100 === 7 ? '{"no":1}' : `{"amount":${i}}`) };
    }
    let i = 0;
    for await (const r of engine.process(inputs())) {
      const expectOk = i % 100 !== 7;
      assert.equal(r.status, expectOk ? 'ok' : 'failed', `input ${i}`);
      if (r.status === 'ok') {
        assert.deepEqual(JSON.parse(decode(r.outputs[0]!.data)), { amount: i, tier: i >= 1000 ? 'large' : 'small' });
      } else {
        assert.equal(r.error, "other: event data has no numeric field 'amount'");
        assert.equal(r.attempts, 2);
      }
      i++;
    }
    assert.equal(i, 500);
    await engine.stop();
  });

  test('an input that is not what the types say ends the stream with E_BAD_INPUT after the results before it; the engine goes on', async () => {
    // before: an input without value threw inside the dispatcher, outside the stream, and ended the process
    const { engine } = engineFor(examples.noop, { workers: 1 }, 1); // (its broker unused: process() feeds it)
    await engine.start();
    try {
      const bad = [
        {},
        { value: 'abc' },
        { value: text('h'), headers: { n: 1 } },
        { value: text('p'), partition: -1 },
        { value: text('q'), partition: 2 ** 31 }, // a batch carries 32-bit partitions: the guest saw -2147483648
      ];
      for (const [i, input] of bad.entries()) {
        const got: string[] = [];
        const source = [{ value: text('a') }, { value: text('b') }, input] as unknown as ProcessInput[];
        await assert.rejects(
          (async () => {
            for await (const r of engine.process(source)) got.push(`${r.status} ${decode(r.input.value)}`);
          })(),
          (e: unknown) => {
            assert.ok(e instanceof OptionError, String(e));
            assert.equal(e.code, ErrorCode.badInput);
            assert.match(
              e.message,
              /^engine\.process: input \d+: (value|headers\['n'\]|partition) must be /,
              `input ${i}`,
            );
            return true;
          },
        );
        assert.deepEqual(got, ['ok a', 'ok b'], `input ${i}`);
      }
      const after: string[] = [];
      for await (const r of engine.process([{ value: text('c') }])) after.push(r.status);
      assert.deepEqual(after, ['ok'], 'the engine still runs');
    } finally {
      await engine.stop();
    }
  });

  test('process() streams abandoned without return() (read in part, then dropped) are collectable while the engine runs', async () => {
    // before: each kept its end listener on the engine until stop(), and with it the whole
    // stream (its source, results and state): a long-lived engine leaked one per abandoned call
    const gc = (globalThis as { gc?: () => void }).gc;
    assert.ok(gc !== undefined, 'run with node --expose-gc');
    const { engine } = engineFor(examples.noop, { workers: 1 }, 1);
    await engine.start();
    try {
      // (in a function of its own: a suspended frame's stale slots would keep its last source)
      const abandon = async (i: number): Promise<WeakRef<ProcessInput[]>> => {
        const source = [{ value: text(`a${i}`) }, { value: text(`b${i}`) }];
        const first = await engine.process(source).next(); // one result read, the stream dropped
        assert.equal(first.value?.status, 'ok');
        return new WeakRef(source);
      };
      const sources: Array<WeakRef<ProcessInput[]>> = [];
      const calls = 20;
      for (let i = 0; i < calls; i++) sources.push(await abandon(i));
      await engine.waitForSettled(2 * calls); // the unread inputs handled too: the engine holds none
      // (a WeakRef's target is kept until the job that made it ends)
      await new Promise((r) => setImmediate(r));
      gc!();
      const kept = sources.filter((w) => w.deref() !== undefined).length;
      assert.equal(kept, 0, `${kept} of ${calls} abandoned streams still reachable`);
    } finally {
      await engine.stop();
    }
  });

  test('process() beside a broker subscription of the same component: both make progress', async () => {
    // before: process() fed again at the first message released and held the component at its
    // mark, so its consumers (paused there) never resumed: 0 more broker messages in 2 s
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const engine = new Engine(
      { components: [{ path: examples.spin, subscriptions: [{ channel: 'in', group: 'g' }] }], workers: 1, cacheDir },
      [memory],
    );
    await engine.start();
    try {
      for (let i = 0; i < 20_000; i++) memory.produce('in', { value: text('200000') });
      const brokerAcked = (): number => engine.channelStats().find((s) => s.broker === 'default')!.acked;
      let atStart = -1;
      let read = 0;
      for await (const r of engine.process(
        (function* () {
          for (let i = 0; i < 100_000; i++) yield { value: text('200000') };
        })(),
      )) {
        assert.equal(r.status, 'ok');
        if (read === 0) atStart = brokerAcked();
        if (++read === 3000) break;
      }
      const during = brokerAcked() - atStart;
      assert.ok(during >= 1000, `the broker's messages settled while process() read 3000: ${during}`);
    } finally {
      await engine.stop();
    }
  });

  test('a reader that stops early closes the source: it is pulled no more and its finally runs', async () => {
    const { engine } = engineFor(examples.noop, { workers: 1 }, 1); // (its broker unused: process() feeds it)
    await engine.start();
    const source = closingSource(1_000_000);
    let read = 0;
    for await (const r of engine.process(source.inputs())) {
      assert.equal(r.status, 'ok');
      if (++read === 5) break;
    }
    await within(source.closed, 20_000, `the source closed (${source.pulled} pulled)`);
    const atClose = source.pulled;
    assert.ok(atClose < 1_000_000, `pulled ${atClose}`);
    await engine.stop(); // nothing left waiting on the source
    assert.equal(source.pulled, atClose, 'pulled after it was closed');
  });

  test('an engine stopped under a running stream ends it: what was handled, then E_ENGINE_STATE; the source closes', async () => {
    const { engine } = engineFor(examples.noop, { workers: 1 }, 1); // (its broker unused: process() feeds it)
    await engine.start();
    const source = closingSource();
    let read = 0;
    let stopping: Promise<void> | undefined;
    const reading = (async () => {
      for await (const r of engine.process(source.inputs())) {
        assert.equal(r.status, 'ok');
        assert.equal(decode(r.input.value), `${read}`, 'in input order');
        if (++read === 10) stopping = engine.stop();
      }
    })();
    await assert.rejects(within(reading, 20_000, 'the stream ended'), (e: unknown) => {
      assert.ok(e instanceof WasmsgError, String(e));
      assert.equal(e.code, ErrorCode.engineState);
      assert.equal(e.context['handled'], read, e.message);
      return true;
    });
    assert.ok(read >= 10, `${read} results before the end`);
    await within(source.closed, 20_000, 'the source closed');
    await stopping;
  });

  test('an engine stopped while the source has nothing for now ends the stream at once; the source closes at its next input', async () => {
    const { engine } = engineFor(examples.noop, { workers: 1 }, 1);
    await engine.start();
    let release!: () => void;
    const idle = new Promise<void>((r) => (release = r)); // a live source (a socket, a queue) with nothing more yet
    let pulledLate = false;
    let closed = false;
    async function* live(): AsyncGenerator<{ value: Uint8Array }> {
      try {
        for (let i = 0; i < 3; i++) yield { value: text(`m${i}`) };
        await idle;
        pulledLate = true;
        yield { value: text('late') };
      } finally {
        closed = true;
      }
    }
    let read = 0;
    let third!: () => void;
    const thirdRead = new Promise<void>((r) => (third = r));
    const reading = (async () => {
      for await (const r of engine.process(live())) {
        assert.equal(r.status, 'ok');
        if (++read === 3) third();
      }
    })();
    const ended = reading.then(
      () => undefined,
      (e: unknown) => e,
    );
    await thirdRead;
    await engine.stop();
    // before: the stream waited for the source's next input, however long that took
    const e = await within(ended, 10_000, 'the stream ended after stop()');
    assert.ok(e instanceof WasmsgError, String(e));
    assert.equal(e.code, ErrorCode.engineState);
    assert.equal(e.context['handled'], 3, e.message);
    assert.equal(closed, false, 'the source is still waiting for its next input');
    release();
    await within(
      (async () => {
        while (!closed) await new Promise((r) => setImmediate(r));
      })(),
      10_000,
      'the source closed at its next input',
    );
    assert.equal(pulledLate, true);
  });

  test('a slow reader holds the source back (bounded memory)', async () => {
    const engine = new Engine({
      components: [{ path: examples.noop, subscriptions: [{ channel: 'unused' }] }],
      workers: 1,
      cacheDir,
      maxInFlightBatches: 1,
      batch: { maxMessages: 4 },
    });
    await engine.start();
    let pulled = 0;
    function* inputs(): Generator<{ value: Uint8Array }> {
      for (let i = 0; i < 10_000; i++) {
        pulled++;
        yield { value: text('x') };
      }
    }
    const it = engine.process(inputs());
    await it.next();
    // let the feeder run as far as it may
    for (let k = 0; k < 50; k++) await new Promise<void>((r) => setImmediate(r));
    const highWater = 1 * 4 * 2;
    assert.ok(pulled <= 2 * highWater + 2, `pulled ${pulled} inputs ahead of a reader that read one`);
    await it.return(undefined);
    await engine.stop();
  });
});

describe('engine: a long process() stream', () => {
  /** Streams `total` inputs in a child process; how much its heap grew from input `from` on. */
  const streamChild = (total: number, from: number, ordering?: 'partition' | 'key') =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--expose-gc', fileURLToPath(new URL('./process-stream.child.js', import.meta.url))],
        {
          encoding: 'utf8',
          env: {
            ...process.env,
            WASMSG_PROCESS_STREAM_CHILD: '1',
            WASMSG_STREAM_TOTAL: String(total),
            WASMSG_STREAM_FROM: String(from),
            ...(ordering === undefined ? {} : { WASMSG_STREAM_ORDERING: ordering }),
          },
        },
      ),
    ) as { read: number; ok: number; grown: number };

  for (const ordering of ['partition', 'key'] as const)
    test(`ordering ${ordering}: holds nothing per channel or key once its lane is idle (every input a channel of its own)`, () => {
      const total = 200_000;
      const r = streamChild(total, 20_000, ordering);
      assert.equal(r.ok, total);
      // before: ≈ 0.8 KB kept per channel ever seen (146 MB here)
      assert.ok(r.grown < 4e6, `the heap grew ${(r.grown / 1e6).toFixed(2)} MB over ${total - 20_000} channels`);
    });

  test('holds nothing per input already read: its heap does not grow with the inputs', () => {
    const total = 2_000_000;
    const from = 200_000;
    const r = streamChild(total, from);
    assert.equal(r.read, total);
    assert.equal(r.ok, total);
    // a slot kept per input read grew it by 15.8 MB here (before: an array indexed by input)
    assert.ok(r.grown < 4e6, `the heap grew ${(r.grown / 1e6).toFixed(2)} MB over ${total - from} inputs read`);
  });
});

describe('engine: process() beside another component', () => {
  test("a slow component's inputs are held at its own mark, not at the fast component's", async () => {
    // noop on 'fast' learns its cost first (batches of up to 1024: the engine's mark up to 4 × 2 × 1024);
    // spin-wat through process() (2 000 000 rounds ≈ 3 ms a message) has its own: 4 × 2 × 32 = 256
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      {
        components: [
          { path: examples.noop, subscriptions: [{ channel: 'fast' }] },
          { path: examples.spin, subscriptions: [{ channel: 'unused' }] },
        ],
        workers: 2,
        ordering: 'none', // (under partition/key a batch counts as at least 256 in a mark: 2048)
        cacheDir,
      },
      [memory],
    );
    await engine.start();
    // (up to 8192 once its cost settles; cold first batches keep it lower for a while: 3000
    // messages were not always enough here, so 'fast' is fed until its cost has come down)
    let fed = 0;
    while (engine.highWater < 2048 && fed < 60_000) {
      for (let i = 0; i < 3000; i++, fed++) memory.produce('fast', { value: syntheticPayload(fed, 32) });
      await engine.waitForSettled(fed);
    }
    assert.ok(engine.highWater >= 2048, `the engine's mark: ${engine.highWater} after ${fed} messages`);
    let pulled = 0;
    function* inputs(): Generator<{ value: Uint8Array }> {
      for (let i = 0; i < 3000; i++) {
        pulled++;
        yield { value: text(`2000000 p${i}`) };
      }
    }
    const it = engine.process(inputs(), 1);
    await it.next();
    // let the feeder run as far as it may (a bound that only tightens with more time)
    for (let k = 0; k < 50; k++) await new Promise<void>((r) => setImmediate(r));
    assert.ok(pulled <= 2 * 256 + 2, `pulled ${pulled} inputs ahead of a reader that read one`);
    await it.return(undefined);
    await engine.stop();
  });
});

describe('engine: a handler that never returns', () => {
  test('is stopped after handlerTimeoutMs, its worker replaced, the message dead-lettered; others proceed', async () => {
    const memory = new MemoryBroker({ name: 'default' });
    const engine = new Engine(
      {
        components: [{ path: fixture('loop'), subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        cacheDir,
        handlerTimeoutMs: 300,
        retries: { maxAttempts: 2, backoffMs: 1 },
      },
      [memory],
    );
    await engine.start();
    const done = settledUntil(engine, 1);
    memory.produce('in', { value: text('spin forever') });
    const [settled] = await done;
    await engine.stop();
    assert.equal(settled!.outcome, 'dead-lettered');
    assert.match(
      memory.read('wasmsg.dead-letter')[0]!.headers['x-wasmsg-error']!,
      /^timeout: handler ran longer than 300 ms$/,
    );
    assert.equal(engine.snapshot().failed, 2);
  });
});
