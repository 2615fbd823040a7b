/**
 * The bench run's meter (in the run's process, src/bench/child.ts): counts settled messages,
 * records their latency after the warm-up, and marks the measured window and its second half.
 */
import { readFileSync } from 'node:fs';
import type * as hdr from 'hdr-histogram-js';
import { Timeline } from './timeline.js';
import { epochNow, sentAtOf } from './workload.js';

/** CPU ms of the calling thread (Linux), else NaN. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}
const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export interface Marks {
  /** Epoch ms: the settle instant the mark was taken at (a batch's messages share theirs). */
  t: number;
  process: number;
  main: number;
}
const mark = (t: number): Marks => ({ t, process: processCpuMs(), main: threadCpuMs() });

/** Counts settled messages, records their latency after the warm-up and marks the window. */
export class Meter {
  settled = 0;
  /** Messages settled as dead letters (the handler failed them): the run reports it. */
  failures = 0;
  /**
   * The window: from the warm-up's last message to the last one, each at its settle instant (as
   * `settle` is given it). A batch's messages settle at one instant, so a window, or a second
   * half, that settled within one batch has no duration — not the time this meter's own loop
   * took between the two messages (which made rates of ~10⁶ msgs/s).
   */
  start: Marks | undefined;
  end: Marks | undefined;
  /** When the half-th message settled (epoch ms), for RunResult.secondHalfMsgsPerSec. */
  private middleAt: number | undefined;
  /** The settled count at which the second half begins. */
  readonly half: number;
  /** Latency over time, the warm-up included. */
  readonly timeline = new Timeline();
  /** When consuming began (epoch ms; the first settle, if that came first). */
  private began = 0;
  /** Called at the end of the warm-up (the engine resets its stats there). */
  onWarm: () => void = () => {};
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  private waiter: { n: number; wake: () => void } | undefined;

  constructor(
    private readonly warmup: number,
    private readonly total: number,
    /** Latency in µs (hdr-histogram-js's WebAssembly build: recorded per message on the measured thread). */
    readonly latency: hdr.Histogram,
  ) {
    this.half = warmup + Math.ceil((total - warmup) / 2);
  }

  /** Consuming starts now: with no warm-up, the window starts here (not at set-up). */
  begin(): void {
    this.began ||= epochNow();
    if (this.warmup === 0) this.start = mark(this.began);
  }

  /** `now`: when it settled (a batch's messages settle at one instant: one clock read for them all). */
  settle(value: Uint8Array, ok = true, now = epochNow()): void {
    if (!ok) this.failures++;
    const n = ++this.settled;
    const us = Math.max(1, Math.round((now - sentAtOf(value)) * 1000));
    this.timeline.record(now - (this.began ||= now), us);
    if (n > this.warmup) {
      this.latency.recordValue(us);
      if (n === this.half) this.middleAt = now;
    } else if (n === this.warmup) {
      this.start = mark(now);
      this.timeline.measuredFromMs = now - this.began;
      this.onWarm();
    }
    if (this.waiter !== undefined && n >= this.waiter.n) {
      this.waiter.wake();
      this.waiter = undefined;
    }
    if (n === this.total) {
      this.end = mark(now);
      this.resolveDone();
    }
  }

  /** msgs/s over the last half of the measured messages; undefined when they settled at one instant. */
  secondHalfMsgsPerSec(): number | undefined {
    const from = this.middleAt;
    const to = this.end?.t;
    if (from === undefined || to === undefined || to <= from) return undefined;
    return ((this.total - this.half) / (to - from)) * 1000;
  }

  /** Resolves once n messages settled (one waiter at a time: the windowed producer). */
  waitFor(n: number): Promise<void> {
    if (this.settled >= n) return Promise.resolve();
    return new Promise((wake) => (this.waiter = { n, wake }));
  }
}
