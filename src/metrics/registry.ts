import { Counter, Gauge, Registry } from 'prom-client';
import type { ChannelStats, ConsumerLag } from '../engine/counters.js';
import type { EngineHistograms, EngineStats } from '../engine/stats.js';
import { ErrorCode, OptionError } from '../errors.js';
import { HdrHistogramMetric } from './hdr.js';

/**
 * The engine's Prometheus metrics (prom-client), every value read from the engine when scraped:
 * its snapshot, its per-channel counters, its HDR histograms and its consumers' lag. Nothing is
 * observed per message, so an engine nobody scrapes pays nothing for them. `wasmsg run
 * --metrics` serves this registry (cli/metrics.ts); library users can serve it themselves.
 */

/** What the registry reads of an engine (an `Engine` is one). */
export interface MetricsEngine {
  readonly options: { readonly workers: number };
  snapshot(): EngineStats;
  histograms(): EngineHistograms;
  channelStats(): ChannelStats[];
  consumerLag(timeoutMs?: number): Promise<ConsumerLag[]>;
  /** Every consumer subscribed and every worker warm. */
  ready(): boolean;
  /** Backpressure has the consumers paused. */
  isPaused(): boolean;
  /** `statsReset`: emitted by resetStats() before the window restarts. */
  on(event: 'statsReset', listener: () => void): unknown;
}

export interface MetricsRegistryOptions {
  /** Register into this registry (default: a new one); metric names must not be taken in it (one engine's a registry). */
  readonly registry?: Registry;
  /** A scrape waits this long for each broker's consumer lag (default 1000 ms), then leaves it out. */
  readonly lagTimeoutMs?: number;
}

/** Bucket bounds, seconds: end-to-end latency (received → acked) and handler time per message. */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;
export const HANDLER_BUCKETS = [
  0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05, 0.1, 0.25, 0.5, 1, 5,
] as const;

const CHANNEL_LABELS = ['component', 'broker', 'channel'] as const;

/** The per-channel counters: metric name, help, field of ChannelStats. */
const CHANNEL_COUNTERS = [
  ['wasmsg_channel_received_total', 'Messages taken from the channel.', 'received'],
  ['wasmsg_channel_handled_ok_total', 'Messages of the channel whose handler returned ok.', 'processed'],
  ['wasmsg_channel_acked_total', 'Messages of the channel settled (acked: handled ok, or dead-lettered).', 'acked'],
  ['wasmsg_channel_handler_failures_total', 'Failed attempts on messages of the channel.', 'failed'],
  ['wasmsg_channel_retried_total', 'Messages of the channel retried.', 'retried'],
  ['wasmsg_channel_dead_lettered_total', 'Messages of the channel dead-lettered.', 'deadLettered'],
  [
    'wasmsg_channel_published_total',
    "Outputs published by the handlers for the channel's messages (labelled by the input's channel).",
    'published',
  ],
] as const satisfies ReadonlyArray<readonly [string, string, keyof ChannelStats]>;

