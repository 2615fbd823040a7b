/**
 * `npm run bench:wake`: what waking a sleeping worker thread costs the thread that wakes it — the
 * engine's main thread pays it for each batch it posts to an idle worker (piscina's `postTask`:
 * `port.postMessage`, then `Atomics.notify` on the word the worker sleeps on in `Atomics.wait`).
 * No engine: one worker thread that sleeps in `Atomics.wait` and is woken WAKES times, each wake
 * timed around `Atomics.notify` on the waking thread's clock. Three conditions, one after another:
 * - idle: nothing else runs;
 * - the other core busy: a second thread spins, as the other engine worker does mid-batch;
 * - the woken thread runs 200 µs: it works after each wake (a batch), while the waker goes on
 *   running 200 µs too (settling, dispatching), so the two want a core at the same time.
 * The wall time of `notify` includes any time the waker waited for a core meanwhile (a woken
 * thread placed on the waker's core and preempting it). Nothing else may run on the machine.
 */
import { Worker } from 'node:worker_threads';

const WAKES = Number(process.env['WAKES'] ?? 2000);

const sleeperSource = `
const { workerData } = require('node:worker_threads');
const word = new Int32Array(workerData.sab);
let seen = 0;
for (;;) {
  Atomics.wait(word, 0, seen);
  seen = Atomics.load(word, 0);
  if (seen < 0) break;
  const until = performance.now() + workerData.workMs;
  while (performance.now() < until);
  Atomics.store(word, 1, seen);
}`;
const spinnerSource = `
const { workerData } = require('node:worker_threads');
const word = new Int32Array(workerData.sab);
while (Atomics.load(word, 2) === 0);`;

const spin = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

async function measure(label: string, busyCore: boolean, workMs: number): Promise<void> {
  const sab = new SharedArrayBuffer(16);
  const word = new Int32Array(sab);
  const sleeper = new Worker(sleeperSource, { eval: true, workerData: { sab, workMs } });
  const spinner = busyCore ? new Worker(spinnerSource, { eval: true, workerData: { sab } }) : undefined;
  await new Promise((r) => setTimeout(r, 200)); // both threads started, the sleeper asleep
  const us: number[] = [];
  let missed = 0; // the sleeper was not asleep yet (not counted)
  for (let i = 1; i <= WAKES; i++) {
    Atomics.store(word, 0, i);
    const t0 = performance.now();
    const woke = Atomics.notify(word, 0, 1);
    const t1 = performance.now();
    if (woke === 1) us.push((t1 - t0) * 1000);
    else missed++;
    spin(workMs); // the waker's own work meanwhile
    while (Atomics.load(word, 1) !== i); // the woken thread has done its part
    await new Promise((r) => setTimeout(r, 1)); // and is asleep again by the next wake
  }
  Atomics.store(word, 0, -1);
  Atomics.notify(word, 0);
  Atomics.store(word, 2, 1);
  await Promise.all([sleeper, ...(spinner ? [spinner] : [])].map((w) => new Promise((r) => w.once('exit', r))));
  us.sort((a, b) => a - b);
  const q = (p: number): string => us[Math.min(us.length - 1, Math.floor(p * us.length))]!.toFixed(1);
  const mean = us.reduce((a, b) => a + b, 0) / us.length;
  console.log(
    `| ${label} | ${us.length} | ${mean.toFixed(1)} | ${q(0.5)} | ${q(0.9)} | ${q(0.99)} | ${q(0.999)} |${missed > 0 ? ` ${missed} not asleep yet` : ''}`,
  );
}

console.log(`node ${process.version}, ${WAKES} wakes each: Atomics.notify's wall time on the waking thread, µs\n`);
console.log('| condition | wakes | mean | p50 | p90 | p99 | p99.9 |');
console.log('|---|---|---|---|---|---|---|');
await measure('idle', false, 0);
await measure('the other core busy (a spinning thread)', true, 0);
await measure('the woken thread and the waker each run 200 µs after the wake', false, 0.2);
await measure('both: the other core busy, and 200 µs each', true, 0.2);
