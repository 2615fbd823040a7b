import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Timeline, bucketOf, bucketTop } from '../../src/bench/timeline.js';

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
});
