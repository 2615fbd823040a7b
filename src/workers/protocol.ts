import type { CompiledComponent } from '../component/load.js';
import type { HostConfig } from '../component/types.js';

/**
 * The protocol between the engine (main thread) and its pool workers: what a worker gets at
 * start and what one task and its result are. Both sides import this file; the engine never
 * imports the worker's code. The slot layout itself is in src/codec/layout.ts.
 */

export interface PoolWorkerData {
  readonly components: CompiledComponent[];
  readonly hosts: Array<Omit<HostConfig, 'logger'>>;
  readonly arena: SharedArrayBuffer;
  readonly slotBytes: number;
  /** Int32[0]: workers that reached the start barrier (see the worker's warmUp). */
  readonly control: SharedArrayBuffer;
  readonly workers: number;
}

/** Sent `workers` times at start: returns once every worker has loaded and instantiated. */
export interface WarmUpTask {
  readonly warmUp: true;
}

/** Sent to each worker as the engine stops: report the guest lines its rate limit dropped. */
export interface FlushLogsTask {
  readonly flushLogs: true;
}

export interface PoolTask {
  readonly slot: number;
  readonly length: number;
  /** The request, when it did not fit its slot. */
  readonly inline?: Uint8Array;
}

export interface PoolTaskResult {
  readonly offset: number;
  readonly length: number;
  readonly inline?: Uint8Array;
  /** Every message ok with no outputs: nothing was written (the common case of a filter or sink). */
  readonly allOk?: true;
  /** µs spent decoding, calling and encoding (the worker's split, for the benchmarks). */
  readonly timing: [decode: number, call: number, encode: number];
}
