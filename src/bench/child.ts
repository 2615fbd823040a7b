/**
 * One `wasmsg bench` run, in a process of its own (forked by the runner), so no run inherits
 * another's heap, JIT state or peak RSS. Told a `ChildJob` on its IPC channel, it answers with
 * progress messages and then one `result` (or `error`), and exits.
 *
 * Timing: from the `warmup`-th settled message to the last, so connecting, group joins and JIT
 * warm-up weigh on neither side. Latency: settle time − the send time the payload carries.
 */
import type { BrokerAdapter } from '../brokers/adapter.js';
import { createBroker } from '../brokers/connect.js';
import { MemoryBroker } from '../brokers/memory.js';
import { DEFAULT_LEAD, leadFor } from '../brokers/synthetic.js';
import { Engine } from '../engine/engine.js';
import { bareConsume } from './bare.js';
import { deadLetterOf, dropRunChannels } from './channels.js';
import { distribution, newMeterHistogram } from './histogram.js';
import { type Job, NOOP_COMPONENT } from './matrix.js';
import { Meter } from './meter.js';
import { inThread } from './spin.js';
import type { Distribution, RunResult } from './types.js';
import { Payloads, type ProduceSpec, type Sink, adapterSink, epochNow, memorySink, produce } from './workload.js';

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
    produce(untilOrphaned(adapterSink(a, job.channel, payloads)), produceSpec(job, meter, payloads));
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
          // the run's own dead-letter channel, dropped with its channel (not the broker's shared one)
          deadLetter: { channel: deadLetterOf(job.channel) },
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
      await unlessOrphaned();
      const stopEngine = (): Promise<void> => engine.stop();
      openEnds.add(stopEngine);
      await engine.start();
      try {
        await settledAll();
        handler = distribution(engine.histograms().handlerNs, 1000);
      } finally {
        openEnds.delete(stopEngine);
        await engine.stop();
      }
    } else {
      // the bundled no-op is not called (consume, then acknowledge); the spin component (--work)
      // and a component of the user's are, in this thread, or the baseline would skip their work
      const calls = job.rounds > 0 || job.componentPath !== NOOP_COMPONENT;
      const work = calls ? await inThread(job.componentPath, job.cacheDir) : undefined;
      await unlessOrphaned(); // (its consumer would make the stream again)
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
      openEnds.add(run.close);
      try {
        await run.ready;
        await settledAll(run.failed);
      } finally {
        openEnds.delete(run.close);
        await run.close();
      }
    }
    return result(job, meter, handler);
  } finally {
    clearInterval(ticker);
    meter.latency.destroy();
    await dropRunChannels(p.scheme, job.runUrl, job.channel).catch(() => {});
  }
}

function result(job: ChildJob, meter: Meter, handler: Distribution | null): RunResult {
  const start = meter.start!;
  const end = meter.end!;
  const ms = end.t - start.t;
  const measured = job.params.messages - job.warmup;
  const cpuProcess = end.process - start.process;
  const cpuMain = end.main - start.main; // NaN where /proc/thread-self is missing
  const half = meter.secondHalfMsgsPerSec();
  const errors: string[] = [];
  if (meter.failures > 0)
    errors.push(`${meter.failures} of ${job.params.messages} messages were dead-lettered (the handler failed them)`);
  // the window's messages settled in the batch of the warm-up's last: they took no time apart
  const rate = ms > 0 ? 1000 / ms : 0;
  if (ms <= 0)
    errors.push(
      `the ${measured} measured messages settled in one batch with the warm-up's last: no time to rate them by; give more --messages or a smaller --warmup`,
    );
  return {
    label: job.label,
    side: job.side,
    params: job.params,
    measured,
    elapsedMs: ms,
    msgsPerSec: measured * rate,
    ...(half === undefined ? {} : { secondHalfMsgsPerSec: half }),
    mbPerSec: (measured * job.params.size * rate) / 1e6,
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
    ...(errors.length === 0 ? {} : { error: errors.join('; ') }),
  };
}

/** The runner went away without stopping this run (see the 'disconnect' listener below). */
let orphaned = false;
/** The producer's sends under way. */
const sending = new Set<Promise<void>>();
/** What the run has open that reads or writes its channels (the engine, the bare client): stopped first when orphaned. */
const openEnds = new Set<() => Promise<void>>();
/** How long an orphaned run waits for those to stop before it drops its channels all the same. */
const ORPHAN_GRACE_MS = 5000;

/**
 * Never resolves once the run is orphaned: nothing starts after that (an engine's or a bare
 * client's start makes its group, and the stream with it, again while the channels are dropped).
 */
function unlessOrphaned(): Promise<void> {
  return orphaned ? new Promise<void>(() => {}) : Promise.resolve();
}

/** A sink whose sends never end once the run is orphaned: its producer makes no more messages. */
function untilOrphaned(sink: Sink): Sink {
  return {
    ...sink,
    send: (batch) => {
      if (orphaned) return new Promise<void>(() => {});
      const sent = sink.send(batch);
      sending.add(sent);
      return sent.finally(() => sending.delete(sent));
    },
  };
}

// Its stderr is a pipe to the runner: once the runner is gone, a line written there (a client's
// warning, the logger's) fails with EPIPE, an 'error' that, with no listener, would end this
// process before it dropped its channels. Listened to from the start, not from 'disconnect' on:
// the runner may be gone a while before this process reads the end of its channel (a held loop).
// While the runner lives, it reads stderr to the end: nothing fails there.
process.stderr.on('error', () => {});

process.once('message', (job: ChildJob) => {
  // The runner gone without stopping this run (SIGKILLed, crashed): nobody reads its result, and
  // nobody would drop its channels after it. It stops producing and consuming (a send under way
  // would write to a dropped stream again, a Redis consumer make its group and stream again),
  // then drops them and ends, rather than go on alone.
  process.once('disconnect', () => {
    orphaned = true;
    const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => {});
    const wound = Promise.all([...[...openEnds].map((f) => quiet(f())), ...[...sending].map(quiet)]);
    const grace = new Promise((r) => setTimeout(r, ORPHAN_GRACE_MS).unref());
    void Promise.race([wound, grace])
      .then(() => dropRunChannels(job.params.scheme, job.runUrl, job.channel))
      .catch(() => {})
      .finally(() => process.exit(1));
  });
  // Not once orphaned (a send would throw); and a send's failure is ignored: the runner may be
  // gone before this process read the end of its channel (the loop runs a due timer, this
  // progress tick, before it polls), and the write fails (EPIPE) while process.connected still
  // says true. Without a callback that failure is an 'error' event on `process`, which nothing
  // listens to: an uncaught exception that ended this process before it dropped its channels.
  // The 'disconnect' that follows does what an orphan must.
  const send = (m: ChildMessage): void => {
    if (process.connected) process.send!(m, () => {});
  };
  // the last message, then exit: client libraries may hold sockets or timers open
  const last = (m: ChildMessage): void => {
    if (process.connected) process.send!(m, () => process.exit(0));
  };
  measure(job, (settled) => send({ type: 'progress', settled })).then(
    (result) => last({ type: 'result', result }),
    (e: unknown) => last({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
  );
});
