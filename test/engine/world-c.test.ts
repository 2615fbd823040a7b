import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import type { BrokerAdapter } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { generate, syntheticPayload } from '../../src/brokers/synthetic.js';
import { Budget, LimitedAdapter } from '../../src/cli/limit.js';
import { Engine } from '../../src/engine/engine.js';
import { ComponentLinkError, ErrorCode } from '../../src/errors.js';
import { cacheDir, decode, examples, fixture, text } from '../helpers.js';

const digest = (chunks: Iterable<Uint8Array>): string => {
  const sorted = [...chunks].map((c) => Buffer.from(c).toString('hex')).sort();
  return createHash('sha256').update(sorted.join(',')).digest('hex');
};

describe('engine: world C (batch delivery)', () => {
  test("subscribes to configure()'s channels; every batch in one call; all outputs arrive, all inputs acked", async () => {
    const N = 3000;
    const memory = new MemoryBroker({ name: 'default', partitions: 4 });
    // no subscriptions: the example's configure() returns ["in"]
    const engine = new Engine(
      { components: [{ path: examples.batch }], workers: 2, cacheDir, batch: { maxMessages: 64 } },
      [memory],
    );
    await engine.start();
    assert.deepEqual(engine.options.components[0]!.subscriptions, [
      { broker: 'default', channel: 'in', kind: 'queue' },
    ]);
    const done = engine.waitForSettled(N);
    await generate(memory, 'in', { count: N, size: 48, keys: 20 });
    await done;
    const s = engine.snapshot();
    await engine.stop();
    const out = memory.read('out');
    assert.equal(out.length, N, 'one output per input');
    assert.equal(digest(out.map((r) => r.value)), digest(Array.from({ length: N }, (_, i) => syntheticPayload(i, 48))));
    assert.ok(
      out.every((r) => Object.keys(r.headers).every((k) => !k.startsWith('wasmsg-'))),
      'no host metadata in the outputs',
    );
    assert.deepEqual([s.received, s.processed, s.acked, s.published, s.failed], [N, N, N, N, 0]);
    assert.ok(s.batches < N, `${s.batches} batches for ${N} messages`);
    const committed = memory.committed('in', 'wasmsg');
    assert.equal(
      committed.reduce((x, y) => x + y, 0),
      N,
      'every partition committed to its end',
    );
  });

  test('a slow batch handler gets batches it can finish within the handler timeout (cut to a quarter of it)', async () => {
    // batch-spin spins ≈ 3 ms a message: the ≈ 940 left after the first 2 batches would take 2.8 s
    // in one call, the timeout is 2 s; cut, a call takes ≈ 0.5 s (a 4× slowdown of the machine in
    // the middle of a call would still be needed to reach the timeout)
    const N = 1000;
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      { components: [{ path: fixture('batch-spin') }], workers: 1, cacheDir, handlerTimeoutMs: 2000, ordering: 'none' },
      [memory],
    );
    const sizes: number[] = [];
    let dead = 0;
    engine.on('settledBatch', ({ records, outcome }) => {
      sizes.push(records.length);
      if (outcome !== 'ok') dead += records.length;
    });
    for (let i = 0; i < N; i++) memory.produce('in', { value: text(`m${i}`) });
    await engine.start();
    await engine.waitForSettled(N);
    const callUs = engine.histograms().handlerNs.getValueAtPercentile(50) / 1000; // a message's share of its call
    const s = engine.snapshot();
    await engine.stop();
    assert.equal(dead, 0, `no batch timed out (batches: ${sizes.join(' ')})`);
    assert.deepEqual([s.acked, s.failed, s.retried], [N, 0, 0]);
    // the first 2 batches: 32 each (the cost unknown); then ≈ 500 ms ÷ the cost a message
    const later = sizes.slice(2, -1);
    assert.ok(later.length > 0, `batches: ${sizes.join(' ')}`);
    assert.ok(Math.max(...later) * callUs <= 1_000_000, `later batches ${later.join(' ')} at ${callUs} µs a message`);
  });

  test('abandoned messages are retried then dead-lettered; the rest of their lane waits, then proceeds in order', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const engine = new Engine(
      {
        components: [{ path: fixture('batch-script') }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 2, backoffMs: 1 },
        batch: { maxMessages: 16, lingerMs: 0 },
      },
      [memory],
    );
    const order: string[] = [];
    engine.on('settled', (e) => order.push(`${e.record.partition}:${decode(e.record.value)}`));
    await engine.start();
    const done = engine.waitForSettled(40);
    // s<i>: sent to `out` (ok); a<i>: abandoned → dead-lettered
    for (let i = 0; i < 40; i++)
      memory.produce('in', { value: text(`${i % 5 === 2 ? 'a' : 's'}${i}`), partition: i % 2 });
    await done;
    const s = engine.snapshot();
    await engine.stop();
    const dlq = memory.read('wasmsg.dead-letter');
    assert.deepEqual(
      dlq.map((r) => decode(r.value)).sort(),
      ['a12', 'a17', 'a2', 'a22', 'a27', 'a32', 'a37', 'a7'].sort(),
    );
    assert.equal(dlq[0]!.headers['x-wasmsg-error'], 'other: abandoned by the guest (abandon-message)');
    assert.equal(dlq[0]!.headers['x-wasmsg-attempts'], '2');
    const sent = memory.read('out').map((r) => decode(r.value));
    assert.equal(new Set(sent).size, 32, 'every s message sent (at least once)');
    assert.equal(s.acked, 40);
    // per partition, settled in broker order
    for (const p of [0, 1]) {
      const seq = order.filter((o) => o.startsWith(`${p}:`)).map((o) => Number(o.slice(3)));
      assert.deepEqual(
        seq,
        [...seq].sort((x, y) => x - y),
        `partition ${p}: ${seq.join(' ')}`,
      );
    }
  });

  test("a message's format is the format of the adapter handed in (wrapped for --limit or not); raw without one", async () => {
    /** An embedded broker that says it is Kafka: what a library user's own adapter may do. */
    class KafkaLike extends MemoryBroker {
      readonly format = 'kafka' as const;
    }
    const seen = async (adapter: (m: MemoryBroker) => BrokerAdapter, memory: MemoryBroker): Promise<string[]> => {
      const engine = new Engine({ components: [{ path: fixture('batch-script') }], workers: 1, cacheDir }, [
        adapter(memory),
      ]);
      await engine.start();
      const done = engine.waitForSettled(2);
      memory.produce('in', { value: text('f0') });
      memory.produce('in', { value: text('f1'), headers: { ce_specversion: '1.0' } });
      await done;
      await engine.stop();
      return memory
        .read('format')
        .map((r) => decode(r.value))
        .sort();
    };
    const kafka = (): MemoryBroker => new KafkaLike({ name: 'default' });
    assert.deepEqual(await seen((m) => m, kafka()), ['cloudevents', 'kafka']);
    assert.deepEqual(await seen((m) => new LimitedAdapter(m, new Budget(2)), kafka()), ['cloudevents', 'kafka']);
    assert.deepEqual(await seen((m) => m, new MemoryBroker({ name: 'default' })), ['cloudevents', 'raw']);
  });

  test('world A and B components still need subscriptions; a configure() channel outside the grants stops start', async () => {
    await assert.rejects(new Engine({ components: [{ path: examples.noop }], workers: 1, cacheDir }).start(), {
      code: ErrorCode.badOption,
      message: /components\[0\]\.subscriptions: noop .* needs subscriptions/,
    });
    await assert.rejects(
      new Engine({
        components: [{ path: examples.batch, grants: { subscribe: ['orders.*'] } }],
        workers: 1,
        cacheDir,
      }).start(),
      { code: ErrorCode.badOption, message: /configure\(\) asks for channel 'in', which its grants do not allow/ },
    );
  });

  test('a component that fails in the workers (configure() errs there): start rejects with its typed error', async () => {
    // with subscriptions given, configure() first runs in the workers. Before: start() rejected
    // with a plain WasmsgError without context, and the pool's unhandled 'error' event (its
    // other worker, or the one started in its place) ended the process moments later
    const engine = new Engine({
      components: [{ path: fixture('batch-noconf'), subscriptions: [{ channel: 'in' }] }],
      workers: 2,
      cacheDir,
    });
    await assert.rejects(engine.start(), (e: unknown) => {
      assert.ok(e instanceof ComponentLinkError, String(e));
      assert.equal(e.code, ErrorCode.instantiate);
      assert.match(e.message, /batch-noconf\.wasm: configure\(\) returned err: connection: unknown broker 'nope'/);
      assert.equal(e.context['file'], fixture('batch-noconf'));
      assert.ok(e.cause instanceof Error, 'the worker error is its cause');
      return true;
    });
  });

  for (const ordering of ['none', 'partition'] as const) {
    test(`process() inputs and broker inputs never share a handler call (${ordering}): each gets its own outputs`, async () => {
      // examples/batch-wat forwards each batch to `out` with one send; the batch's outputs go with
      // its first ok message. Before, a batch mixed both kinds: broker inputs were acked while
      // their outputs went to the process() caller, and process() inputs were published to `out`
      const memory = new MemoryBroker({ name: 'default', partitions: 1 });
      const engine = new Engine(
        {
          components: [{ path: examples.batch, subscriptions: [{ channel: 'in', group: 'g' }] }],
          ordering,
          workers: 1,
          cacheDir,
        },
        [memory],
      );
      await engine.start();
      try {
        const N = 200;
        async function* inputs(): AsyncGenerator<{ value: Uint8Array }> {
          for (let i = 0; i < N; i++) {
            yield { value: text(`P${i}`) };
            memory.produce('in', { value: text(`B${i}`) });
            if (i % 5 === 0) await new Promise((r) => setImmediate(r)); // let the broker's intake run between
          }
        }
        const given: string[] = [];
        for await (const r of engine.process(inputs()))
          if (r.status === 'ok') given.push(...r.outputs.map((o) => decode(o.data)));
        await engine.waitForSettled(2 * N);
        const out = memory.read('out').map((r) => decode(r.value));
        assert.deepEqual(
          [out.length, out.filter((v) => v.startsWith('B')).length],
          [N, N],
          'every broker input forwarded to out, nothing else',
        );
        assert.deepEqual(
          [given.length, given.filter((v) => v.startsWith('P')).length],
          [N, N],
          'every process() input given back, nothing else',
        );
      } finally {
        await engine.stop();
      }
    });
  }

  for (const ordering of ['none', 'partition', 'key'] as const) {
    test(`concurrent process() streams never share a handler call (${ordering}): each caller gets its own outputs only`, async () => {
      // the batch's outputs go with its first ok message, to that message's caller. Before, a
      // batch mixed the inputs of streams read at once (one lane per channel and partition, or
      // one per component under `none`): a caller was given outputs made from another's inputs
      const engine = new Engine(
        { components: [{ path: examples.batch }], ordering, workers: 1, cacheDir, batch: { lingerMs: 20 } },
        [new MemoryBroker({ name: 'default' })],
      );
      await engine.start();
      try {
        const N = 150;
        const run = async (tag: string): Promise<string[]> => {
          async function* inputs(): AsyncGenerator<{ value: Uint8Array; key: string }> {
            for (let i = 0; i < N; i++) yield { value: text(`${tag}${i}`), key: `k${i % 3}` };
          }
          const given: string[] = [];
          for await (const r of engine.process(inputs()))
            if (r.status === 'ok') given.push(...r.outputs.map((o) => decode(o.data)));
          return given;
        };
        const tags = ['A', 'B', 'C'];
        const given = await Promise.all(tags.map(run));
        for (const [i, tag] of tags.entries()) {
          assert.deepEqual(
            [given[i]!.length, given[i]!.filter((v) => v.startsWith(tag)).length],
            [N, N],
            `stream ${tag}: its own ${N} outputs, no other's`,
          );
        }
      } finally {
        await engine.stop();
      }
    });
  }
});
