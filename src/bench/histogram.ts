import * as hdr from 'hdr-histogram-js';
import { atPercentile } from '../engine/stats.js';
import type { Distribution, PercentilePoint } from './types.js';

/** A histogram for values from 1 to an hour in µs (or ns up to an hour ÷ 1000), 3 significant digits. */
export function newHistogram(): hdr.Histogram {
  return hdr.build(HISTOGRAM);
}

const HISTOGRAM = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 3_600_000_000_000,
  numberOfSignificantValueDigits: 3,
} as const;

/**
 * The same in hdr-histogram-js's WebAssembly build, for a value recorded per message on the
 * measured thread (the bench's meter): `recordValue` took 150 ns in the JS build here, 33–45 ns
 * in this one (PERF.md). Free it with `destroy()`.
 */
export async function newMeterHistogram(): Promise<hdr.Histogram> {
  await hdr.initWebAssembly();
  return hdr.build({ ...HISTOGRAM, useWebAssembly: true });
}

/**
 * Percentiles to plot: 0, 50, 75, 87.5, … halving the distance to 100 down to 1 in a million,
 * (HdrHistogram's percentile distribution, 2 points per halving); the max is added as 100.
 */
const PLOT_PERCENTILES: readonly number[] = (() => {
  const out: number[] = [0];
  for (let gap = 50; gap >= 1e-4; gap /= 2) {
    out.push(100 - gap);
    out.push(100 - gap * 0.75);
  }
  return out.filter((p, i, a) => i === 0 || p > a[i - 1]!);
})();

/** The distribution of a histogram, values divided by `scale` (e.g. µs → ms with 1000). */
export function distribution(h: hdr.Histogram, scale: number): Distribution {
  const count = h.totalCount;
  const at = (p: number): number => atPercentile(h, p) / scale;
  const percentiles: PercentilePoint[] = [];
  if (count > 0) {
    for (const p of PLOT_PERCENTILES) {
      // a percentile finer than the sample can resolve repeats the max: stop there
      if ((100 - p) * count < 100) break;
      percentiles.push([p, at(p)]);
    }
    percentiles.push([100, h.maxValue / scale]);
  }
  return {
    count,
    mean: count === 0 ? 0 : h.mean / scale,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: count === 0 ? 0 : h.maxValue / scale,
    percentiles,
  };
}
