/**
 * P5 — the engine on real brokers against each broker's bare npm client, per broker, in one run.
 * `npm run bench:brokers` (needs the servers of the integration tests; starts the Kafka mock).
 * Nothing else may run on the machine meanwhile (2 shared cores).
 *
 *   tiny   engine end to end (noop WAT, 2 workers, ordering none) ÷ the bare client consuming
 *          the same messages and doing nothing but acknowledge them            goal ≥ 0.9
 *   heavy  the spin handler (≈HEAVY_US µs a call): the engine with 2 workers ÷ the bare client
 *          calling the same component in its own thread before each ack       goal > 1
 *
 * Each measure is a fresh child process consuming a fresh channel: the messages are produced
 * before it starts, and it is timed from its WARM-th acknowledgement to its last, so connecting,
 * joining and JIT warm-up weigh on neither side. MQTT cannot hold a backlog (Mosquitto's default
 * 1000 queued messages per session, beyond which QoS 1 messages are dropped): there the child
 * produces while it consumes, at most WINDOW messages ahead of its acknowledgements, on both
 * sides alike.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { examples } from '../test/helpers.js';
import {
  type KafkaMock,
  type TestBroker,
  amqpBroker,
  kafkaBroker,
  mqttBroker,
  natsBroker,
  redisBroker,
  runId,
  startKafkaMock,
} from '../test/integration/clients.js';
import { type Handle, bareConsume } from '../src/bench/bare.js';
import { type Result, calibrate, inThread } from '../src/bench/spin.js';

const cacheDir = process.env['WASMSG_CACHE_DIR'] ?? mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
const BROKERS = (process.env['BENCH_BROKERS'] ?? 'kafka,nats,redis,amqp,mqtt').split(',');
const N = Number(process.env['BENCH_N'] ?? 50_000);
const HEAVY_N = Number(process.env['BENCH_HEAVY_N'] ?? 20_000);
const HEAVY_US = Number(process.env['BENCH_HEAVY_US'] ?? 100);
const WARM = 5000;
/** MQTT's live producer: messages published and not yet acknowledged, at most. */
const WINDOW = 800;
const STEP = 200;

const openers: Record<string, (mock: KafkaMock | undefined) => Promise<TestBroker>> = {
  kafka: (mock) => kafkaBroker(mock!),
  nats: () => natsBroker(),
  redis: () => redisBroker(),
  amqp: () => amqpBroker(),
  mqtt: () => mqttBroker(),
};

type Handler = 'tiny' | 'heavy';
type Side = 'bare' | 'engine';

interface ChildSpec {
  readonly broker: string;
  readonly url: string;
  readonly channel: string;
  readonly side: Side;
  readonly handler: Handler;
  readonly total: number;
  readonly options: Record<string, unknown>;
  /** Set when the child itself produces while it consumes (MQTT); `rounds` makes the heavy payloads. */
  readonly live?: { readonly rounds: number };
}

const pad = (i: number): string => `m-${i}-`.padEnd(100, 'x');
const valuesOf = (handler: Handler, total: number, rounds: number): string[] =>
  Array.from({ length: total }, (_, i) => (handler === 'tiny' ? pad(i) : `${rounds} ${i}`));

/** Publishes every value, never more than WINDOW ahead of what the consumer acknowledged. */
async function paced(spec: ChildSpec, waitFor: (n: number) => Promise<void>): Promise<void> {
  const tb = await openers[spec.broker]!(undefined);
  const values = valuesOf(spec.handler, spec.total, spec.live!.rounds);
  for (let i = 0; i < values.length; i += STEP) {
    await waitFor(i - WINDOW);
    await tb.produce(spec.channel, values.slice(i, i + STEP));
  }
  await tb.close();
}

