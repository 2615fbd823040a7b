/**
 * The bench's components, prepared once in a process of their own (forked by the runner before
 * any run: prepare.ts) as each run will load them: read, checked and transpiled into the cache,
 * their core modules compiled (`loadComponent`, as the engine's start does), then instantiated
 * in a worker thread as the engine's workers instantiate them (prepare-worker.ts). A component
 * that does not load fails here, once, with the loader's error; the runs then read the cache
 * this process filled. Not in the bench's process: transpiling the 12 MiB fizzbuzz-js takes it
 * to ≈ 300 MB, which the bench would have kept through every run. Told a `PrepareJob` on its IPC
 * channel, it answers `compiled`, then `ready` (or `error` at any point), and exits.
 */
import { Worker } from 'node:worker_threads';
import { loadComponent } from '../component/load.js';
import { type SerializedError, WasmsgError, describe } from '../errors.js';
import type { PrepareJob, PrepareMessage, PrepareWorkerData } from './prepare.js';

const workerFile = new URL('./prepare-worker.js', import.meta.url);

function send(m: PrepareMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(m, (err: Error | null) => (err === null ? resolve() : reject(err)));
  });
}

async function prepare(job: PrepareJob): Promise<SerializedError | undefined> {
  const components = [];
  for (const c of job.components)
    components.push({ component: await loadComponent(c.path, { cacheDir: job.cacheDir }), bindings: c.bindings });
  // before the instances are made: the runner times their making from this message on (a start
  // function may loop), so it is sent, and written, first
  await send({ type: 'compiled' });
  const worker = new Worker(workerFile, { workerData: { components } satisfies PrepareWorkerData });
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { ok: true } | { error: SerializedError }) =>
      resolve('error' in m ? m.error : undefined),
    );
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the thread instantiating the components exited with code ${code}`)),
    );
  });
}

// the bench gone (killed, crashed): nobody waits for this, a thread held by a looping start included
process.once('disconnect', () => process.exit(1));
process.once('message', (job: PrepareJob) => {
  const last = (m: PrepareMessage): void => {
    if (process.connected) process.send!(m, () => process.exit(0));
  };
  prepare(job).then(
    (error) => last(error === undefined ? { type: 'ready' } : { type: 'error', error }),
    (e: unknown) =>
      last({
        type: 'error',
        error: e instanceof WasmsgError ? e.toJSON() : { name: 'Error', code: '', message: describe(e) },
      }),
  );
});
