/**
 * One `wasmsg bench` run, in a process of its own (forked by the runner), so no run inherits
 * another's heap, JIT state or peak RSS. Told a `ChildJob` on its IPC channel, it answers with
 * progress messages and then one `result` (or `error`), and exits.
 *
 * Timing: from the `warmup`-th settled message to the last, so connecting, group joins and JIT
 * warm-up weigh on neither side. Latency: settle time − the send time the payload carries.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BrokerAdapter } from '../brokers/adapter.js';
import { createBroker } from '../brokers/connect.js';
import { MemoryBroker } from '../brokers/memory.js';
import { Engine } from '../engine/engine.js';
import { bareConsume } from './bare.js';
import { dropChannel } from './channels.js';
import { distribution, newHistogram } from './histogram.js';
import type { Job } from './matrix.js';
import { inThread } from './spin.js';
import type { Distribution, RunResult } from './types.js';
import { Payloads, type ProduceSpec, adapterSink, epochNow, memorySink, produce, sentAtOf } from './workload.js';

export interface ChildJob extends Job {
  /** This run's own channel, and the broker URL naming it. */
  readonly channel: string;
  readonly runUrl: string;
  readonly cacheDir: string;
  /** Spin rounds making ≈ params.workUs µs, 0 without work. */
  readonly rounds: number;
  /** Adapter options (the same for the engine's adapter and the producer). */
  readonly brokerOptions: Record<string, unknown>;
}

export type ChildMessage =
  | { readonly type: 'progress'; readonly settled: number }
  | { readonly type: 'result'; readonly result: RunResult }
  | { readonly type: 'error'; readonly message: string };

/** MQTT keeps no backlog (Mosquitto queues 1000 messages per session): produce at most this far ahead. */
const MQTT_WINDOW = 800;

/** CPU ns of the calling thread (Linux), else NaN. */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}
const processCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Marks {
  t: number;
  process: number;
  main: number;
}
const mark = (): Marks => ({ t: performance.now(), process: processCpuMs(), main: threadCpuMs() });

/** Counts settled messages, records their latency after the warm-up and marks the window. */
class Meter {
  settled = 0;
  readonly latency = newHistogram();
  start: Marks | undefined;
  end: Marks | undefined;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  private waiter: { n: number; wake: () => void } | undefined;

  constructor(
    private readonly warmup: number,
    private readonly total: number,
    private readonly onWarm: () => void = () => {},
  ) {
    if (warmup === 0) this.start = mark();
  }

  settle(value: Uint8Array): void {
    const n = ++this.settled;
    if (n > this.warmup) {
      this.latency.recordValue(Math.max(1, Math.round((epochNow() - sentAtOf(value)) * 1000)));
    } else if (n === this.warmup) {
      this.start = mark();
      this.onWarm();
    }
    if (this.waiter !== undefined && n >= this.waiter.n) {
      this.waiter.wake();
      this.waiter = undefined;
    }
    if (n === this.total) {
      this.end = mark();
      this.resolveDone();
    }
  }

  /** Resolves once n messages settled (one waiter at a time: the windowed producer). */
  waitFor(n: number): Promise<void> {
    if (this.settled >= n) return Promise.resolve();
    return new Promise((wake) => (this.waiter = { n, wake }));
  }
}

function produceSpec(job: ChildJob, meter: Meter, payloads: Payloads): ProduceSpec {
  const p = job.params;
  return {
    total: p.messages,
    size: p.size,
    keys: p.keys,
    rate: p.rate,
    payloads,
    ...(p.scheme === 'mqtt' && p.rate === 0 ? { window: { size: MQTT_WINDOW, waitFor: (n) => meter.waitFor(n) } } : {}),
  };
}

/** Preloads the backlog (throughput mode, brokers that keep one) before the consumer starts. */
const preloads = (job: ChildJob): boolean =>
  job.params.rate === 0 && job.params.scheme !== 'memory' && job.params.scheme !== 'mqtt';

