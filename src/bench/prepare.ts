import { fileURLToPath } from 'node:url';
import type { CompiledComponent } from '../component/load.js';
import { ComponentLinkError, ErrorCode, type SerializedError, errorFromJSON } from '../errors.js';
import { exitReason, forkBenchChild } from './exit-reason.js';
import { type Job, NOOP_COMPONENT, SPIN_COMPONENT } from './matrix.js';

/**
 * The bench's up-front check (runner side): the components the runs load are prepared once,
 * before any run or channel, in a process of their own (prepare-child.ts) — transpiled into the
 * cache, compiled and instantiated as the runs' engine and bare client will; with `--work`, the
 * spin component is calibrated there too. A component that does not load fails the bench there,
 * once, with the loader's error; before, one that passed `inspectComponent` but failed to
 * compile or instantiate (a start function that traps) failed each run in turn. This process
 * transpiles, compiles and instantiates nothing of them.
 */

type Binding = 'auto' | 'jco';

export interface PrepareJob {
  readonly cacheDir: string;
  /** Each component the runs load, and the bindings they call it through. */
  readonly components: ReadonlyArray<{ readonly path: string; readonly bindings: readonly Binding[] }>;
  /**
   * `--work`: the spin component (one of `components`) and the µs a call each calibration
   * aims at, once its instances were made; absent without work.
   */
  readonly calibrate?: { readonly path: string; readonly workUs: readonly number[] };
}

/**
 * What the preparing process tells the runner, in this order: `compiled`, `instantiated`, a
 * `calibrated` per `PrepareJob.calibrate.workUs`, then `ready` — or `error` at any point. Its
 * worker thread (prepare-worker.ts) posts all but `compiled`.
 */
export type PrepareMessage =
  | { readonly type: 'compiled' }
  | { readonly type: 'instantiated' }
  | { readonly type: 'calibrated'; readonly workUs: number; readonly rounds: number }
  | { readonly type: 'ready' }
  | { readonly type: 'error'; readonly error: SerializedError };

/** What the preparing process posts to its worker thread (prepare-worker.ts). */
export interface PrepareWorkerData {
  readonly components: ReadonlyArray<{ readonly component: CompiledComponent; readonly bindings: readonly Binding[] }>;
  readonly calibrate?: { readonly spin: CompiledComponent; readonly workUs: readonly number[] };
}

export interface PrepareLimits {
  /** Reading, transpiling and compiling still going after this long stops it (the bench fails). */
  readonly compileTimeoutMs: number;
  /** Instances not made this long after compiling (a start function that loops) fail the bench. */
  readonly instantiateTimeoutMs: number;
  /** Aborted: the preparing process is killed, and `prepareComponents` resolves false. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * What the runs of `jobs` load: each component with the bindings they call it through — the
 * engine its default (`auto`: the direct binding where the component fits it), the bare client
 * jco's glue, unless it calls nothing (the bundled no-op: child.ts); and the spin component's
 * calibrations, one per `--work` value.
 */
export function prepareJob(jobs: readonly Job[], cacheDir: string): PrepareJob {
  const bindings = new Map<string, Set<Binding>>();
  const workUs = new Set<number>();
  for (const job of jobs) {
    if (job.params.workUs > 0) workUs.add(job.params.workUs);
    const calls = job.side === 'engine' || job.params.workUs > 0 || job.componentPath !== NOOP_COMPONENT;
    if (!calls) continue;
    const set = bindings.get(job.componentPath) ?? new Set();
    set.add(job.side === 'engine' ? 'auto' : 'jco');
    bindings.set(job.componentPath, set);
  }
  return {
    cacheDir,
    components: [...bindings].map(([path, set]) => ({ path, bindings: [...set].sort() })),
    ...(workUs.size === 0 ? {} : { calibrate: { path: SPIN_COMPONENT, workUs: [...workUs] } }),
  };
}

const childFile = fileURLToPath(new URL('./prepare-child.js', import.meta.url));

/**
 * Prepares `job`'s components in a process of its own: resolves true once each one was loaded
 * and instantiated (the cache holds its transpile) and the spin component calibrated (each
 * result told to `calibrated` as it comes), false when `limits.signal` aborted it; rejects with
 * the loader's error (a WasmsgError of its class and code where it threw one).
 */
export function prepareComponents(
  job: PrepareJob,
  limits: PrepareLimits,
  calibrated: (workUs: number, rounds: number) => void = () => {},
): Promise<boolean> {
  const names = job.components.map((c) => c.path);
  return new Promise((resolve, reject) => {
    const { child, stderr } = forkBenchChild(childFile);
    let outcome: { readonly prepared: boolean } | { readonly error: Error } | undefined;
    const stop = (o: NonNullable<typeof outcome>): void => {
      outcome ??= o;
      child.kill('SIGKILL');
    };
    const seconds = Math.round(limits.compileTimeoutMs / 1000);
    let timer = setTimeout(() => {
      const why = `${names.join(', ')}: not read, transpiled and compiled within ${seconds} s (--run-timeout): stopped`;
      stop({ error: new ComponentLinkError(ErrorCode.transpile, why, { components: names }) });
    }, limits.compileTimeoutMs);
    const onAbort = (): void => stop({ prepared: false });
    if (limits.signal?.aborted === true) onAbort();
    else limits.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      outcome ??= { error: new Error(`the process preparing ${names.join(', ')}: ${e.message}`) };
    });
    child.on('message', (m: PrepareMessage) => {
      if (m.type === 'compiled') {
        // as the engine's start does (its instantiateTimeoutMs), with the same message
        clearTimeout(timer);
        timer = setTimeout(() => {
          const why = `${names.join(', ')}: not instantiated within ${limits.instantiateTimeoutMs} ms (the engine's instantiateTimeoutMs, as a run's start would take): does its start function loop?`;
          stop({
            error: new ComponentLinkError(ErrorCode.instantiate, why, {
              components: names,
              timeoutMs: limits.instantiateTimeoutMs,
            }),
          });
        }, limits.instantiateTimeoutMs);
      } else if (m.type === 'instantiated') {
        // the calibration after it has no time limit, as it had none in the bench process
        clearTimeout(timer);
      } else if (m.type === 'calibrated') {
        if (outcome === undefined) calibrated(m.workUs, m.rounds);
      } else if (m.type === 'ready') outcome ??= { prepared: true };
      else outcome ??= { error: m.error.code.startsWith('E_') ? errorFromJSON(m.error) : new Error(m.error.message) };
    });
    child.send(job);
    // 'close', not 'exit': at 'exit' the last of its stderr (the reason) may be still unread
    child.once('close', (code, exitSignal) => {
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      const o = outcome ?? {
        error: new Error(`${names.join(', ')}: ${exitReason(code, exitSignal, stderr(), 'the process preparing it')}`),
      };
      if ('error' in o) reject(o.error);
      else resolve(o.prepared);
    });
  });
}