/** One measure, in this (child) process: its result. */
async function measure(spec: ChildSpec): Promise<Result> {
  if (spec.side === 'bare') {
    const handle: Handle = spec.handler === 'tiny' ? () => {} : await inThread(examples.spin, cacheDir);
    const run = bareConsume(spec.broker, spec.url, spec.channel, WARM, spec.total, handle);
    await run.ready;
    if (spec.live !== undefined) await paced(spec, (n) => run.waitFor(n));
    const ms = await run.ms;
    await run.close();
    return { msgsPerSec: ((spec.total - WARM) / ms) * 1000 };
  }
  const engine = new Engine({
    brokers: [{ name: 'default', url: spec.url, options: spec.options }],
    components: [
      {
        path: spec.handler === 'tiny' ? examples.noop : examples.spin,
        subscriptions: [{ broker: 'default', channel: spec.channel, kind: 'queue', group: `bench-${runId}` }],
      },
    ],
    workers: 2,
    ordering: 'none',
    cacheDir,
  });
  await engine.start();
  const producing = spec.live === undefined ? undefined : paced(spec, (n) => engine.waitForSettled(n));
  await engine.waitForSettled(WARM);
  const t0 = performance.now();
  await engine.waitForSettled(spec.total);
  const ms = performance.now() - t0;
  await producing;
  const s = engine.snapshot();
  await engine.stop();
  return { msgsPerSec: ((spec.total - WARM) / ms) * 1000, meanBatch: s.acked / s.batches };
}

if (process.argv[2] === 'child') {
  const spec = JSON.parse(process.env['BENCH_SPEC']!) as ChildSpec;
  process.stdout.write(`${JSON.stringify(await measure(spec))}\n`);
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);

async function child(spec: ChildSpec): Promise<Result> {
  const c = spawn(process.execPath, [self, 'child'], {
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir, BENCH_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => c.once('exit', resolve));
  let result: Result | undefined;
  for await (const line of createInterface({ input: c.stdout! })) {
    if (line.startsWith('{')) result = JSON.parse(line) as Result;
  }
  const code = await exited;
  if (result === undefined) throw new Error(`${spec.broker} ${spec.side} ${spec.handler}: child exited ${code}`);
  return result;
}

const mock = BROKERS.includes('kafka') ? await startKafkaMock([]) : undefined;
const rounds = await calibrate(HEAVY_US, cacheDir);
const rows: Array<Record<string, string | number>> = [];
let seq = 0;
try {
  for (const broker of BROKERS) {
    const tb = await openers[broker]!(mock);
    const channels: string[] = [];
    const r: Record<string, number> = {};
    for (const [handler, n] of [
      ['tiny', N],
      ['heavy', HEAVY_N],
    ] as const) {
      const total = WARM + n;
      const values = valuesOf(handler, total, rounds);
      for (const side of ['bare', 'engine'] as const) {
        const channel = `wasmsg.bench.${runId}.${broker}.${seq++}`;
        channels.push(channel);
        await tb.prepare(channel);
        const live = broker === 'mqtt';
        if (!live) await tb.produce(channel, values);
        const res = await child({
          broker,
          url: tb.url,
          channel,
          side,
          handler,
          total,
          // the adapters' defaults (the tests' options shrink prefetch and timeouts)
          options: broker === 'kafka' ? { sessionTimeoutMs: 6000 } : {},
          ...(live ? { live: { rounds } } : {}),
        });
        r[`${side}-${handler}`] = res['msgsPerSec']!;
        if (side === 'engine') r[`batch-${handler}`] = res['meanBatch']!;
        process.stderr.write(`${broker} ${handler} ${side}: ${Math.round(res['msgsPerSec']!)} msgs/s\n`);
      }
    }
    rows.push({ broker, ...r });
    await tb.cleanup(channels);
    await tb.close();
  }
} finally {
  await mock?.stop();
}

const f = (x: number | undefined, d = 0): string =>
  x === undefined ? '-' : x.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `node ${process.version}, ${process.platform}/${process.arch}; tiny: N = ${N} × 100 B, heavy: N = ${HEAVY_N}, spin ${rounds} rounds ≈ ${HEAVY_US} µs; ${WARM} warm-up messages each\n`,
);
console.log(
  '| broker | bare, nothing | engine, noop WAT | **tiny: engine ÷ bare** (≥ 0.9) | bare + spin in-thread | engine + spin, 2 workers | **heavy: engine ÷ bare** (> 1) | mean batch tiny / heavy |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const n = (k: string): number => r[k] as number;
  console.log(
    `| ${r['broker']} | ${f(n('bare-tiny'))} | ${f(n('engine-tiny'))} | **${f(n('engine-tiny') / n('bare-tiny'), 2)}** | ${f(n('bare-heavy'))} | ${f(n('engine-heavy'))} | **${f(n('engine-heavy') / n('bare-heavy'), 2)}** | ${f(n('batch-tiny'), 1)} / ${f(n('batch-heavy'), 1)} |`,
  );
}
