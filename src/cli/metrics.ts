import { type Server, createServer } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { EngineStats } from '../engine/stats.js';
import { UsageError } from './usage.js';

/**
 * `wasmsg run --metrics host:port`: Prometheus text on /metrics, /healthz and /readyz. Every value
 * is read from `engine.snapshot()` when scraped, so the engine's hot path pays nothing for them.
 */

export interface MetricsSource {
  snapshot(): EngineStats;
  /** True once every consumer is subscribed and every worker warm (engine.start() returned). */
  ready(): boolean;
}

export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new UsageError(
      `--metrics ${value}: expected host:port (e.g. 127.0.0.1:9464, or :9464 for every interface)`,
      'metrics',
    );
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** The registry: counters and gauges that read the engine's snapshot at collect time. */
export function metricsRegistry(source: MetricsSource): Registry {
  const register = new Registry();
  let snap: EngineStats | undefined;
  /** One snapshot per scrape: the first collector takes it, the others reuse it. */
  const stats = (): EngineStats => (snap ??= source.snapshot());
  const counter = (name: string, help: string, value: (s: EngineStats) => number): void => {
    new Counter({
      name,
      help,
      registers: [register],
      collect() {
        this.reset();
        this.inc(value(stats()));
      },
    });
  };
  const gauge = (name: string, help: string, value: (s: EngineStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [register],
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
    name: 'wasmsg_end_to_end_latency_seconds',
    help: 'Received to settled, from the HDR histogram (quantile 1 = the max).',
    labelNames: ['quantile'],
    registers: [register],
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
  const metrics = register.metrics.bind(register);
  register.metrics = async () => {
    snap = undefined;
    try {
      return await metrics();
    } finally {
      snap = undefined;
    }
  };
  return register;
}

/** Serves /metrics, /healthz (the process is up) and /readyz (503 until the engine has started). */
export async function serveMetrics(source: MetricsSource, where: string): Promise<{ url: string; server: Server }> {
  const { host, port } = parseHostPort(where);
  const register = metricsRegistry(source);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      register.metrics().then(
        (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = source.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'starting\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /healthz, /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shown}:${bound}`, server };
}
