/**
 * Single-thread handler calls per second through the component host (no engine, no workers),
 * plus each component's size, cold transpile time and instantiate time.
 * `npm run bench:calls`. Nothing else may run on the machine meanwhile.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { ComponentInstance } from '../src/component/instance.js';
import { loadComponent } from '../src/component/load.js';
import type { InboundMessage } from '../src/component/types.js';
import { examples, text } from '../test/helpers.js';

const cases: Array<{ name: string; file: string; message: InboundMessage }> = [
  {
    name: 'noop (WAT, world A)',
    file: examples.noop,
    message: { payload: text('x'.repeat(100)), channel: 'in', offset: '1' },
  },
  { name: 'echo (WAT, world B)', file: examples.echo, message: { payload: text('x'.repeat(100)), channel: 'in' } },
  {
    name: 'enrich (C, world A)',
    file: examples.enrich,
    message: { payload: text('{"user":"ada","amount":1250}'), channel: 'in', offset: '1' },
  },
  {
    name: 'fizzbuzz (JS, world A)',
    file: examples.fizzbuzz,
    message: { payload: text('fizz fizz fizz'), channel: 'in', offset: '1' },
  },
  { name: 'shout (JS, world B)', file: examples.shout, message: { payload: text('x'.repeat(100)), channel: 'in' } },
];

const cacheDir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
const bench = new Bench({ time: 1500, warmup: true });
const rows: string[] = [];
for (const c of cases) {
  let t = performance.now();
  const compiled = await loadComponent(c.file, { cacheDir });
  const coldLoad = performance.now() - t;
  t = performance.now();
  await loadComponent(c.file, { cacheDir });
  const warmLoad = performance.now() - t;
  t = performance.now();
  const instance = await ComponentInstance.create(compiled, { brokers: ['default'], logger: () => {} });
  const instantiate = performance.now() - t;
  rows.push(
    `| ${c.name} | ${(statSync(c.file).size / 1024).toFixed(1)} KiB | ${coldLoad.toFixed(0)} ms | ${warmLoad.toFixed(0)} ms | ${instantiate.toFixed(1)} ms |`,
  );
  bench.add(c.name, () => {
    instance.call(c.message);
  });
}
rmSync(cacheDir, { recursive: true, force: true });

await bench.run();
console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
console.log('| component | size | transpile+compile (cold cache) | load (warm cache) | instantiate |');
console.log('|---|---|---|---|---|');
console.log(rows.join('\n'));
console.log('\n| component | calls/s (one thread) | mean µs/call | p99 µs |');
console.log('|---|---|---|---|');
for (const task of bench.tasks) {
  const r = task.result as { throughput?: { mean: number }; latency?: { mean: number; p99?: number } } | undefined;
  const mean = r?.latency?.mean ?? NaN;
  console.log(
    `| ${task.name} | ${Math.round(1000 / mean).toLocaleString('en')} | ${(mean * 1000).toFixed(1)} | ${((r?.latency?.p99 ?? NaN) * 1000).toFixed(1)} |`,
  );
}
