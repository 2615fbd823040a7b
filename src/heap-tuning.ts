import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags for a process that runs the engine: `wasmsg` starts node with them (the `#!` line of
 * src/cli/main.ts), `npm start` too, and the bench runner passes them to each run's process, so
 * `wasmsg run`, `wasmsg bench` and `npm run bench:*` measure the same engine.
 *
 * `--no-allocation-site-pretenuring`: V8 allocates straight into the old generation from any
 * allocation site whose objects mostly survived a scavenge. A backlog (start-up, a burst) makes
 * the sites of the per-message objects (broker records, payload views, the engine's pending
 * entries) look long-lived, and afterwards every message's objects die in the old generation:
 * a mark-compact every ≈ 0.8 s and slower scavenges at a steady 178k msgs/s. Measured in
 * alternating pairs (PERF.md): GC pauses −30 %, p99 latency at half load 21–228 → 10–18 ms,
 * throughput equal or higher.
 *
 * `--initial-old-space-size=128`: V8 starts marking the old generation once the room left under
 * its limit is less than the young generation's capacity. The limit follows the live heap
 * (≈ 1.5 × 14 MB here) and the young generation grows to 16 MB, so marking began after ≈ 1 MB
 * had been promoted: a mark-compact of the main thread every 0.4–0.7 s at 300k msgs/s, a
 * 2–6 ms pause each plus marking steps of up to 8 ms — the p99 at half load. With 128 MB as the
 * old generation's least limit: none in 40 s at 300k msgs/s, p99 over 30 s 17.1 → 4.0 ms, peak
 * RSS unchanged (PERF.md). The cost: garbage of up to ≈ 128 MB a thread before it is collected.
 * A heap size takes effect only when a heap is made: set on a running process, it reaches the
 * worker threads started afterwards, not the main thread.
 *
 * A program that embeds the engine gets the same with `node <these flags> app.js`.
 */
export const ENGINE_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring', '--initial-old-space-size=128'];

/**
 * Sets ENGINE_V8_FLAGS on this process, for a `node dist/src/cli/main.js` started without them:
 * pretenuring changes at once, the heap size only for the worker threads started afterwards.
 */
export function tuneHeap(): void {
  for (const flag of ENGINE_V8_FLAGS) setFlagsFromString(flag);
}
