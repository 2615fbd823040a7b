/**
 * One `wasmsg bench` run, in a process of its own (forked by the runner), so no run inherits
 * another's heap, JIT state or peak RSS. Told a `ChildJob` on its IPC channel, it answers with
 * progress messages and then one `result` (or `error`), and exits.
 *
 * Timing: from the `warmup`-th settled message to the last, so connecting, group joins and JIT
 * warm-up weigh on neither side. Latency: settle time − the send time the payload carries.
 */
import { readFileSync } from 'node:fs';
import type * as hdr from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import type { BrokerAdapter } from '../brokers/adapter.js';
import { createBroker } from '../brokers/connect.js';
import { MemoryBroker } from '../brokers/memory.js';
import { DEFAULT_LEAD, leadFor } from '../brokers/synthetic.js';
import { Engine } from '../engine/engine.js';
import { bareConsume } from './bare.js';
import { dropChannel } from './channels.js';
import { distribution, newMeterHistogram } from './histogram.js';
import type { Job } from './matrix.js';
import { inThread } from './spin.js';
import { Timeline } from './timeline.js';
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

/** Partitions of the embedded broker's channel in a run. */
const PARTITIONS = 4;

/** MQTT keeps no backlog (Mosquitto queues 1000 messages per session): produce at most this far ahead (batches included). */
const MQTT_WINDOW = 600;

/** CPU ms of the calling thread (Linux), else NaN. */
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
  /** Messages settled as dead letters (the handler failed them): the run reports it. */
  failures = 0;
  start: Marks | undefined;
  /** When half of the measured messages had settled (see RunResult.secondHalfMsgsPerSec). */
  middle: number | undefined;
  end: Marks | undefined;
  /** The settled count at which `middle` is taken. */
  readonly half: number;
  /** Latency over time, the warm-up included. */
  readonly timeline = new Timeline();
  /** When consuming began (epoch ms; the first settle, if that came first). */
  private began = 0;
  /** Called at the end of the warm-up (the engine resets its stats there). */
  onWarm: () => void = () => {};
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  private waiter: { n: number; wake: () => void } | undefined;

  constructor(
    private readonly warmup: number,
    private readonly total: number,
    /** Latency in µs (hdr-histogram-js's WebAssembly build: recorded per message on the measured thread). */
    readonly latency: hdr.Histogram,
  ) {
    this.half = warmup + Math.ceil((total - warmup) / 2);
  }

  /** Consuming starts now: with no warm-up, the window starts here (not at set-up). */
  begin(): void {
    this.began ||= epochNow();
    if (this.warmup === 0) this.start = mark();
  }

  /** `now`: when it settled (a batch's messages settle at one instant: one clock read for them all). */
  settle(value: Uint8Array, ok = true, now = epochNow()): void {
    if (!ok) this.failures++;
    const n = ++this.settled;
    const us = Math.max(1, Math.round((now - sentAtOf(value)) * 1000));
    this.timeline.record(now - (this.began ||= now), us);
    if (n > this.warmup) {
      this.latency.recordValue(us);
      if (n === this.half) this.middle = performance.now();
    } else if (n === this.warmup) {
      this.start = mark();
      this.timeline.measuredFromMs = now - this.began;
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
    // in both modes: past Mosquitto's queue, QoS 1 messages are dropped and the run would never end
    ...(p.scheme === 'mqtt' ? { window: { size: MQTT_WINDOW, waitFor: (n) => meter.waitFor(n) } } : {}),
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
  // the embedded broker runs at most ≈ 8 MiB a partition ahead of its consumer (and holds any record size asked)
  const memory =
    p.scheme === 'memory'
      ? new MemoryBroker({ name: 'default', partitions: PARTITIONS, retentionBytes: Math.max(8 << 20, 4 * p.size) })
      : undefined;
  // at a fixed rate, a partition of the embedded broker holds at most its share of what the
  // engine may hold (its high-water mark), 2048 at least (see memorySink); the bare client: 2048
  let lead = p.rate > 0 ? DEFAULT_LEAD : undefined;
  const meter = new Meter(job.warmup, p.messages, await newMeterHistogram());
  const payloads = new Payloads(p.size, job.rounds);
  const fromAdapter = (a: BrokerAdapter): Promise<void> =>
    produce(adapterSink(a, job.channel, payloads), produceSpec(job, meter, payloads));
  const live = async (): Promise<void> => {
    if (preloads(job)) return;
    if (memory !== undefined) return produce(memorySink(memory, job.channel, lead), produceSpec(job, meter, payloads));
    return withProducer(job, fromAdapter);
  };
  /** Until every message settled; fails as soon as producing (or `failed`) does. */
  const settledAll = async (failed?: Promise<never>): Promise<void> => {
    meter.begin();
    const producing = live();
    await Promise.race([meter.done, producing.then(() => meter.done), ...(failed === undefined ? [] : [failed])]);
    await producing;
  };
  const ticker = setInterval(() => progress(meter.settled), 250);
  try {
    if (preloads(job)) await withProducer(job, fromAdapter); // inside: a failed preload's channel is dropped too
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
      meter.onWarm = () => engine.resetStats();
      if (lead !== undefined) lead = leadFor(engine.peakHighWater, PARTITIONS);
      // one event per acknowledged batch: an event object per message cost the engine's main
      // thread 0.13–0.5 µs a message here (PERF.md), as much as the meter itself
      engine.on('settledBatch', ({ records, outcome }) => {
        const ok = outcome === 'ok';
        const now = epochNow();
        for (const record of records) {
          meter.settle(record.value, ok, now);
          payloads.release(record.value); // the embedded broker's records are the producer's payloads
        }
      });
      await engine.start();
      try {
        await settledAll();
        handler = distribution(engine.histograms().handlerNs, 1000);
      } finally {
        await engine.stop();
      }
    } else {
      const work = job.rounds > 0 ? await inThread(job.componentPath, job.cacheDir) : undefined;
      const run = bareConsume(
        p.scheme,
        job.runUrl,
        job.channel,
        p.messages,
        (value, i) => work?.(value, i),
        memory,
        (value) => {
          meter.settle(value);
          payloads.release(value);
        },
        job.brokerOptions,
      );
      try {
        await run.ready;
        await settledAll(run.failed);
      } finally {
        await run.close();
      }
    }
    return result(job, meter, handler);
  } finally {
    clearInterval(ticker);
    meter.latency.destroy();
    await dropChannel(p.scheme, job.runUrl, job.channel).catch(() => {});
  }
}

