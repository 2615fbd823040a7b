import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags for a process that runs the engine: the CLI sets them on itself at start, the bench
 * runner passes them to each run's process, so `wasmsg run`, `wasmsg bench` and `npm run
 * bench:*` measure the same engine.
 *
 * `--no-allocation-site-pretenuring`: V8 allocates straight into the old generation from any
 * allocation site whose objects mostly survived a scavenge. A backlog (start-up, a burst) makes
 * the sites of the per-message objects (broker records, payload views, the engine's pending
 * entries) look long-lived, and afterwards every message's objects die in the old generation:
 * a mark-compact every ≈ 0.8 s and slower scavenges at a steady 178k msgs/s. Measured in
 * alternating pairs (PERF.md): GC pauses −30 %, p99 latency at half load 21–228 → 10–18 ms,
 * throughput equal or higher. Library users who embed the engine can pass the same flag to node.
 */
export const ENGINE_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** Sets ENGINE_V8_FLAGS on this process (before the engine allocates: at the CLI's start). */
export function tuneHeap(): void {
  for (const flag of ENGINE_V8_FLAGS) setFlagsFromString(flag);
}
