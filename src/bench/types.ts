import type { TimelineData } from './timeline.js';

/**
 * What `wasmsg bench` measures and writes (`report.json`); `report.html` is drawn from the same
 * object. Times are ms unless the name says otherwise; rates per second of wall-clock time.
 */

/** Percentile (0–100) and the value at it, in the histogram's unit, for the percentile plots. */
export type PercentilePoint = readonly [percentile: number, value: number];

export interface Distribution {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  /** The whole histogram, from 0 to 100 in steps that halve the distance to 100 (HdrHistogram's percentile output). */
  readonly percentiles: readonly PercentilePoint[];
}

/** One point of the matrix: what a run was asked to do. */
export interface RunParams {
  /** `memory`, or the broker URL with any password hidden. */
  readonly broker: string;
  /** The URL scheme: memory, kafka, nats, redis, amqp, mqtt. */
  readonly scheme: string;
  /** The component's file name (default: the embedded no-op). */
  readonly component: string;
  readonly messages: number;
  /** Payload bytes of each message. */
  readonly size: number;
  /** Distinct message keys (0: no keys). */
  readonly keys: number;
  readonly workers: number;
  readonly batch: number;
  readonly ordering: 'none' | 'partition' | 'key';
  /** µs of busy work the handler does per message (0: the component's own work only). */
  readonly workUs: number;
  /** `throughput`: a preloaded backlog, as fast as it goes; `rate`: open loop at `rate` msgs/s. */
  readonly mode: 'throughput' | 'rate';
  /** msgs/s of the fixed-rate mode, else 0. */
  readonly rate: number;
}

export interface RunResult {
  /** Short label, unique in the report: the broker and the parameters that vary. */
  readonly label: string;
  /** `engine`: wasmsg; `bare`: the broker's own npm client on the same workload (the baseline). */
  readonly side: 'engine' | 'bare';
  readonly params: RunParams;
  /** Messages measured (after the warm-up). */
  readonly measured: number;
  readonly elapsedMs: number;
  readonly msgsPerSec: number;
  /**
   * msgs/s over the last half of the measured messages: the rate once whatever was still warming
   * up when the window opened (JIT compilation on each thread, a consumer's fetch pipeline) had
   * more time to pass. Shown beside `msgsPerSec`, never instead of it.
   */
  readonly secondHalfMsgsPerSec?: number;
  /** Payload MB (10^6 bytes) per second. */
  readonly mbPerSec: number;
  /**
   * End to end, ms: the message's produce time (the intended send time in `rate` mode, so a stall
   * shows as latency) → settled (acked to the broker).
   */
  readonly latencyMs: Distribution;
  /** Handler time per message, µs, as the workers measure it (each batch's call time ÷ its messages); null for bare runs. */
  readonly handlerUs: Distribution | null;
  /** CPU of the whole process, of its main thread, and of everything else (the worker threads). */
  readonly cpuMs: { readonly process: number; readonly mainThread: number; readonly workers: number };
  readonly peakRssMb: number;
  /** The node flags the run's process was started with (the engine's V8 flags: src/heap-tuning.ts). */
  readonly nodeFlags: readonly string[];
  /**
   * Latency over the run, warm-up included: per interval (by settle time, from when consuming
   * began) the messages settled and their p50 / p99 / max, ms (src/bench/timeline.ts).
   */
  readonly timeline?: TimelineData;
  /** The same workload's bare-client run, when one was made: msgs/s, and this run ÷ it. */
  readonly baseline?: {
    readonly msgsPerSec: number;
    readonly ratio: number;
    /** The same ratio over each run's second half (see `secondHalfMsgsPerSec`), where both have one. */
    readonly secondHalfRatio?: number;
  };
  /** Set when the run failed; the numbers are then zero. */
  readonly error?: string;
}

export interface BenchReport {
  readonly version: 1;
  readonly createdAt: string;
  /** The command line that produced it. */
  readonly command: string;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryGb: number;
    readonly node: string;
    readonly platform: string;
  };
  readonly runs: readonly RunResult[];
}
