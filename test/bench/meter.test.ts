import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newMeterHistogram } from '../../src/bench/histogram.js';
import { Meter } from '../../src/bench/meter.js';
import { stamp } from '../../src/bench/workload.js';

/**
 * The bench run's meter alone, fed settle instants as the engine's `settledBatch` handler gives
 * them (one instant for all of a batch's messages).
 */
describe('bench meter: the window and its second half', () => {
  const message = (sentAt: number): Uint8Array => {
    const value = new Uint8Array(16);
    stamp(value, sentAt);
    return value;
  };

  test('a second half that settled in one batch has no rate (not the meter loop’s own speed)', async () => {
    // 2000 messages, 1600 of them warm-up: the second half (after the 1800th) settles in the
    // last batch, the 1800th included
    const meter = new Meter(1600, 2000, await newMeterHistogram());
    try {
      const t0 = 1_000_000;
      for (let n = 1; n < 1800; n++) meter.settle(message(t0), true, t0 + n / 10);
      const last = t0 + 200;
      for (let n = 1800; n <= 2000; n++) meter.settle(message(t0), true, last);
      assert.equal(meter.settled, 2000);
      assert.equal(meter.secondHalfMsgsPerSec(), undefined);
      // the window itself spans batches: from the 1600th message's settle to the last's
      assert.equal(meter.end!.t - meter.start!.t, last - (t0 + 160));
    } finally {
      meter.latency.destroy();
    }
  });

  test('a window that settled in the batch of the warm-up’s last message has no duration', async () => {
    const meter = new Meter(900, 1000, await newMeterHistogram());
    try {
      const t0 = 1_000_000;
      for (let n = 1; n < 800; n++) meter.settle(message(t0), true, t0 + n / 10);
      for (let n = 800; n <= 1000; n++) meter.settle(message(t0), true, t0 + 100);
      assert.equal(meter.end!.t - meter.start!.t, 0, 'the run then says it could not rate its messages');
      assert.equal(meter.secondHalfMsgsPerSec(), undefined);
    } finally {
      meter.latency.destroy();
    }
  });

  test('across batches: the messages after the half-th over the time from its settle to the last', async () => {
    const meter = new Meter(0, 1000, await newMeterHistogram());
    try {
      const t0 = 1_000_000;
      // batches of 100 messages, one every 10 ms: the 500th settles at t0 + 40, the last at t0 + 90
      for (let n = 0; n < 1000; n++) meter.settle(message(t0), true, t0 + Math.floor(n / 100) * 10);
      assert.equal(meter.secondHalfMsgsPerSec(), (500 / 50) * 1000);
    } finally {
      meter.latency.destroy();
    }
  });
});
