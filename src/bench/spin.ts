/**
 * The single-thread host loop and the spin handler's calibration (`wasmsg bench --work`, in the
 * process preparing the components: prepare-worker.ts), the bare baseline's in-thread handler,
 * and the repository's bench scripts: the same component called in this thread, one message at
 * a time, as a user would without the engine.
 */
import { performance } from 'node:perf_hooks';
import { ComponentInstance } from '../component/instance.js';
import { type CompiledComponent, loadComponent } from '../component/load.js';

export type Result = Record<string, number>;

/**
 * A component instance in this thread, and one `call` per message as the bare loop does it —
 * through jco's glue unless told otherwise: the baseline is what a user gets calling the
 * component with jco, without this engine.
 */
export async function inThread(
  file: string,
  cacheDir: string,
  binding: 'auto' | 'jco' = 'jco',
): Promise<(payload: Uint8Array, i: number) => void> {
  return callerOf(await loadComponent(file, { cacheDir }), binding);
}

/** `inThread` for a component already loaded (compiled). */
async function callerOf(
  component: CompiledComponent,
  binding: 'auto' | 'jco',
): Promise<(payload: Uint8Array, i: number) => void> {
  const instance = await ComponentInstance.create(component, { brokers: ['default'], logger: () => {}, binding });
  return (payload, i) => {
    const r = instance.call({ payload, channel: 'in', partition: i & 3, offset: String(i), timestamp: Date.now() });
    if (r.result.tag !== 'ok') throw new Error(`handler failed: ${JSON.stringify(r.result)}`);
  };
}

export async function raw(
  file: string,
  n: number,
  payloadOf: (i: number) => Uint8Array,
  cacheDir: string,
  binding: 'auto' | 'jco' = 'jco',
): Promise<Result> {
  const call = await inThread(file, cacheDir, binding);
  for (let i = 0; i < 2000; i++) call(payloadOf(i), i);
  const t = performance.now();
  for (let i = 0; i < n; i++) call(payloadOf(i), i);
  const ms = performance.now() - t;
  return { msgsPerSec: (n / ms) * 1000, usPerMsg: (ms * 1000) / n };
}

/** examples/spin-wat spins the number of rounds its payload starts with. */
export const spinPayload = (rounds: number): (() => Uint8Array) => {
  const p = new TextEncoder().encode(`${rounds} `);
  return () => p;
};

/**
 * Rounds of examples/spin-wat (`spin`, loaded) that make one call take ≈targetUs here, now: four
 * rounds of measuring, each ≈ 100 ms of calls (so a 5 ms handler is calibrated in under a second).
 */
export async function calibrate(
  targetUs: number,
  spin: CompiledComponent,
  binding: 'auto' | 'jco' = 'jco',
): Promise<number> {
  const call = await callerOf(spin, binding);
  let rounds = 1000;
  let usPerCall = NaN;
  for (let k = 0; k < 5; k++) {
    const payload = spinPayload(rounds)();
    const n = Number.isNaN(usPerCall) ? 200 : Math.min(5000, Math.max(10, Math.ceil(100_000 / usPerCall)));
    for (let i = 0; i < Math.min(n, 200); i++) call(payload, i);
    const t = performance.now();
    for (let i = 0; i < n; i++) call(payload, i);
    usPerCall = Math.max(0.01, ((performance.now() - t) * 1000) / n);
    rounds = Math.max(1, Math.round((rounds * targetUs) / usPerCall));
    usPerCall = targetUs; // what the next measure should take with the new rounds
  }
  return rounds;
}
