import { Piscina } from 'piscina';
import { ComponentLinkError, ErrorCode, WasmsgError, describe, errorFromJSON } from '../errors.js';
import { logger } from '../log.js';
import type { FlushLogsTask, PoolWorkerData, WarmUpTask } from '../workers/protocol.js';
import type { ResolvedOptions } from './options.js';
import { cachePiscinaWorkerInterfaces } from './piscina-interfaces.js';

/**
 * The piscina pool of the engine's workers (main thread): made and warmed at start (every
 * worker holds warm instances before the first batch), asked for its dropped guest lines and
 * destroyed at stop. Dispatch (dispatch.ts) sends it the batches.
 */

/** The engine's own log lines (a worker failing outside a batch). */
const log = logger('engine');
/** How long a stop waits for the workers to report the guest lines they dropped. */
const FLUSH_LOGS_MS = 500;

/** Starts `o.workers` workers and waits until each holds warm instances (or rejects, the pool destroyed). */
export async function startPool(
  o: ResolvedOptions,
  workerData: PoolWorkerData,
  sources: readonly string[],
  /** Whether start has completed (a worker failing after it is logged, not a start failure). */
  started: () => boolean,
): Promise<Piscina> {
  cachePiscinaWorkerInterfaces(); // one balancer view per worker, not one per task (see there)
  const pool = new Piscina({
    filename: new URL('../workers/pool-worker.js', import.meta.url).href,
    minThreads: o.workers,
    maxThreads: o.workers,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    // a worker's next batch waits in its port while it runs one: it starts at once, without a
    // round trip to this thread (see Dispatcher.watch for how a looping handler is still stopped)
    concurrentTasksPerWorker: Math.min(2, Math.ceil(o.maxInFlightBatches / o.workers)),
    recordTiming: false, // piscina's own per-task histograms: not read, not paid for
    workerData,
  });
  // A worker that fails with no task of its own (a replacement whose component no longer
  // instantiates, a second worker of a failed start) is an 'error' event of the pool: without a
  // listener it ended the process, after start() had already rejected
  let bootError: unknown;
  pool.on('error', (err: unknown) => {
    if (!started()) bootError ??= err;
    else log.error({ err: describe(err) }, 'an engine worker failed outside a batch');
  });
  const warmUp: WarmUpTask = { warmUp: true };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        // a ComponentLinkError, as every other failure to instantiate (a start function that traps)
        new ComponentLinkError(
          ErrorCode.instantiate,
          `${sources.join(', ')}: not instantiated within ${o.instantiateTimeoutMs} ms (instantiateTimeoutMs): does its start function loop?`,
          { components: [...sources], timeoutMs: o.instantiateTimeoutMs },
        ),
      );
    }, o.instantiateTimeoutMs);
  });
  try {
    await Promise.race([onEachWorker(pool, o.workers, warmUp), timeout]);
  } catch (err) {
    await pool.destroy(); // terminates the workers, looping ones included
    throw fromWorker(err instanceof WasmsgError ? err : (bootError ?? err));
  } finally {
    clearTimeout(timer);
  }
  return pool;
}

/**
 * Destroys the pool; a started one's workers first report the guest lines their rate limit
 * dropped (the last window's too: an idle worker's timers do not run). A worker still held by a
 * handler is not waited for past FLUSH_LOGS_MS.
 */
export async function destroyPool(pool: Piscina, workers: number, started: boolean): Promise<void> {
  if (started) {
    const flush: FlushLogsTask = { flushLogs: true };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      onEachWorker(pool, workers, flush).catch(() => {}),
      new Promise((r) => (timer = setTimeout(r, FLUSH_LOGS_MS))),
    ]);
    clearTimeout(timer);
  }
  await pool.destroy();
}

/** One task on each worker: abortable tasks have a worker to themselves in piscina. */
function onEachWorker(pool: Piscina, workers: number, task: WarmUpTask | FlushLogsTask): Promise<unknown[]> {
  const alone = { signal: new AbortController().signal };
  return Promise.all(Array.from({ length: workers }, () => pool.run(task, alone)));
}

/**
 * An error a worker failed to start with, typed again: a WasmsgError thrown there (the
 * component's ComponentLinkError, with its code and context) crosses the thread as a plain
 * Error with those fields; it is rebuilt as its class, the original as its cause.
 */
function fromWorker(err: unknown): WasmsgError {
  if (err instanceof WasmsgError) return err;
  const e = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown; context?: unknown };
  if (typeof e.code === 'string' && e.code.startsWith('E_') && typeof e.message === 'string') {
    const context = typeof e.context === 'object' && e.context !== null ? (e.context as Record<string, unknown>) : {};
    const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : /^Error \[(\w+)\]/.exec(String(err))?.[1];
    const typed = errorFromJSON({ name: name ?? 'WasmsgError', code: e.code, message: e.message, context });
    Object.defineProperty(typed, 'cause', { value: err, configurable: true, writable: true });
    return typed;
  }
  return new WasmsgError(ErrorCode.instantiate, `engine workers failed to start: ${describe(err)}`, {}, { cause: err });
}
