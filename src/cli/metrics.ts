import { type Server, createServer } from 'node:http';
import { type MetricsEngine, type MetricsRegistryOptions, metricsRegistry } from '../metrics/registry.js';
import { UsageError } from './usage.js';

/**
 * `wasmsg run --metrics host:port`: Prometheus text on /metrics (the registry of
 * metrics/registry.ts: every value is read from the engine when scraped, so the engine's hot path
 * pays nothing for them), /healthz and /readyz.
 */

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

/**
 * Serves /metrics, /healthz (the process is up) and /readyz (200 while the engine runs with every
 * consumer subscribed and every worker warm, 503 before and once stopping).
 */
export async function serveMetrics(
  engine: MetricsEngine,
  where: string,
  options: MetricsRegistryOptions = {},
): Promise<{ url: string; server: Server }> {
  const { host, port } = parseHostPort(where);
  const register = metricsRegistry(engine, options);
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
      const ready = engine.ready();
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
