import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { SubscriptionCounters, readLag } from '../../src/engine/counters.js';
import { Engine } from '../../src/engine/engine.js';
import { hdrBuckets } from '../../src/metrics/hdr.js';
import { metricsRegistry } from '../../src/metrics/registry.js';
import { ErrorCode, OptionError } from '../../src/errors.js';
import { cacheDir, examples, fixture, text } from '../helpers.js';
import { parseProm } from './prom-text.js';

/**
 * The Prometheus registry of a real engine (memory broker, real components): per component and
 * channel counters equal what was sent, the histograms count what was acked, consumer lag is 0
 * once drained and the backlog while messages wait, paused follows backpressure.
 */

const labels = (component: string, channel: string, broker = 'default'): string =>
  `{component="${component}",broker="${broker}",channel="${channel}"}`;

describe('metrics registry of an engine', () => {
  test('per component and channel counters, histograms, lag 0 after the drain', async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const engine = new Engine(
      {
        components: [
          { path: examples.noop, name: 'noop', subscriptions: [{ channel: 'a' }] },
          { path: fixture('err'), name: 'err', subscriptions: [{ channel: 'b' }] },
        ],
        workers: 2,
        retries: { maxAttempts: 2, backoffMs: 1 },
        cacheDir,
      },
      [memory],
    );
    const register = metricsRegistry(engine);
    let samples = parseProm(await register.metrics());
    assert.equal(samples.get('wasmsg_ready'), 0, 'not ready before start');
    await engine.start();
    for (let i = 0; i < 300; i++) memory.produce('a', { value: text(`a${i}`) });
    for (let i = 0; i < 20; i++) memory.produce('b', { value: text(`b${i}`) });
    await engine.waitForSettled(320);
    samples = parseProm(await register.metrics());
    const a = labels('noop', 'a');
    const b = labels('err', 'b');
    assert.equal(samples.get(`wasmsg_channel_received_total${a}`), 300);
    assert.equal(samples.get(`wasmsg_channel_handled_ok_total${a}`), 300);
    assert.equal(samples.get(`wasmsg_channel_acked_total${a}`), 300);
    assert.equal(samples.get(`wasmsg_channel_handler_failures_total${a}`), 0);
    assert.equal(samples.get(`wasmsg_channel_dead_lettered_total${a}`), 0);
    assert.equal(samples.get(`wasmsg_channel_received_total${b}`), 20);
    assert.equal(samples.get(`wasmsg_channel_handled_ok_total${b}`), 0);
    assert.equal(samples.get(`wasmsg_channel_handler_failures_total${b}`), 40, 'two attempts each');
    assert.equal(samples.get(`wasmsg_channel_retried_total${b}`), 20);
    assert.equal(samples.get(`wasmsg_channel_dead_lettered_total${b}`), 20);
    assert.equal(samples.get(`wasmsg_channel_acked_total${b}`), 20, 'acked once dead-lettered');
    assert.equal(samples.get(`wasmsg_channel_published_total${b}`), 0);
    // the unlabelled totals are the sums
    assert.equal(samples.get('wasmsg_messages_received_total'), 320);
    assert.equal(samples.get('wasmsg_messages_acked_total'), 320);
    // histograms: every acked message is one end-to-end latency
    assert.equal(samples.get('wasmsg_latency_seconds_count'), 320);
    assert.equal(samples.get('wasmsg_latency_seconds_bucket{le="+Inf"}'), 320);
    // (a batch's call time is spread over all its messages, those skipped behind a failure too)
    assert.ok(samples.get('wasmsg_handler_seconds_count')! >= 300 + 40);
    const le = [...samples].filter(([k]) => k.startsWith('wasmsg_latency_seconds_bucket')).map(([, v]) => v);
    assert.ok(
      le.every((v, i) => i === 0 || v >= le[i - 1]!),
      'cumulative buckets',
    );
    assert.ok(samples.get('wasmsg_latency_seconds_sum')! > 0);
    assert.equal(samples.get(`wasmsg_consumer_lag${a}`), 0);
    assert.equal(samples.get(`wasmsg_consumer_lag${b}`), 0);
    assert.equal(samples.get('wasmsg_paused'), 0);
    assert.equal(samples.get('wasmsg_ready'), 1);
    const u = samples.get('wasmsg_worker_utilisation')!;
    assert.ok(u > 0 && u <= 1, `utilisation ${u}`);
    await engine.stop();
    assert.equal(parseProm(await register.metrics()).get('wasmsg_ready'), 0, 'not ready once stopped');
  });

  test('lag counts the backlog and paused shows backpressure while messages wait out a retry', async () => {
    const memory = new MemoryBroker({ name: 'default' });
    const engine = new Engine(
      {
        components: [{ path: fixture('err'), name: 'err', subscriptions: [{ channel: 'slow' }] }],
        workers: 1,
        // highWater = 1 batch × 2 messages × 2: 10 messages held behind the first one's long
        // backoff (partition ordering: the rest of the lane waits) pause intake
        maxInFlightBatches: 1,
        batch: { maxMessages: 2 },
        retries: { maxAttempts: 2, backoffMs: 60_000, maxBackoffMs: 60_000 },
        cacheDir,
      },
      [memory],
    );
    await engine.start();
    for (let i = 0; i < 10; i++) memory.produce('slow', { value: text(`s${i}`) });
    const register = metricsRegistry(engine);
    const failedFirst = new Promise<void>((resolve) => {
      const check = (): void => {
        const row = engine.channelStats()[0]!;
        if (row.failed >= 1) resolve();
        else setImmediate(check);
      };
      check();
    });
    await failedFirst;
    const samples = parseProm(await register.metrics());
    const s = labels('err', 'slow');
    assert.equal(samples.get('wasmsg_paused'), 1);
    assert.equal(samples.get(`wasmsg_consumer_lag${s}`), 10, 'nothing acked: the whole channel');
    assert.equal(samples.get(`wasmsg_channel_acked_total${s}`), 0);
    await engine.stop();
  });

  test('registers into a registry the caller gives', async () => {
    const { Registry, Counter } = await import('prom-client');
    const mine = new Registry();
    new Counter({ name: 'app_things_total', help: 'mine', registers: [mine] }).inc(3);
    const engine = new Engine({ components: [{ path: examples.noop, subscriptions: [{ channel: 'in' }] }], cacheDir });
    assert.equal(metricsRegistry(engine, { registry: mine }), mine);
    const samples = parseProm(await mine.metrics());
    assert.equal(samples.get('app_things_total'), 3);
    assert.equal(samples.get('wasmsg_messages_acked_total'), 0);
    // a second engine into the same registry: refused in wasmsg's words (before: prom-client's
    // plain Error, 'A metric with the name … has already been registered')
    const other = new Engine({ components: [{ path: examples.noop, subscriptions: [{ channel: 'in' }] }], cacheDir });
    assert.throws(
      () => metricsRegistry(other, { registry: mine }),
      (e: unknown) =>
        e instanceof OptionError && e.code === ErrorCode.badOption && /a registry of its own/.test(e.message),
    );
  });

  test('a lag read that hangs or throws is left out within the timeout, and is not repeated while under way', async () => {
    let asked = 0;
    const base = { pause() {}, resume() {}, settle() {}, close: async () => {} };
    const hangs = new SubscriptionCounters('c', 'slow', 'x', {
      ...base,
      lag: () => {
        asked++;
        return new Promise<number>(() => {});
      },
    });
    const throws = new SubscriptionCounters('c', 'bad', 'y', {
      ...base,
      lag: () => {
        throw new Error('no');
      },
    });
    const fine = new SubscriptionCounters('c', 'ok', 'z', { ...base, lag: async () => 7 });
    const none = new SubscriptionCounters('c', 'core', 'w', base);
    const started = performance.now();
    const first = await readLag([hangs, throws, fine, none], 50);
    assert.deepEqual(
      first.map((l) => [l.broker, l.lag]),
      [
        ['slow', undefined],
        ['bad', undefined],
        ['ok', 7],
      ],
    );
    assert.ok(performance.now() - started < 1000);
    await readLag([hangs], 10);
    assert.equal(asked, 1, 'the read under way is waited for, not asked again');
  });

  test('HDR histogram to cumulative buckets at fixed bounds', () => {
    const h = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000_000,
      numberOfSignificantValueDigits: 3,
    });
    h.recordValueWithCount(500, 3); // 0.5 ms
    h.recordValueWithCount(2000, 2); // 2 ms
    h.recordValueWithCount(2_000_000, 1); // 2 s
    const { cumulative, count, sum } = hdrBuckets(h, [0.0001, 0.001, 0.0025, 1, 5], 1e6);
    assert.deepEqual(cumulative, [0, 3, 5, 5, 6]);
    assert.equal(count, 6);
    assert.ok(Math.abs(sum - 2.0055) < 0.01, `sum ${sum}`);
    assert.deepEqual(hdrBuckets(hdr.build(), [1], 1e6), { cumulative: [0], count: 0, sum: 0 });
  });

  test('a value on a bound counts under it (le: less or equal)', () => {
    // before: 5 ms, 10 ms, 1 s exactly counted under the next bound up
    for (const us of [5000, 10_000, 1_000_000, 2500]) {
      const h = hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: 3_600_000_000,
        numberOfSignificantValueDigits: 3,
      });
      h.recordValueWithCount(us, 100);
      const bounds = [us / 2e6, us / 1e6, (us * 2) / 1e6];
      assert.deepEqual(hdrBuckets(h, bounds, 1e6).cumulative, [0, 100, 100], `${us} µs`);
    }
  });
});

