/**
 * P5 — the engine on real brokers against each broker's bare npm client: `wasmsg bench`'s own
 * runner (src/bench/), with the Kafka mock started here. `npm run bench:brokers`; needs the
 * integration tests' servers. Nothing else may run on the machine meanwhile (2 shared cores).
 *
 *   tiny   engine end to end (noop WAT, 2 workers, ordering none) ÷ the bare client consuming
 *          the same messages and doing nothing but acknowledge them            goal ≥ 0.9
 *          (beside it, not instead: the same ratio over each run's second half, where JIT
 *          compilation still running when the window opens weighs less — PERF.md)
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
/**
 * Tiny pairs (bare, then engine) per broker, round after round. One tiny Kafka run lasts ≈ 0.15 s
 * and its ratio moved 0.59–1.14 between consecutive runs (PERF.md): the ratio given is the
 * median pair's, with every pair's beside it. Heavy runs last seconds and vary little: one round.
 */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
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
  const named = (runs: readonly RunResult[], what: string): RunResult[] =>
    runs.map((r) => ({ ...r, label: `${r.label} · ${what}` }));
  const tiny: RunResult[] = [];
  let first: BenchReport | undefined;
  for (let k = 1; k <= ROUNDS; k++) {
    const round = await runBench({ ...common, messages: N, workUs: [0] }, ctx, hooks);
    first ??= round;
    tiny.push(...named(round.runs, ROUNDS === 1 ? 'tiny' : `tiny, round ${k}`));
  }
  const heavy = await runBench({ ...common, messages: HEAVY_N, workUs: [HEAVY_US] }, ctx, hooks);
  report = { ...first!, runs: [...tiny, ...named(heavy.runs, 'heavy')] };
} finally {
  await mock?.stop();
}
const paths = await writeReport(OUT, report);

const f = (x: number | undefined, d = 0): string =>
  x === undefined ? '-' : x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
const find = (scheme: string, side: string, work: boolean): RunResult | undefined =>
  report.runs.find((r) => r.params.scheme === scheme && r.side === side && r.params.workUs > 0 === work);
/** A broker's tiny engine runs that have a ratio, by it: the median one is the table's. */
const tinyPairs = (scheme: string): RunResult[] =>
  report.runs
    .filter((r) => r.params.scheme === scheme && r.side === 'engine' && r.params.workUs === 0 && r.baseline)
    .sort((a, b) => a.baseline!.ratio - b.baseline!.ratio);
const median = (xs: readonly number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1]! + s[m]!) / 2;
};
console.log(
  `${report.machine.cpuModel} × ${report.machine.cpus}, node ${report.machine.node}; tiny: ${N} × 100 B, ${ROUNDS} round(s) of pairs; heavy: ${HEAVY_N}, spin ≈ ${HEAVY_US} µs; 5000 warm-up messages each; ${paths.html}\n`,
);
console.log(
  '| broker | bare, nothing | engine, noop WAT | **tiny: engine ÷ bare** (≥ 0.9; the median pair) | tiny, every pair | tiny, second halves (median) | bare + spin in-thread | engine + spin, 2 workers | **heavy: engine ÷ bare** (> 1) | p99 ms tiny engine / bare |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const b of BROKERS) {
  const pairs = tinyPairs(b);
  // the median pair (the lower middle one of an even count) and the bare run it was measured against
  const et = pairs[(pairs.length - 1) >> 1];
  const bt = et === undefined ? find(b, 'bare', false) : report.runs[report.runs.indexOf(et) - 1];
  const [bh, eh] = [find(b, 'bare', true), find(b, 'engine', true)];
  const every =
    pairs.length === 0
      ? '-'
      : report.runs
          .filter((r) => pairs.includes(r))
          .map((r) => f(r.baseline!.ratio, 2))
          .join(' / ');
  const halves = median(
    pairs.flatMap((r) => (r.baseline!.secondHalfRatio === undefined ? [] : [r.baseline!.secondHalfRatio])),
  );
  console.log(
    `| ${b} | ${f(bt?.msgsPerSec)} | ${f(et?.msgsPerSec)} | **${f(et?.baseline?.ratio, 2)}** | ${every} | ${f(halves, 2)} | ${f(bh?.msgsPerSec)} | ${f(eh?.msgsPerSec)} | **${f(eh?.baseline?.ratio, 2)}** | ${f(et?.latencyMs.p99, 0)} / ${f(bt?.latencyMs.p99, 0)} |`,
  );
}
