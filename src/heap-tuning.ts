import { type PerformanceEntry, PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * V8 flags for a process that runs the engine, given to node where this project starts it: each
 * `wasmsg bench` run's process, the `npm start` scripts, `npm run bench:*`'s children.
 *
 * `--initial-old-space-size=128`: under load V8 began marking the main thread's old generation
 * once ≈ 1 MB had been promoted since the last mark-compact (`--trace-incremental-marking`:
 * `Start (task): 14MB / 37MB / 23MB` — size, limit, room — every time: the limit follows the
 * live heap, and the room left was under what V8 keeps for the young generation). A mark-compact
 * every 0.4–0.7 s at 300k msgs/s, a 2–6 ms pause each plus marking steps of up to 8 ms: the p99 at
 * half load. With 128 MB as the old generation's least limit: none in 40 s at 300k msgs/s, p99 over
 * 30 s 17.1 → 4.0 ms, peak RSS unchanged (PERF.md). The cost: up to ≈ 128 MB of garbage before it
 * is collected. Worker threads get it too (a V8 flag is the process's); they promote almost
 * nothing (8.4 → 8.5 MB after 40 s, no mark-compact), and with it kept off them P1's run was
 * 3–8 % slower. A heap size acts only when a heap is made: set on a running process it reaches
 * the worker threads started afterwards, not the main thread.
 *
 * V8's pretenuring is left on: `--no-allocation-site-pretenuring` was here while the limit
 * followed the live heap (pretenured messages dying in the old generation meant a mark-compact
 * every ≈ 0.8 s); with the floor, pretenuring measured equal or better (PERF.md).
 *
 * A program that embeds the engine gets the same with `node --initial-old-space-size=128 app.js`.
 */
const FLOOR_MB = 128;
const FLOOR_FLAG = `--initial-old-space-size=${FLOOR_MB}`;
export const ENGINE_V8_FLAGS: readonly string[] = [FLOOR_FLAG];

/** The old generation's least limit, bytes (ENGINE_V8_FLAGS's `--initial-old-space-size`). */
const FLOOR = FLOOR_MB * 1024 * 1024;

/**
 * `--heap-growing-percent` for an old generation of `bytes`: the growth that puts its next limit
 * at about FLOOR (at most ×10), or 0 — V8's own factor — once it holds half the floor or more.
 */
export function growingPercentFor(bytes: number): number {
  if (bytes * 2 > FLOOR) return 0;
  return Math.min(900, Math.round((FLOOR / Math.max(1, bytes) - 1) * 100));
}

/**
 * For a process started without ENGINE_V8_FLAGS — `wasmsg` itself: its `#!` line is a plain
 * `#!/usr/bin/env node`, since flags there need `env -S`, which BusyBox's env (Alpine) lacks.
 * The worker threads started from now on get the floor itself. The main thread's heap exists
 * already, but V8 reads `--heap-growing-percent` each time it sets the old generation's next limit
 * (live × the factor): after each major collection the factor is set so that the next limit is
 * about the floor while the live heap is small (at most ×10), and left to V8 once the live heap
 * passes half the floor — never more garbage than the floor allows, unlike a fixed large factor.
 * In-process at 300k msgs/s over 30 s, p99: 3.88, 3.56, 4.76 ms (a major collection every ≈ 6 s,
 * started by external-memory pressure: the limit itself was ≈ 166 MB), against 3.33, 3.18 ms with
 * the floor given to node, 4.85 and 9.2 ms with a fixed ×4, ≈ 17 ms with neither (PERF.md).
 */
export function tuneHeap(): void {
  if (process.execArgv.some((a) => a.startsWith('--initial-old-space-size'))) return;
  setFlagsFromString(FLOOR_FLAG);
  const adjust = (): void => {
    // the old generation's size: every space but the young generation's (right after a major
    // collection, about what is live there)
    let live = 1;
    for (const space of getHeapSpaceStatistics()) {
      if (!space.space_name.startsWith('new_')) live += space.space_used_size;
    }
    setFlagsFromString(`--heap-growing-percent=${growingPercentFor(live)}`);
  };
  adjust();
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) adjust();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}
