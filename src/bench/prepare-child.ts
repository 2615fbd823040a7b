/**
 * The bench's components, prepared once in a process of their own (forked by the runner before
 * any run: prepare.ts) as each run will load them: read, checked and transpiled into the cache,
 * their core modules compiled (`loadComponent`, as the engine's start does), then instantiated
 * in a worker thread as the engine's workers instantiate them (prepare-worker.ts), which then
 * calibrates the spin component (`--work`). A component that does not load fails here, once,
 * with the loader's error; the runs then read the cache this process filled. Not in the bench's
 * process: transpiling the 12 MiB fizzbuzz-js takes it to ≈ 300 MB, which the bench would have
 * kept through every run, and it compiles no WebAssembly, not even the spin component's. Told a
 * `PrepareJob` on its IPC channel, it answers `compiled`, then passes on what its worker thread
 * posts (`instantiated`, `calibrated`…, `ready`, or `error` at any point), and exits.
 */
import { Worker } from 'node:worker_threads';
import { type CompiledComponent, loadComponent } from '../component/load.js';
import { WasmsgError, describe } from '../errors.js';
import type { PrepareJob, PrepareMessage, PrepareWorkerData } from './prepare.js';

const workerFile = new URL('./prepare-worker.js', import.meta.url);

function send(m: PrepareMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(m, (err: Error | null) => (err === null ? resolve() : reject(err)));
  });
}

/** The job done: its last message, `ready` or `error` (the ones before it are sent on the way). */
async function prepare(job: PrepareJob): Promise<PrepareMessage> {
  const loaded = new Map<string, CompiledComponent>();
  const load = async (path: string): Promise<CompiledComponent> => {
    const c = loaded.get(path) ?? (await loadComponent(path, { cacheDir: job.cacheDir }));
    loaded.set(path, c);
    return c;
  };
  const components = [];
  for (const c of job.components) components.push({ component: await load(c.path), bindings: c.bindings });
  const calibrate =
    job.calibrate === undefined ? undefined : { spin: await load(job.calibrate.path), workUs: job.calibrate.workUs };
  // before the instances are made: the runner times their making from this message on (a start
  // function may loop), so it is sent, and written, first
  await send({ type: 'compiled' });
  const worker = new Worker(workerFile, {
    workerData: { components, ...(calibrate === undefined ? {} : { calibrate }) } satisfies PrepareWorkerData,
  });
  return new Promise((resolve, reject) => {
    worker.on('message', (m: PrepareMessage) => {
      if (m.type === 'ready' || m.type === 'error') resolve(m);
      // (a send to a bench gone meanwhile fails: ignored, the 'disconnect' that follows ends this process)
      else if (process.connected) process.send!(m, () => {});
    });
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
    (m) => last(m),
    (e: unknown) =>
      last({
        type: 'error',
        error: e instanceof WasmsgError ? e.toJSON() : { name: 'Error', code: '', message: describe(e) },
      }),
  );
});