async function withProducer<T>(job: ChildJob, f: (a: BrokerAdapter) => Promise<T>): Promise<T> {
  const adapter = await createBroker({ name: 'bench-producer', url: job.runUrl, options: job.brokerOptions });
  await adapter.connect();
  try {
    return await f(adapter);
  } finally {
    await adapter.close();
  }
}

async function measure(job: ChildJob, progress: (settled: number) => void): Promise<RunResult> {
  const p = job.params;
  const memory = p.scheme === 'memory' ? new MemoryBroker({ name: 'default', partitions: 4, retentionBytes: 8 * 1024 * 1024 }) : undefined;
  let meter!: Meter;
  const payloads = new Payloads(p.size, job.rounds);
  const fromAdapter = (a: BrokerAdapter): Promise<void> =>
    produce(adapterSink(a, job.channel, payloads), produceSpec(job, meter, payloads));
  if (preloads(job)) await withProducer(job, fromAdapter);
  const live = async (): Promise<void> => {
    if (preloads(job)) return;
    if (memory !== undefined) return produce(memorySink(memory, job.channel), produceSpec(job, meter, payloads));
    return withProducer(job, fromAdapter);
  };
  const ticker = setInterval(() => progress(meter.settled), 250);
  try {
    let handler: Distribution | null = null;
    if (job.side === 'engine') {
      const engine = new Engine(
        {
          ...(memory === undefined
            ? { brokers: [{ name: 'default', url: job.runUrl, options: job.brokerOptions }] }
            : {}),
          components: [
            {
              path: job.componentPath,
              subscriptions: [
                { broker: 'default', channel: job.channel, kind: 'queue', group: `bench-${job.channel}` },
              ],
            },
          ],
          workers: p.workers,
          ordering: p.ordering,
          batch: { maxMessages: p.batch },
          cacheDir: job.cacheDir,
        },
        memory === undefined ? [] : [memory],
      );
      meter = new Meter(job.warmup, p.messages, () => engine.resetStats());
      engine.on('settled', ({ record }: { record: { value: Uint8Array } }) => {
        meter.settle(record.value);
        payloads.release(record.value); // the embedded broker's records are the producer's payloads
      });
      await engine.start();
      const producing = live();
      await Promise.race([meter.done, producing.then(() => meter.done)]);
      await producing;
      handler = distribution(engine.histograms().handlerNs, 1000);
      await engine.stop();
    } else {
      const work = job.rounds > 0 ? await inThread(job.componentPath, job.cacheDir) : undefined;
      meter = new Meter(job.warmup, p.messages);
      const run = bareConsume(
        p.scheme,
        job.runUrl,
        job.channel,
        0,
        p.messages,
        (value, i) => {
          work?.(value, i);
          meter.settle(value);
          payloads.release(value);
        },
        memory,
      );
      await run.ready;
      const producing = live();
      await meter.done;
      await producing;
      await run.close();
    }
    return result(job, meter, handler);
  } finally {
    clearInterval(ticker);
    await dropChannel(p.scheme, job.runUrl, job.channel).catch(() => {});
  }
}

function result(job: ChildJob, meter: Meter, handler: Distribution | null): RunResult {
  const start = meter.start!;
  const end = meter.end!;
  const ms = end.t - start.t;
  const measured = job.params.messages - job.warmup;
  const cpuProcess = end.process - start.process;
  const cpuMain = end.main - start.main;
  return {
    label: job.label,
    side: job.side,
    params: job.params,
    measured,
    elapsedMs: ms,
    msgsPerSec: (measured / ms) * 1000,
    mbPerSec: (measured * job.params.size) / ms / 1000,
    latencyMs: distribution(meter.latency, 1000),
    handlerUs: handler,
    cpuMs: { process: cpuProcess, mainThread: cpuMain, workers: Math.max(0, cpuProcess - cpuMain) },
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

process.once('message', (job: ChildJob) => {
  const send = (m: ChildMessage): void => void process.send!(m);
  // the last message, then exit: client libraries may hold sockets or timers open
  const last = (m: ChildMessage): void => void process.send!(m, () => process.exit(0));
  measure(job, (settled) => send({ type: 'progress', settled })).then(
    (result) => last({ type: 'result', result }),
    (e: unknown) => last({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
});
