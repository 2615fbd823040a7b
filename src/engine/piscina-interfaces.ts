import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * piscina (5.3) builds, for every task it hands out, a fresh object per worker for its balancer:
 * `WorkerInfo`'s `interface` getter returns an object literal of six getters. V8 allocates such
 * literals and their accessor closures in the old generation, so each task left ≈ 1 KB of old
 * garbage per worker: in a fixed-rate run of the engine (100k msgs/s, batches of ≈ 65) they were
 * 5 of the 12.6 MB that reached the old generation in 3 s (a heap-sampling profile of objects not
 * collected by scavenges), and a loop creating them alone costs ≈ 3 µs each with a mark-compact
 * every 200 ms. Every property of that object is a getter that reads its worker when called (and
 * one the worker itself), so one object per worker serves exactly as a new one per task: the
 * getter is replaced by one that builds it once and keeps it on the worker.
 *
 * piscina's package exports only its entry point; its worker pool module is loaded by path,
 * which is the instance piscina itself required (one module cache). When the getter is not
 * found (another piscina), nothing is changed and false is returned.
 */
const CACHED = Symbol('wasmsg.cachedInterface');
let patched: boolean | undefined;

export function cachePiscinaWorkerInterfaces(): boolean {
  if (patched !== undefined) return patched;
  patched = false;
  try {
    const require = createRequire(import.meta.url);
    const file = join(dirname(require.resolve('piscina')), 'worker_pool', 'index.js');
    const proto = (require(file) as { WorkerInfo?: { prototype: object } }).WorkerInfo?.prototype;
    const build = proto === undefined ? undefined : Object.getOwnPropertyDescriptor(proto, 'interface')?.get;
    if (proto === undefined || build === undefined) return false;
    Object.defineProperty(proto, 'interface', {
      configurable: true,
      get(this: { [CACHED]?: unknown }) {
        return (this[CACHED] ??= build.call(this));
      },
    });
    patched = true;
  } catch {
    // a piscina laid out differently: left as it is
  }
  return patched;
}
