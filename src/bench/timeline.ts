/**
 * Latency over time for a bench run: per interval of the run (by when messages settled), how many
 * settled and their p50, p99 and max. It tells a start-up transient, a stall or an engine that
 * never caught up (PERF.md: a fixed-rate run that stays seconds behind) from a steady tail, which
 * the run's one distribution cannot.
 *
 * Counted in log-linear buckets (8 a power of two: within 12.5 %, the max exact), not in
 * hdr-histogram-js: a second HDR record per message would cost the measured thread ≈ 40 ns (its
 * WebAssembly build here), a bucket count ≈ 5. The intervals start at 100 ms and double (adjacent
 * ones merged) whenever a run would have more than MAX_POINTS, so a long run stays small.
 */

/** One interval: its start (ms since consuming began), messages settled, and latency p50 / p99 / max (ms). */
export type TimelinePoint = readonly [startMs: number, count: number, p50: number, p99: number, max: number];

export interface TimelineData {
  readonly intervalMs: number;
  /** When the measured window began (ms since consuming began): the warm-up is before it. */
  readonly measuredFromMs: number;
  readonly points: readonly TimelinePoint[];
}

const SUB = 8; // buckets a power of two
const SUB_BITS = 3;
const BUCKETS = 32 * SUB;
const FIRST_INTERVAL_MS = 100;
const MAX_POINTS = 600;

/** The bucket of a value in µs (≥ 1): values below 8 alone, then 8 buckets a power of two. */
export function bucketOf(us: number): number {
  const v = us >= 0x7fffffff ? 0x7fffffff : us | 0;
  if (v < SUB) return v;
  const e = 31 - Math.clz32(v); // v in [2^e, 2^(e+1))
  return (e - SUB_BITS + 1) * SUB + ((v >>> (e - SUB_BITS)) & (SUB - 1));
}

/** The largest value (µs) a bucket holds. */
export function bucketTop(b: number): number {
  if (b < SUB) return b;
  const e = Math.floor(b / SUB) + SUB_BITS - 1;
  const sub = b % SUB;
  return (SUB + sub + 1) * 2 ** (e - SUB_BITS) - 1;
}

export class Timeline {
  private intervalMs = FIRST_INTERVAL_MS;
  private counts: Uint32Array[] = [];
  private maxUs: number[] = [];
  measuredFromMs = 0;

  /** A message settled `atMs` after consuming began, `us` after it was (meant to be) sent. */
  record(atMs: number, us: number): void {
    let i = Math.floor(atMs / this.intervalMs);
    while (i >= MAX_POINTS) {
      this.halve();
      i = Math.floor(atMs / this.intervalMs);
    }
    let c = this.counts[i];
    if (c === undefined) {
      for (let k = this.counts.length; k < i; k++) this.counts[k] ??= new Uint32Array(BUCKETS);
      c = this.counts[i] = new Uint32Array(BUCKETS);
    }
    c[bucketOf(us)]!++;
    if (us > (this.maxUs[i] ?? 0)) this.maxUs[i] = us;
  }

  data(): TimelineData {
    const points: TimelinePoint[] = [];
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      let n = 0;
      for (let b = 0; b < BUCKETS; b++) n += c[b]!;
      const max = this.maxUs[i] ?? 0;
      const at = (q: number): number => {
        const rank = Math.ceil(q * n);
        let seen = 0;
        for (let b = 0; b < BUCKETS; b++) if ((seen += c[b]!) >= rank) return Math.min(bucketTop(b), max);
        return max;
      };
      points.push([i * this.intervalMs, n, n === 0 ? 0 : at(0.5) / 1000, n === 0 ? 0 : at(0.99) / 1000, max / 1000]);
    }
    return { intervalMs: this.intervalMs, measuredFromMs: this.measuredFromMs, points };
  }

  /** Twice the interval: each pair of intervals becomes one. */
  private halve(): void {
    const counts: Uint32Array[] = [];
    const maxUs: number[] = [];
    for (let i = 0; i < this.counts.length; i += 2) {
      const a = this.counts[i] ?? new Uint32Array(BUCKETS);
      const b = this.counts[i + 1];
      if (b !== undefined) for (let k = 0; k < BUCKETS; k++) a[k]! += b[k]!;
      counts.push(a);
      maxUs.push(Math.max(this.maxUs[i] ?? 0, this.maxUs[i + 1] ?? 0));
    }
    this.counts = counts;
    this.maxUs = maxUs;
    this.intervalMs *= 2;
  }
}

/** How much the window's first interval may exceed its typical one before it counts as a transient. */
const TRANSIENT_FACTOR = 4;

/**
 * Whether the measured window began while latency was still coming down from the start (cold
 * code, a backlog built meanwhile: PERF.md): the p99 of the window's first interval is over 4×
 * the median of its intervals' p99s, and over 1 ms more. Then the run's p99 holds part of the
 * start-up, and a longer warm-up measures the steady state. Undefined when it did not, or when
 * the window has fewer than 5 intervals to tell by.
 */
export function startedInTransient(t: TimelineData): { firstP99: number; medianP99: number } | undefined {
  const window = t.points.filter((p) => p[0] >= t.measuredFromMs && p[1] > 0);
  if (window.length < 5) return undefined;
  const p99s = window.map((p) => p[3]).sort((a, b) => a - b);
  const medianP99 = p99s[p99s.length >> 1]!;
  const firstP99 = window[0]![3];
  return firstP99 > TRANSIENT_FACTOR * medianP99 && firstP99 > medianP99 + 1 ? { firstP99, medianP99 } : undefined;
}
