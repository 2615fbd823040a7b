import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Timeline, type TimelineData, bucketOf, bucketTop, startedInTransient } from '../../src/bench/timeline.js';
import type { BenchReport, Distribution, RunResult } from '../../src/bench/types.js';
import { table } from '../../src/cli/bench.js';

/** The bench's latency timeline (src/bench/timeline.ts): log-linear buckets, intervals that double. */
describe('bench timeline', () => {
  test('a value lands in a bucket whose top is at most 12.5 % above it, and buckets follow the values', () => {
    let last = -1;
    for (let v = 1; v < 2 ** 31; v = v < 4096 ? v + 1 : Math.ceil(v * 1.01)) {
      const b = bucketOf(v);
      assert.ok(b >= last, `bucket of ${v} (${b}) below the one before (${last})`);
      last = b;
      const top = bucketTop(b);
      assert.ok(top >= v && top <= v * 1.125 + 1, `${v} µs in bucket ${b}, whose top is ${top}`);
    }
    assert.equal(bucketOf(2 ** 40), bucketOf(2 ** 31 - 1), 'larger values share the last bucket');
  });

  test('each interval has its count, p50, p99 and exact max; an interval without messages counts 0', () => {
    const t = new Timeline();
    for (let i = 1; i <= 1000; i++) t.record(10 + (i % 90), i); // interval 0: 1…1000 µs
    for (let i = 0; i < 50; i++) t.record(250, 5000); // interval 2: 5 ms each
    t.measuredFromMs = 180;
    const d = t.data();
    assert.equal(d.intervalMs, 100);
    assert.equal(d.measuredFromMs, 180);
    assert.equal(d.points.length, 3);
    const [first, gap, third] = d.points;
    assert.equal(first![0], 0);
    assert.equal(first![1], 1000);
    assert.ok(first![2] >= 0.5 && first![2] <= 0.5 * 1.125, `p50 ${first![2]} ms`);
    assert.ok(first![3] >= 0.99 && first![3] <= 1, `p99 ${first![3]} ms (never above the max)`);
    assert.equal(first![4], 1);
    assert.deepEqual(gap, [100, 0, 0, 0, 0]);
    assert.deepEqual(third, [200, 50, 5, 5, 5]);
  });

  test('a long run doubles the interval instead of growing past 600 points, losing no message', () => {
    const t = new Timeline();
    let n = 0;
    for (let at = 0; at < 130_000; at += 7) {
      t.record(at, at === 64_001 ? 99_000 : 100);
      n++;
    }
    const d = t.data();
    assert.equal(d.intervalMs, 400, '130 s in 100 ms intervals is 1300: doubled twice');
    assert.ok(d.points.length <= 600 && d.points.length >= 300, `${d.points.length} points`);
    assert.equal(
      d.points.reduce((s, p) => s + p[1], 0),
      n,
    );
    const slow = d.points.find((p) => p[4] > 1)!;
    assert.equal(slow[0], 64_000, 'the slow message is in the interval that holds 64.0 s');
    assert.equal(slow[4], 99);
  });

  /** 30 intervals of 100 ms, measured from 1 s; p99 ms by interval. */
  const timeline = (p99: (i: number) => number, points = 30): TimelineData => ({
    intervalMs: 100,
    measuredFromMs: 1000,
    points: Array.from({ length: points }, (_, i) => [i * 100, 500, p99(i) / 2, p99(i), p99(i) * 1.2] as const),
  });
  const transient = timeline((i) => (i <= 10 ? 300 - i * 18 : 4)); // still 120 ms in the window's first interval
  const steady = timeline((i) => (i < 5 ? 300 : i === 10 ? 6 : 4));

  test('the measured window began inside the start-up transient: said when its first interval stands out, not otherwise', () => {
    assert.deepEqual(startedInTransient(transient), { firstP99: 120, medianP99: 4 });
    assert.equal(startedInTransient(steady), undefined, 'a first interval of 6 ms against 4 is no transient');
    assert.equal(startedInTransient(timeline(() => 40, 13)), undefined, 'a window of 3 intervals tells nothing');
  });

  test("wasmsg bench's table says so under the run, in words", () => {
    const d: Distribution = { count: 1, mean: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1, percentiles: [] };
    const run = (label: string, t: TimelineData): RunResult => ({
      label,
      side: 'engine',
      params: {
        broker: 'memory',
        scheme: 'memory',
        component: 'noop.wasm',
        messages: 1,
        size: 100,
        keys: 0,
        workers: 2,
        batch: 1024,
        ordering: 'partition',
        workUs: 0,
        mode: 'rate',
        rate: 1000,
      },
      measured: 1,
      elapsedMs: 1,
      msgsPerSec: 1,
      mbPerSec: 1,
      latencyMs: d,
      handlerUs: d,
      cpuMs: { process: 1, mainThread: 1, workers: 0 },
      peakRssMb: 1,
      nodeFlags: [],
      timeline: t,
    });
    const report: BenchReport = {
      version: 1,
      createdAt: '2026-11-26T00:00:00.000Z',
      command: 'wasmsg bench',
      machine: { cpus: 2, cpuModel: 'x', memoryGb: 1, node: 'v20', platform: 'linux' },
      runs: [run('cold start', transient), run('steady', steady)],
    };
    const lines = table(report).split('\n');
    const notes = lines.filter((l) => l.includes('the measured window began while latency was still coming down'));
    assert.equal(notes.length, 1, table(report));
    assert.match(
      notes[0]!,
      /^cold start \(engine\): .*first 100 ms: p99 120\.0 ms; a typical interval of the window: 4\.0 ms.*longer --warmup/,
    );
  });
});
