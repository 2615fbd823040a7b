import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags for a process that runs the engine: `wasmsg` starts node with them (the `#!` line of
 * src/cli/main.ts), `npm start` too, and the bench runner passes them to each run's process, so
 * `wasmsg run`, `wasmsg bench` and `npm run bench:*` measure the same engine.
 *
 * `--initial-old-space-size=128`: V8 starts marking the old generation once the room left under
 * its limit is less than the young generation's capacity. The limit follows the live heap
 * (≈ 1.5 × 14 MB here) and the young generation grows to 16 MB, so marking began after ≈ 1 MB
 * had been promoted: a mark-compact of the main thread every 0.4–0.7 s at 300k msgs/s, a
 * 2–6 ms pause each plus marking steps of up to 8 ms — the p99 at half load. With 128 MB as the
 * old generation's least limit: none in 40 s at 300k msgs/s, p99 over 30 s 17.1 → 4.0 ms, peak
 * RSS unchanged (PERF.md). The cost: up to ≈ 128 MB of garbage before it is collected. The
 * flag is the process's, so worker threads get the floor too; they promote almost nothing (8.4 →
 * 8.5 MB after 40 s at 300k msgs/s, no mark-compact), and with the floor kept off them P1's run
 * was 3–8 % slower and P6's p99 no better (3 pairs, PERF.md). A heap size takes effect only when
 * a heap is made: set on a running process, it reaches the worker threads started afterwards,
 * not the main thread.
 *
 * `--no-allocation-site-pretenuring` was here before it: after a backlog V8 allocated the
 * per-message objects straight into the old generation, where they died, and with the limit
 * following the live heap that meant a mark-compact every ≈ 0.8 s. With the 128 MB floor the
 * same backlog-then-steady run (300k records, then 300k msgs/s for 18 s) had 4 mark-compacts
 * either way and p99 4.9 ms with pretenuring against 6.2 without; `wasmsg bench` P1 none
 * 701/753/690k against 680/675/684k msgs/s (3 pairs), P6 p99 3.95/3.83/4.36 against
 * 4.04/4.37/4.30 ms (PERF.md). So V8's default is kept.
 *
 * A program that embeds the engine gets the same with `node <these flags> app.js`.
 */
export const ENGINE_V8_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/**
 * Sets ENGINE_V8_FLAGS on this process, for a `node dist/src/cli/main.js` started without them:
 * the heap size then reaches only the worker threads started afterwards.
 */
export function tuneHeap(): void {
  for (const flag of ENGINE_V8_FLAGS) setFlagsFromString(flag);
}
