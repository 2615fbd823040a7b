/**
 * `npm run bench:calls`: the component host on one thread, no engine. Per component, each
 * binding side by side in one run — jco 1.35's glue as jco emits it, the same glue with its
 * `_debugLog` calls removed (what the cache holds), and the direct canonical-ABI binding — each
 * in its own worker thread, run one at a time in rotating order, timed by the thread's own CPU
 * time. Also each component's size, cold transpile time and instantiate time.
 * Nothing else may run on the machine meanwhile.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ComponentInstance } from '../src/component/instance.js';
import { type CompiledComponent, loadComponent } from '../src/component/load.js';
import type { InboundMessage } from '../src/component/types.js';
import { examples, fixture, text } from '../test/helpers.js';
import type { CallsWorkerData } from './calls-worker.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 12);
/** CPU time one variant gets per round (ms). */
const ROUND_MS = Number(process.env['BENCH_ROUND_MS'] ?? 150);

/** A typical engine record: synthesised CloudEvent, 100-byte payload, two headers. */
const typical = (payload: Uint8Array): InboundMessage => ({
  payload,
  channel: 'orders',
  partition: 1,
  offset: '123456',
  key: 'user-42',
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', source: 'bench' },
  timestamp: 1_764_000_000_000,
});

const cases: Array<{ name: string; file: string; message: InboundMessage }> = [
  { name: 'noop (WAT, world A)', file: examples.noop, message: typical(text('x'.repeat(100))) },
  {
    name: 'noop (WAT, world A), minimal event',
    file: examples.noop,
    message: { payload: text('x'.repeat(100)), channel: 'in', offset: '1' },
  },
  {
    name: 'enrich (C, world A, publishes)',
    file: examples.enrich,
    message: typical(text('{"user":"ada","amount":1250}')),
  },
  { name: 'echo (WAT, world B, 2 host calls)', file: examples.echo, message: typical(text('x'.repeat(100))) },
  { name: 'mirror-b (WAT, world B, 6 host calls)', file: fixture('mirror-b'), message: typical(text('1'.repeat(100))) },
  { name: 'fizzbuzz (JS, world A)', file: examples.fizzbuzz, message: typical(text('fizz fizz fizz')) },
  { name: 'shout (JS, world B)', file: examples.shout, message: typical(text('x'.repeat(100))) },
];

type Variant = { label: 'jco' | 'jco, quiet' | 'direct'; component: CompiledComponent; binding: 'auto' | 'jco' };

/** jco's glue exactly as jco emits it (the cache holds it with `_debugLog` removed). */
async function originalGlue(file: string, dir: string): Promise<string> {
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const { readFile } = await import('node:fs/promises');
  const out = await transpileBytes(await readFile(file), {
    name: 'component',
    instantiation: 'sync',
    emitTypescriptDeclarations: false,
    nodejsCompat: true,
  });
  const glue = join(dir, `${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(glue, out.files['component.js']!);
  return pathToFileURL(glue).href;
}

function spawn(v: Variant, message: InboundMessage): Promise<{ worker: Worker; binding: string }> {
  const data: CallsWorkerData = { component: v.component, binding: v.binding, message };
  const worker = new Worker(new URL('./calls-worker.js', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', () => resolve({ worker, binding: v.binding }));
  });
}

function run(worker: Worker, calls: number): Promise<{ cpuNs: number; binding: string }> {
  return new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage({ calls });
  });
}

const cacheDir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
const glueDir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-glue-'));
const loadRows: string[] = [];
const callRows: string[] = [];
for (const c of cases) {
  let t = performance.now();
  const compiled = await loadComponent(c.file, { cacheDir });
  const coldLoad = performance.now() - t;
  t = performance.now();
  await loadComponent(c.file, { cacheDir });
  const warmLoad = performance.now() - t;
  t = performance.now();
  await ComponentInstance.create(compiled, { brokers: ['default'], logger: () => {} });
  const instantiate = performance.now() - t;
  if (!c.name.includes('minimal')) {
    loadRows.push(
      `| ${c.name.replace(/, (publishes|\d host calls)/, '')} | ${(statSync(c.file).size / 1024).toFixed(1)} KiB | ${coldLoad.toFixed(0)} ms | ${warmLoad.toFixed(0)} ms | ${instantiate.toFixed(1)} ms | ${compiled.binding.kind} |`,
    );
  }
  const variants: Variant[] = [
    { label: 'jco', component: { ...compiled, glueUrl: await originalGlue(c.file, glueDir) }, binding: 'jco' },
    { label: 'jco, quiet', component: compiled, binding: 'jco' },
  ];
  if (compiled.binding.kind === 'direct') variants.push({ label: 'direct', component: compiled, binding: 'auto' });
  const workers = await Promise.all(variants.map((v) => spawn(v, c.message)));
  // warm up (JIT tiers), then calibrate: calls per round so each variant spends about ROUND_MS of CPU
  const perRound: number[] = [];
  for (const w of workers) {
    let calls = 100;
    let probe = await run(w.worker, calls);
    for (let spent = probe.cpuNs; spent < ROUND_MS * 2e6; spent += probe.cpuNs) {
      calls = Math.min(calls * 2, 1_000_000);
      probe = await run(w.worker, calls);
    }
    perRound.push(Math.max(10, Math.round((ROUND_MS * 1e6 * calls) / Math.max(probe.cpuNs, 1))));
  }
  console.error(`${c.name}: ${perRound.join(' / ')} calls per round`);
  const cpu = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (round + k) % variants.length; // rotating order
      const r = await run(workers[i]!.worker, perRound[i]!);
      cpu[i]!.push(r.cpuNs / perRound[i]! / 1000);
    }
  }
  await Promise.all(workers.map((w) => w.worker.terminate()));
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const us = cpu.map(median);
  const cell = (i: number): string => (i < us.length ? `${us[i]!.toFixed(2)}` : '–');
  const ratio = (i: number): string => (i < us.length ? `${(us[0]! / us[i]!).toFixed(1)}×` : '–');
  callRows.push(`| ${c.name} | ${cell(0)} | ${cell(1)} (${ratio(1)}) | ${cell(2)} (${ratio(2)}) |`);
  console.error(callRows[callRows.length - 1]);
}
rmSync(cacheDir, { recursive: true, force: true });
rmSync(glueDir, { recursive: true, force: true });

console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${ROUNDS} rounds\n`);
console.log(
  '| component | size | transpile+compile (cold cache) | load (warm cache) | instantiate | default binding |',
);
console.log('|---|---|---|---|---|---|');
console.log(loadRows.join('\n'));
console.log('\nµs of CPU per call, one thread (median of rounds; × = faster than jco as emitted):\n');
console.log('| component | jco 1.35 glue | jco glue, `_debugLog` removed | direct binding |');
console.log('|---|---|---|---|');
console.log(callRows.join('\n'));
