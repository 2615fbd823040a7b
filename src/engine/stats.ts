import * as hdr from 'hdr-histogram-js';
import { type SubscriptionCounters, totals } from './counters.js';

/** Counters and the end-to-end latency histogram (received → acked), in the main thread. */
export interface EngineStats {
  readonly received: number;
  /** Messages whose handler returned ok. */
  readonly processed: number;
  readonly acked: number;
  /** Handler attempts that returned err or trapped (each attempt counts). */
  readonly failed: number;
  readonly retried: number;
  readonly deadLettered: number;
  readonly published: number;
  readonly inFlightBatches: number;
  /** Batches run so far (messages ÷ batches = the mean batch size). */
  readonly batches: number;
  readonly buffered: number;
  /** Payload bytes of the messages held. */
  readonly bufferedBytes: number;
  readonly elapsedMs: number;
  readonly msgsPerSec: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Mean µs per message the workers spent decoding, calling and encoding. */
  readonly workerUs: { readonly decode: number; readonly call: number; readonly encode: number };
  /** ms the workers spent on batches in this window (decode + call + encode, all workers): utilisation = busyMs ÷ (elapsedMs × workers). */
  readonly workerBusyMs: number;
  /** Handler time per message, µs: each batch's call time ÷ its messages, weighted by its messages. */
  readonly handlerUs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
}

/** The engine's two histograms, for callers that want the whole distribution (bench, metrics). */
export interface EngineHistograms {
  /** End to end in the engine, µs: received from the adapter → acked. */
  readonly latencyUs: hdr.Histogram;
  /** Handler call time per message, ns (per batch: call time ÷ messages, counted once per message). */
  readonly handlerNs: hdr.Histogram;
}

/**
 * The totals and histograms. The message counters themselves live per subscription
 * (engine/counters.ts): each message counts once, on its subscription, and the totals are
 * their sum, made when a snapshot is taken.
 */
export class StatsRecorder {
  batches = 0;
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  /** Handler ns per message, one record per batch counted `messages` times. */
  private readonly handler = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  private readonly workerTotals = [0, 0, 0];
  private workerMessages = 0;
  private started = 0;

  constructor(
    /** Every subscription's counters (the engine's subscriptions and its `process()` inputs). */
    private readonly subs: () => Iterable<SubscriptionCounters>,
  ) {}

  start(): void {
    this.started = performance.now();
  }

  /** Zeroes the counters, the histogram and the clock (e.g. after a warm-up). */
  reset(): void {
    this.batches = 0;
    this.histogram.reset();
    this.handler.reset();
    this.workerTotals.fill(0);
    this.workerMessages = 0;
    this.start();
  }

  /** Latency in µs (integers in the histogram). */
  recordLatency(ms: number, count: number): void {
    this.histogram.recordValueWithCount(Math.max(1, Math.round(ms * 1000)), count);
  }

  /** A batch's worker timing; `called` of its `messages` reached the handler (the rest were skipped behind a failure). */
  recordWorker(timing: readonly number[], messages: number, called = messages): void {
    for (let i = 0; i < 3; i++) this.workerTotals[i]! += timing[i]!;
    this.workerMessages += messages;
    if (called > 0) this.handler.recordValueWithCount(Math.max(1, Math.round((timing[1]! * 1000) / called)), called);
  }

  histograms(): EngineHistograms {
    return { latencyUs: this.histogram, handlerNs: this.handler };
  }

  snapshot(inFlightBatches: number, buffered: number, bufferedBytes = 0): EngineStats {
    const elapsedMs = this.started === 0 ? 0 : performance.now() - this.started;
    const q = (p: number): number => atPercentile(this.histogram, p) / 1000;
    const h = (p: number): number => atPercentile(this.handler, p) / 1000;
    const per = (i: number): number => (this.workerMessages === 0 ? 0 : this.workerTotals[i]! / this.workerMessages);
    const t = totals(this.subs());
    return {
      ...t,
      inFlightBatches,
      batches: this.batches,
      buffered,
      bufferedBytes,
      elapsedMs,
      msgsPerSec: elapsedMs === 0 ? 0 : (t.acked / elapsedMs) * 1000,
      latencyMs: {
        p50: q(50),
        p90: q(90),
        p99: q(99),
        max: this.histogram.totalCount === 0 ? 0 : this.histogram.maxValue / 1000,
      },
      workerUs: { decode: per(0), call: per(1), encode: per(2) },
      workerBusyMs: (this.workerTotals[0]! + this.workerTotals[1]! + this.workerTotals[2]!) / 1000,
      handlerUs: {
        p50: h(50),
        p90: h(90),
        p99: h(99),
        max: this.handler.totalCount === 0 ? 0 : this.handler.maxValue / 1000,
      },
    };
  }
}

/**
 * The value at a percentile, never above the largest value recorded (hdr-histogram gives a
 * percentile as its bucket's upper end, which can exceed the max); 0 when empty.
 */
export function atPercentile(h: hdr.Histogram, p: number): number {
  return h.totalCount === 0 ? 0 : Math.min(h.getValueAtPercentile(p), h.maxValue);
}
