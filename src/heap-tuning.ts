import { setFlagsFromString } from 'node:v8';

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
export const ENGINE_V8_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/**
 * For a process started without ENGINE_V8_FLAGS — `wasmsg` itself: its `#!` line is a plain
 * `#!/usr/bin/env node`, since flags there need `env -S`, which BusyBox's env (Alpine) lacks —
 * the nearest that can be set at run time: the floor for the worker threads started from now
 * on, and for the main thread's heap, whose size is set already, V8's largest growing factor
 * (`--heap-growing-percent=300`, ×4 the live heap): in-process at 300k msgs/s over 30 s, 7
 * mark-compacts and p99 4.85 ms, against none and 3.38 ms with the floor and ≈ 17 ms with neither
 * (PERF.md).
 */
export function tuneHeap(): void {
  if (process.execArgv.some((a) => a.startsWith('--initial-old-space-size'))) return;
  setFlagsFromString('--initial-old-space-size=128');
  setFlagsFromString('--heap-growing-percent=300');
}
