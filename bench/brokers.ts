/**
 * P5 — the engine on real brokers against each broker's bare npm client: `wasmsg bench`'s own
 * runner (src/bench/), with the Kafka mock started here. `npm run bench:brokers`; needs the
 * integration tests' servers. Nothing else may run on the machine meanwhile (2 shared cores).
 *
 *   tiny   engine end to end (noop WAT, 2 workers, ordering none) ÷ the bare client consuming
 *          the same messages and doing nothing but acknowledge them            goal ≥ 0.9
 *   heavy  the spin handler (≈HEAVY_US µs a call): the engine with 2 workers ÷ the bare client
 *          calling the same component in its own thread before each ack       goal > 1
 *
 * Writes bench-report/brokers/report.{json,html} and prints PERF.md's table.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from '../src/bench/matrix.js';
import { writeReport } from '../src/bench/report.js';
import { runBench } from '../src/bench/runner.js';
import type { BenchReport, RunResult } from '../src/bench/types.js';
import { startKafkaMock } from '../test/integration/clients.js';

const cacheDir = process.env['WASMSG_CACHE_DIR'] ?? mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
const BROKERS = (process.env['BENCH_BROKERS'] ?? 'kafka,nats,redis,amqp,mqtt').split(',');
const N = Number(process.env['BENCH_N'] ?? 50_000);
const HEAVY_N = Number(process.env['BENCH_HEAVY_N'] ?? 20_000);
const HEAVY_US = Number(process.env['BENCH_HEAVY_US'] ?? 100);
const OUT = process.env['BENCH_OUT'] ?? 'bench-report/brokers';

const mock = BROKERS.includes('kafka') ? await startKafkaMock([]) : undefined;
const urls: Record<string, string> = {
  memory: 'memory',
  kafka: `kafka://${mock?.bootstrap.split(',')[0]}/wasmsg-bench`,
  nats: 'nats://127.0.0.1:4222/wasmsg-bench',
  redis: 'redis://127.0.0.1:6379/wasmsg-bench',
  amqp: 'amqp://guest:guest@127.0.0.1:5672/wasmsg-bench',
  mqtt: 'mqtt://127.0.0.1:1883/wasmsg-bench',
};
const common: Omit<BenchOptions, 'messages' | 'workUs'> = {
  brokers: BROKERS.map((b) => urls[b]!),
  sizes: [100],
  keys: [16],
  workers: [2],
  batch: [1024], // the engine's default
  ordering: ['none'],
  rates: [],
  baseline: true,
  warmup: 5000,
};
const ctx = { cacheDir, command: 'npm run bench:brokers', brokerOptions: { kafka: { sessionTimeoutMs: 6000 } } };
const hooks = {
  runEnd: (r: RunResult): void =>
    void process.stderr.write(`${r.label} (${r.side}): ${r.error ?? `${Math.round(r.msgsPerSec)} msgs/s`}\n`),
};
let report: BenchReport;
try {
  const tiny = await runBench({ ...common, messages: N, workUs: [0] }, ctx, hooks);
  const heavy = await runBench({ ...common, messages: HEAVY_N, workUs: [HEAVY_US] }, ctx, hooks);
  const named = (runs: readonly RunResult[], what: string): RunResult[] =>
    runs.map((r) => ({ ...r, label: `${r.label} · ${what}` }));
  report = { ...tiny, runs: [...named(tiny.runs, 'tiny'), ...named(heavy.runs, 'heavy')] };
} finally {
  await mock?.stop();
}
const paths = await writeReport(OUT, report);

const f = (x: number | undefined, d = 0): string =>
  x === undefined ? '-' : x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
const find = (scheme: string, side: string, work: boolean): RunResult | undefined =>
  report.runs.find((r) => r.params.scheme === scheme && r.side === side && r.params.workUs > 0 === work);
console.log(
  `${report.machine.cpuModel} × ${report.machine.cpus}, node ${report.machine.node}; tiny: ${N} × 100 B, heavy: ${HEAVY_N}, spin ≈ ${HEAVY_US} µs; 5000 warm-up messages each; ${paths.html}\n`,
);
console.log(
  '| broker | bare, nothing | engine, noop WAT | **tiny: engine ÷ bare** (≥ 0.9) | bare + spin in-thread | engine + spin, 2 workers | **heavy: engine ÷ bare** (> 1) | p99 ms tiny engine / bare |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const b of BROKERS) {
  const [bt, et, bh, eh] = [
    find(b, 'bare', false),
    find(b, 'engine', false),
    find(b, 'bare', true),
    find(b, 'engine', true),
  ];
  console.log(
    `| ${b} | ${f(bt?.msgsPerSec)} | ${f(et?.msgsPerSec)} | **${f(et?.baseline?.ratio, 2)}** | ${f(bh?.msgsPerSec)} | ${f(eh?.msgsPerSec)} | **${f(eh?.baseline?.ratio, 2)}** | ${f(et?.latencyMs.p99, 0)} / ${f(bt?.latencyMs.p99, 0)} |`,
  );
}
