import type * as hdr from 'hdr-histogram-js';
import { Histogram, type Registry } from 'prom-client';

/**
 * A Prometheus histogram read from one of the engine's HDR histograms at scrape time: nothing
 * is observed per message (the engine records into its HDR histogram anyway), the cumulative
 * bucket counts at fixed bounds are computed when scraped, by one walk over the HDR counts up to
 * the largest value recorded (some thousands of slots).
 */

/** The slots of hdr-histogram-js's JS histograms (what `hdr.build()` returns by default). */
interface Slots {
  getCountAtIndex(index: number): number;
  valueFromIndex(index: number): number;
  countsArrayIndex(value: number): number;
}

function hasSlots(h: hdr.Histogram): h is hdr.Histogram & Slots {
  return typeof (h as Partial<Slots>).getCountAtIndex === 'function';
}

export interface HdrBuckets {
  /** Cumulative count of values ≤ each bound (same order as the bounds). */
  readonly cumulative: number[];
  readonly count: number;
  /** Sum of the values, in seconds (from the histogram's mean). */
  readonly sum: number;
}

/**
 * Cumulative counts of `h` at `bounds` (seconds, ascending); `h` records integers of
 * 1 / `unitsPerSecond` s. A slot counts under the first bound its lowest value does not pass, so a
 * value on a bound counts under it, as Prometheus's `le` says (HDR keeps 3 significant digits: a
 * value within 0.1 % above a bound may count under it too; before, values on a bound counted under
 * the next one). A histogram without slots (the WebAssembly one) gives only count and sum.
 */
export function hdrBuckets(h: hdr.Histogram, bounds: readonly number[], unitsPerSecond: number): HdrBuckets {
  const counts = new Array<number>(bounds.length).fill(0);
  const count = h.totalCount;
  if (count === 0) return { cumulative: counts, count: 0, sum: 0 };
  if (hasSlots(h)) {
    const last = h.countsArrayIndex(h.maxValue);
    let b = 0;
    for (let i = 0; i <= last; i++) {
      const n = h.getCountAtIndex(i);
      if (n === 0) continue;
      const seconds = h.valueFromIndex(i) / unitsPerSecond; // the slot's lowest value
      while (b < bounds.length && seconds > bounds[b]!) b++; // slots ascend: the bound only moves up
      if (b < bounds.length) counts[b]! += n;
    }
    for (let i = 1; i < counts.length; i++) counts[i]! += counts[i - 1]!;
  }
  return { cumulative: counts, count, sum: (h.mean * count) / unitsPerSecond };
}

type Exported = Awaited<ReturnType<Histogram['get']>>;

/** A prom-client histogram whose samples are those of an HDR histogram, taken when scraped. */
export class HdrHistogramMetric extends Histogram {
  private readonly bounds: readonly number[];
  private readonly metricName: string;
  private readonly help: string;
  constructor(
    config: { name: string; help: string; buckets: readonly number[]; registers: Registry[] },
    /** The HDR histogram to read (asked at each scrape: the engine may replace its window). */
    private readonly source: () => hdr.Histogram,
    private readonly unitsPerSecond: number,
  ) {
    super({ name: config.name, help: config.help, buckets: [...config.buckets], registers: config.registers });
    this.bounds = [...config.buckets];
    this.metricName = config.name;
    this.help = config.help;
  }

  /** What earlier stats windows held (see `carry`): added to the current one's. */
  private carried: HdrBuckets | undefined;
  /** The source is about to be emptied (a new stats window): its counts stay in the metric. */
  carry(): void {
    const now = hdrBuckets(this.source(), this.bounds, this.unitsPerSecond);
    const c = this.carried;
    this.carried =
      c === undefined
        ? now
        : {
            cumulative: now.cumulative.map((n, i) => n + c.cumulative[i]!),
            count: now.count + c.count,
            sum: now.sum + c.sum,
          };
  }

  override get(): Promise<Exported> {
    let { cumulative, count, sum } = hdrBuckets(this.source(), this.bounds, this.unitsPerSecond);
    const c = this.carried;
    if (c !== undefined) {
      cumulative = cumulative.map((n, i) => n + c.cumulative[i]!);
      count += c.count;
      sum += c.sum;
    }
    const bucket = `${this.metricName}_bucket`;
    const values: Exported['values'] = this.bounds.map((le, i) => ({
      metricName: bucket,
      labels: { le },
      value: cumulative[i]!,
    }));
    values.push(
      { metricName: bucket, labels: { le: '+Inf' }, value: count },
      { metricName: `${this.metricName}_sum`, labels: {}, value: sum },
      { metricName: `${this.metricName}_count`, labels: {}, value: count },
    );
    // what prom-client's Histogram returns (its typings declare `type` an enum; the value is this text)
    const exported = { name: this.metricName, help: this.help, type: 'histogram', values, aggregator: 'sum' };
    return Promise.resolve(exported as unknown as Exported);
  }

  /** What prom-client's registry reads for the text format (its Histogram's own would be empty). */
  getForPromString(): Promise<Exported> {
    return this.get();
  }
}