function result(job: ChildJob, meter: Meter, handler: Distribution | null): RunResult {
  const start = meter.start!;
  const end = meter.end!;
  const ms = end.t - start.t;
  const measured = job.params.messages - job.warmup;
  const cpuProcess = end.process - start.process;
  const cpuMain = end.main - start.main; // NaN where /proc/thread-self is missing
  return {
    label: job.label,
    side: job.side,
    params: job.params,
    measured,
    elapsedMs: ms,
    msgsPerSec: (measured / ms) * 1000,
    ...(meter.middle === undefined || end.t <= meter.middle
      ? {}
      : { secondHalfMsgsPerSec: ((job.params.messages - meter.half) / (end.t - meter.middle)) * 1000 }),
    mbPerSec: (measured * job.params.size) / ms / 1000,
    latencyMs: distribution(meter.latency, 1000),
    timeline: meter.timeline.data(),
    handlerUs: handler,
    cpuMs: {
      process: cpuProcess,
      mainThread: Number.isNaN(cpuMain) ? 0 : cpuMain,
      workers: Number.isNaN(cpuMain) ? 0 : Math.max(0, cpuProcess - cpuMain),
    },
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    nodeFlags: process.execArgv,
    ...(meter.failures === 0
      ? {}
      : { error: `${meter.failures} of ${job.params.messages} messages were dead-lettered (the handler failed them)` }),
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