describe('metrics registry across resetStats()', () => {
  test('counters and histograms keep what the earlier window counted: they never go down', async () => {
    // before: every *_total and each histogram's counts fell back to the new window's (100, then 10)
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const engine = new Engine(
      { components: [{ path: examples.noop, name: 'noop', subscriptions: [{ channel: 'a' }] }], workers: 1, cacheDir },
      [memory],
    );
    const register = metricsRegistry(engine);
    await engine.start();
    try {
      const send = async (n: number, total: number): Promise<Map<string, number>> => {
        for (let i = 0; i < n; i++) memory.produce('a', { value: text(`x${i}`) });
        await engine.waitForSettled(total);
        return parseProm(await register.metrics());
      };
      const first = await send(100, 100);
      assert.equal(first.get('wasmsg_messages_acked_total'), 100);
      engine.resetStats();
      assert.equal(engine.snapshot().acked, 0, 'the stats window restarted');
      const second = await send(10, 110);
      for (const name of [
        'wasmsg_messages_acked_total',
        'wasmsg_messages_received_total',
        'wasmsg_messages_handled_ok_total',
      ])
        assert.equal(second.get(name), 110, name);
      assert.equal(second.get(`wasmsg_channel_acked_total${labels('noop', 'a')}`), 110);
      assert.equal(second.get('wasmsg_latency_seconds_count'), 110);
      assert.equal(second.get('wasmsg_latency_seconds_bucket{le="+Inf"}'), 110);
    } finally {
      await engine.stop();
    }
  });
});