/** A registry whose collectors read `engine` at scrape time (see the file comment). */
export function metricsRegistry(engine: MetricsEngine, options: MetricsRegistryOptions = {}): Registry {
  const register = options.registry ?? new Registry();
  // one engine's metrics a registry: their names carry no engine label (before, a second engine
  // given the same registry failed in prom-client's words, after its stats listener was added)
  if (register.getMetricsAsArray().some((m) => m.name.startsWith('wasmsg_'))) {
    throw new OptionError(
      ErrorCode.badOption,
      "metricsRegistry(engine, { registry }): the registry holds wasmsg_* metrics already (another engine's); give each engine a registry of its own (a process with two engines serves two, e.g. at two paths)",
      { option: 'registry' },
    );
  }
  const lagTimeoutMs = options.lagTimeoutMs ?? 1000;
  const registers = [register];
  // One snapshot and one channelStats() per scrape: prom-client runs every collector in the same
  // turn of the event loop; the first takes them, the others reuse them, the next turn forgets.
  let snap: EngineStats | undefined;
  let channels: ChannelStats[] | undefined;
  const forget = (): void => {
    snap = undefined;
    channels = undefined;
  };
  const stats = (): EngineStats => {
    if (snap === undefined) {
      snap = engine.snapshot();
      setImmediate(forget);
    }
    return snap;
  };
  const perChannel = (): ChannelStats[] => {
    if (channels === undefined) {
      channels = engine.channelStats();
      setImmediate(forget);
    }
    return channels;
  };
  // Counters never go down: what a stats window counted stays when resetStats() starts another
  // (before, every *_total fell back to the new window's count). Per series, what earlier windows
  // counted; the histograms carry theirs (HdrHistogramMetric.carry).
  const carried = new Map<string, number>();
  const carriedOf = (key: string): number => carried.get(key) ?? 0;
  const carry = (key: string, n: number): void => void carried.set(key, carriedOf(key) + n);
  const seriesKey = (name: string, c: ChannelStats): string => `${name}\0${c.component}\0${c.broker}\0${c.channel}`;
  const totals: Array<[string, (s: EngineStats) => number]> = [];
  const histograms: HdrHistogramMetric[] = [];
  engine.on('statsReset', () => {
    const s = engine.snapshot();
    for (const [name, value] of totals) carry(name, value(s));
    for (const c of engine.channelStats())
      for (const [name, , field] of CHANNEL_COUNTERS) carry(seriesKey(name, c), c[field]);
    for (const h of histograms) h.carry();
    forget();
  });
  const counter = (name: string, help: string, value: (s: EngineStats) => number): void => {
    totals.push([name, value]);
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(carriedOf(name) + value(stats()));
      },
    });
  };
  const gauge = (name: string, help: string, value: (s: EngineStats) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value(stats()));
      },
    });
  };
  counter('wasmsg_messages_received_total', 'Messages taken from the brokers.', (s) => s.received);
  counter('wasmsg_messages_handled_ok_total', 'Messages whose handler returned ok.', (s) => s.processed);
  counter(
    'wasmsg_messages_acked_total',
    'Messages settled (acked to the broker): handled ok, or dead-lettered after the last attempt.',
    (s) => s.acked,
  );
  counter('wasmsg_handler_failures_total', 'Handler attempts that returned an error or trapped.', (s) => s.failed);
  counter('wasmsg_messages_retried_total', 'Messages retried.', (s) => s.retried);
  counter(
    'wasmsg_messages_dead_lettered_total',
    'Messages dead-lettered after their last attempt.',
    (s) => s.deadLettered,
  );
  counter('wasmsg_messages_published_total', 'Messages the handlers published.', (s) => s.published);
  counter('wasmsg_batches_total', 'Batches run.', (s) => s.batches);
  for (const [name, help, field] of CHANNEL_COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: CHANNEL_LABELS,
      registers,
      collect() {
        this.reset();
        for (const c of perChannel()) {
          this.inc(
            { component: c.component, broker: c.broker, channel: c.channel },
            carriedOf(seriesKey(name, c)) + c[field],
          );
        }
      },
    });
  }
  gauge('wasmsg_in_flight_batches', 'Batches on the worker pool now.', (s) => s.inFlightBatches);
  gauge('wasmsg_buffered_messages', 'Messages held by the engine (received, not settled).', (s) => s.buffered);
  gauge('wasmsg_buffered_bytes', 'Payload bytes of the messages held.', (s) => s.bufferedBytes);
  gauge(
    'wasmsg_worker_call_seconds_mean',
    'Mean time a worker spent in the handler call, per message.',
    (s) => s.workerUs.call / 1e6,
  );
  gauge(
    'wasmsg_worker_codec_seconds_mean',
    'Mean time a worker spent decoding and encoding, per message.',
    (s) => (s.workerUs.decode + s.workerUs.encode) / 1e6,
  );
  gauge('wasmsg_up_seconds', 'Seconds since the engine started.', (s) => s.elapsedMs / 1000);
  new Gauge({
    name: 'wasmsg_paused',
    help: '1 while backpressure has the consumers paused (the engine holds its high-water mark of messages).',
    registers,
    collect() {
      this.set(engine.isPaused() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'wasmsg_ready',
    help: '1 once every consumer is subscribed and every worker warm (as /readyz).',
    registers,
    collect() {
      this.set(engine.ready() ? 1 : 0);
    },
  });
  // Utilisation over the time since the previous scrape (of this registry): the workers' busy
  // time grew by Δbusy while Δelapsed × workers of worker time passed. A batch's time is counted
  // when it returns, hence the clamp to 1. After resetStats() (the window restarted) it is
  // computed over the new window.
  let before = { busyMs: 0, elapsedMs: 0 };
  new Gauge({
    name: 'wasmsg_worker_utilisation',
    help: 'Share of worker time spent on batches (0-1) since the previous scrape.',
    registers,
    collect() {
      const s = stats();
      let busy = s.workerBusyMs - before.busyMs;
      let elapsed = s.elapsedMs - before.elapsedMs;
      if (busy < 0 || elapsed < 0) {
        busy = s.workerBusyMs;
        elapsed = s.elapsedMs;
      }
      before = { busyMs: s.workerBusyMs, elapsedMs: s.elapsedMs };
      const workers = engine.options.workers;
      this.set(elapsed <= 0 || workers <= 0 ? 0 : Math.min(1, Math.max(0, busy / (elapsed * workers))));
    },
  });
  new Gauge({
    name: 'wasmsg_consumer_lag',
    help: `Messages of the channel not yet acknowledged by the subscription's group, as the broker reports it (Kafka, Redis, NATS JetStream, RabbitMQ, memory); left out when the broker does not answer within ${lagTimeoutMs} ms.`,
    labelNames: CHANNEL_LABELS,
    registers,
    async collect() {
      const lags = await engine.consumerLag(lagTimeoutMs);
      this.reset();
      for (const l of lags) {
        if (l.lag !== undefined) this.inc({ component: l.component, broker: l.broker, channel: l.channel }, l.lag);
      }
    },
  });
  histograms.push(
    new HdrHistogramMetric(
      {
        name: 'wasmsg_latency_seconds',
        help: 'End to end in the engine: received from the broker to acked (HDR histogram, read when scraped).',
        buckets: LATENCY_BUCKETS,
        registers,
      },
      () => engine.histograms().latencyUs,
      1e6,
    ),
    new HdrHistogramMetric(
      {
        name: 'wasmsg_handler_seconds',
        help: "Handler call time per message (each batch's call time ÷ its messages; HDR histogram, read when scraped).",
        buckets: HANDLER_BUCKETS,
        registers,
      },
      () => engine.histograms().handlerNs,
      1e9,
    ),
  );
  new Gauge({
    name: 'wasmsg_end_to_end_latency_seconds',
    help: 'Received to settled, from the HDR histogram (quantile 1 = the max).',
    labelNames: ['quantile'],
    registers,
    collect() {
      const l = stats().latencyMs;
      for (const [q, v] of [
        ['0.5', l.p50],
        ['0.9', l.p90],
        ['0.99', l.p99],
        ['1', l.max],
      ] as const) {
        this.set({ quantile: q }, Math.min(v, l.max) / 1000);
      }
    },
  });
  return register;
}
