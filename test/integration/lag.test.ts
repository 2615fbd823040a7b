import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { metricsRegistry } from '../../src/metrics/registry.js';
import { cacheDir, examples, fixture } from '../helpers.js';
import { parseProm } from '../engine/prom-text.js';
import {
  type KafkaMock,
  type TestBroker,
  amqpBroker,
  kafkaBroker,
  natsBroker,
  redisBroker,
  runId,
  startKafkaMock,
} from './clients.js';

/**
 * `wasmsg_consumer_lag` against the real servers: an engine with two components on two channels
 * of one broker — noop (everything acked: lag 0 once the acks reached the server) and err with
 * a retry backoff longer than the test (its first message failed, the rest of its lane waits
 * behind it: every message delivered, none acked, lag = all of them).
 * The server learns of acks asynchronously and tells no one: the scrape is repeated until it
 * shows the expected value, within a deadline.
 */

const A = 50;
const B = 10;

async function scrapeUntil(
  register: ReturnType<typeof metricsRegistry>,
  done: (s: Map<string, number>) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let samples = parseProm(await register.metrics());
  while (!done(samples)) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; last scrape: ${[...samples]}`);
    await delay(50);
    samples = parseProm(await register.metrics());
  }
  return samples;
}

function lagSuite(open: () => Promise<TestBroker>, adapter: Record<string, unknown>): void {
  let tb: TestBroker;
  const channels: string[] = [];
  before(async () => {
    tb = await open();
  });
  after(async () => {
    await tb.cleanup(channels);
    await tb.close();
  });

  test('lag 0 after the drain, the backlog while nothing is acked', async () => {
    const a = `wasmsg.${runId}.${tb.name}.lag-a`;
    const b = `wasmsg.${runId}.${tb.name}.lag-b`;
    channels.push(a, b, `${b}.dlq`);
    await tb.prepare(a);
    await tb.prepare(b);
    const group = `lag-${runId}`;
    const engine = new Engine({
      brokers: [{ name: 'default', url: tb.url, options: { ...tb.adapterOptions(`lag-${runId}`), ...adapter } }],
      components: [
        { path: examples.noop, name: 'noop', subscriptions: [{ broker: 'default', channel: a, group: `${group}-a` }] },
        { path: fixture('err'), name: 'err', subscriptions: [{ broker: 'default', channel: b, group: `${group}-b` }] },
      ],
      workers: 2,
      retries: { maxAttempts: 2, backoffMs: 600_000, maxBackoffMs: 600_000 },
      deadLetter: { channel: `${b}.dlq` },
      cacheDir,
    });
    const register = metricsRegistry(engine, { lagTimeoutMs: 5000 });
    await engine.start();
    try {
      await tb.produce(
        a,
        Array.from({ length: A }, (_, i) => `a${i}`),
      );
      await tb.produce(
        b,
        Array.from({ length: B }, (_, i) => `b${i}`),
      );
      await engine.waitForSettled(A);
      const la = `{component="noop",broker="default",channel="${a}"}`;
      const lb = `{component="err",broker="default",channel="${b}"}`;
      const s = await scrapeUntil(
        register,
        (m) =>
          m.get(`wasmsg_consumer_lag${la}`) === 0 && (m.get(`wasmsg_channel_handler_failures_total${lb}`) ?? 0) >= 1,
        `lag of ${a} 0 and a failure on ${b}`,
      );
      assert.equal(s.get(`wasmsg_channel_acked_total${la}`), A);
      assert.equal(s.get(`wasmsg_channel_acked_total${lb}`), 0);
      await scrapeUntil(register, (m) => m.get(`wasmsg_consumer_lag${lb}`) === B, `lag of ${b} = ${B}`);
    } finally {
      await engine.stop();
    }
  });
}

describe('integration: consumer lag, redis', () => lagSuite(redisBroker, {}));
describe('integration: consumer lag, nats', () => lagSuite(natsBroker, { ackWaitMs: 600_000 }));
describe('integration: consumer lag, amqp', () => lagSuite(amqpBroker, {}));
describe('integration: consumer lag, kafka (mock cluster)', () => {
  let mock: KafkaMock;
  before(async () => {
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
  });
  lagSuite(() => kafkaBroker(mock), {});
});
