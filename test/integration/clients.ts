import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { AckPolicy, DeliverPolicy, connect as natsConnect, headers as natsHeaders } from 'nats';
import { at } from '../helpers.js';

/**
 * Independent clients for the integration tests: they produce the input and read the outputs
 * back with each broker's own npm client, never through wasmsg's adapters. URLs come from the
 * environment (defaults: the standard local ports); the Kafka mock is started here.
 */

export interface ReadRecord {
  readonly value: string;
  readonly headers: Record<string, string>;
}

export interface Reader {
  readonly records: ReadRecord[];
  /** Resolves once `n` records have arrived; rejects after `timeoutMs` naming what arrived. */
  until(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves once `n` different values have arrived (at-least-once: duplicates allowed). */
  untilDistinct(n: number, timeoutMs?: number): Promise<void>;
  /** The number of different values read so far. */
  distinct(): number;
  close(): Promise<void>;
}

export interface TestBroker {
  readonly name: string;
  /** Base URL of the server for the engine's `brokers` option. */
  readonly url: string;
  /** Adapter options the tests need (e.g. a stable MQTT client id). */
  adapterOptions(engineId: string): Record<string, unknown>;
  /** Makes `channel` ready to take input (streams, queues, topics). */
  prepare(channel: string): Promise<void>;
  /** Produces to `channel` as a queue (default) or, where the broker tells them apart (AMQP), a topic. */
  produce(channel: string, values: string[], kind?: 'queue' | 'topic', headers?: Record<string, string>): Promise<void>;
  /** How this broker's CloudEvents binding prefixes attributes in headers (binary mode). */
  readonly cePrefix: string;
  /** Starts reading `channel` (as written by a component: topic outputs, or the dead-letter queue). */
  reader(channel: string, kind: 'topic' | 'queue'): Promise<Reader>;
  cleanup(channels: string[]): Promise<void>;
  close(): Promise<void>;
}

export const runId = `t${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;

function makeReader(onClose: () => Promise<void>): { reader: Reader; push: (r: ReadRecord) => void } {
  const records: ReadRecord[] = [];
  const values = new Set<string>();
  // each waiter is checked on every record that arrives: no polling
  const waiters = new Set<() => boolean>();
  const waitFor = (done: () => boolean, what: () => string, timeoutMs: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (done()) return resolve();
      const check = (): boolean => {
        if (!done()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${what()} in ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
    });
  return {
    push: (r) => {
      records.push(r);
      values.add(r.value);
      for (const w of waiters) if (w()) waiters.delete(w);
    },
    reader: {
      records,
      until: (n, timeoutMs = 60_000) =>
        waitFor(
          () => records.length >= n,
          () => `read ${records.length} of ${n} records`,
          timeoutMs,
        ),
      untilDistinct: (n, timeoutMs = 60_000) =>
        waitFor(
          () => values.size >= n,
          () => `read ${values.size} of ${n} different values`,
          timeoutMs,
        ),
      distinct: () => values.size,
      close: onClose,
    },
  };
}

const text = (b: Uint8Array | Buffer | string): string => (typeof b === 'string' ? b : Buffer.from(b).toString('utf8'));

// ---------------- Redis ----------------
export async function redisBroker(): Promise<TestBroker> {
  const url = process.env['WASMSG_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `integration tests: cannot reach Redis at ${url} (${(err as Error).message}); start one with scripts/brokers.sh start redis 6379 or set WASMSG_TEST_REDIS_URL`,
      { cause: err },
    );
  }
  return {
    name: 'redis',
    url,
    adapterOptions: (id) => ({ consumer: `consumer-${id}`, claimIdleMs: 2000 }),
    prepare: async () => {},
    cePrefix: 'ce_',
    produce: async (channel, values, _kind, headers) => {
      for (let i = 0; i < values.length; i += 1000) {
        const p = client.pipeline();
        for (const v of values.slice(i, i + 1000))
          p.xadd(channel, '*', 'data', v, ...Object.entries(headers ?? {}).flatMap(([k, h]) => [`h:${k}`, h]));
        await p.exec();
      }
    },
    reader: async (channel) => {
      const conn = new Redis(url);
      let stop = false;
      const { reader, push } = makeReader(async () => {
        stop = true;
        conn.disconnect();
      });
      void (async () => {
        let cursor = '0';
        while (!stop) {
          const reply = (await conn
            .xread('COUNT', 1000, 'BLOCK', 200, 'STREAMS', channel, cursor)
            .catch(() => null)) as Array<[string, Array<[string, string[]]>]> | null;
          for (const [id, fields] of reply?.[0]?.[1] ?? []) {
            cursor = id;
            const headers: Record<string, string> = {};
            let value = '';
            for (let i = 0; i < fields.length; i += 2) {
              if (fields[i] === 'data') value = fields[i + 1]!;
              else if (fields[i]!.startsWith('h:')) headers[fields[i]!.slice(2)] = fields[i + 1]!;
            }
            push({ value, headers });
          }
        }
      })();
      return reader;
    },
    cleanup: async (channels) => {
      if (channels.length > 0) await client.del(...channels);
    },
    close: async () => client.disconnect(),
  };
}

// ---------------- NATS JetStream ----------------
export async function natsBroker(): Promise<TestBroker> {
  const url = process.env['WASMSG_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
  const u = new URL(url);
  let nc;
  try {
    nc = await natsConnect({ servers: `${u.hostname}:${u.port || 4222}`, reconnect: false });
  } catch (err) {
    throw new Error(
      `integration tests: cannot reach NATS at ${url} (${(err as Error).message}); start one with scripts/brokers.sh start nats 4222 or set WASMSG_TEST_NATS_URL`,
      { cause: err },
    );
  }
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const streamOf = (subject: string): string => `WASMSG_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const ensure = async (subject: string): Promise<void> => {
    await jsm.streams.add({ name: streamOf(subject), subjects: [subject] }).catch(() => {});
  };
  return {
    name: 'nats',
    url,
    adapterOptions: () => ({ ackWaitMs: 5000 }),
    prepare: ensure,
    cePrefix: 'ce-',
    produce: async (subject, values, _kind, headers) => {
      const h = headers === undefined ? undefined : natsHeaders();
      for (const [k, v] of Object.entries(headers ?? {})) h!.set(k, v);
      for (let i = 0; i < values.length; i += 1000)
        await Promise.all(
          values
            .slice(i, i + 1000)
            .map((v) => js.publish(subject, new TextEncoder().encode(v), h === undefined ? {} : { headers: h })),
        );
    },
    reader: async (subject) => {
      await ensure(subject);
      const stream = await jsm.streams.find(subject);
      const info = await jsm.consumers.add(stream, {
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
        inactive_threshold: 60_000_000_000,
      });
      const consumer = await js.consumers.get(stream, info.name);
      const messages = await consumer.consume();
      const { reader, push } = makeReader(async () => messages.stop());
      void (async () => {
        for await (const m of messages) {
          const headers: Record<string, string> = {};
          for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
          push({ value: text(m.data), headers });
        }
      })();
      return reader;
    },
    cleanup: async (subjects) => {
      for (const s of subjects) {
        const name = await jsm.streams.find(s).catch(() => undefined);
        if (name !== undefined) await jsm.streams.delete(name).catch(() => {});
      }
    },
    close: async () => {
      await nc.drain();
    },
  };
}

// ---------------- AMQP ----------------
export async function amqpBroker(): Promise<TestBroker> {
  const url = process.env['WASMSG_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  let conn: amqp.ChannelModel;
  try {
    conn = await amqp.connect(url);
  } catch (err) {
    throw new Error(
      `integration tests: cannot reach RabbitMQ at ${url} (${(err as Error).message}); start one with scripts/brokers.sh start rabbitmq 5672 or set WASMSG_TEST_AMQP_URL`,
      { cause: err },
    );
  }
  const ch = await conn.createConfirmChannel();
  return {
    name: 'amqp',
    url,
    adapterOptions: () => ({ prefetch: 512 }),
    prepare: async (queue) => {
      await ch.assertQueue(queue, { durable: true });
    },
    cePrefix: 'cloudEvents:',
    produce: async (channel, values, kind = 'queue', headers = {}) => {
      if (kind === 'topic') await ch.assertExchange(channel, 'fanout', { durable: true });
      for (const v of values) {
        const body = Buffer.from(v);
        const props = { persistent: true, headers };
        const ok = kind === 'topic' ? ch.publish(channel, '', body, props) : ch.sendToQueue(channel, body, props);
        if (!ok) await new Promise((r) => ch.once('drain', r));
      }
      await ch.waitForConfirms();
    },
    reader: async (channel, kind) => {
      const rc = await conn.createChannel();
      let queue = channel;
      if (kind === 'topic') {
        await rc.assertExchange(channel, 'fanout', { durable: true });
        queue = (await rc.assertQueue('', { exclusive: true })).queue;
        await rc.bindQueue(queue, channel, '');
      } else {
        await rc.assertQueue(channel, { durable: true });
      }
      const { reader, push } = makeReader(async () => {
        await rc.close().catch(() => {});
      });
      await rc.consume(
        queue,
        (m) => {
          if (m === null) return;
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(m.properties.headers ?? {})) headers[k] = String(v);
          push({ value: text(m.content), headers });
        },
        { noAck: true },
      );
      return reader;
    },
    cleanup: async (channels) => {
      for (const c of channels) {
        await ch.deleteQueue(c).catch(() => {});
        await ch.deleteExchange(c).catch(() => {});
      }
    },
    close: async () => {
      await ch.close().catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

// ---------------- MQTT ----------------
export async function mqttBroker(): Promise<TestBroker> {
  const url = process.env['WASMSG_TEST_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883';
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000 }, false);
  } catch (err) {
    throw new Error(
      `integration tests: cannot reach an MQTT broker at ${url} (${(err as Error).message}); start one with scripts/brokers.sh start mosquitto 1883 or set WASMSG_TEST_MQTT_URL`,
      { cause: err },
    );
  }
  return {
    name: 'mqtt',
    url,
    adapterOptions: (id) => ({ clientId: `wasmsg-${runId}-${id}` }),
    prepare: async () => {},
    // Mosquitto queues at most 1000 messages per session by default and drops the rest: produce in
    // steps no bigger than that, and the tests wait for the engine between steps.
    cePrefix: '',
    produce: async (topic, values, _kind, headers) => {
      const properties = headers === undefined ? {} : { properties: { userProperties: headers } };
      await Promise.all(values.map((v) => client.publishAsync(topic, v, { qos: 1, ...properties })));
    },
    reader: async (topic) => {
      const rc = await mqtt.connectAsync(url, {
        protocolVersion: 5,
        clientId: `reader-${runId}-${randomBytes(3).toString('hex')}`,
      });
      const { reader, push } = makeReader(async () => {
        await rc.endAsync();
      });
      rc.on('message', (_t, payload, packet) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(packet.properties?.userProperties ?? {})) headers[k] = String(v);
        push({ value: text(payload), headers });
      });
      await rc.subscribeAsync(topic, { qos: 1 });
      return reader;
    },
    cleanup: async () => {},
    close: async () => {
      await client.endAsync();
    },
  };
}

// ---------------- Kafka (librdkafka's mock cluster) ----------------
export interface KafkaMock {
  readonly bootstrap: string;
  readonly process: ChildProcess;
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startKafkaMock(topics: string[]): Promise<KafkaMock> {
  let bin: string;
  try {
    bin = execFileSync('bash', [at('scripts/kafka-mock.sh'), 'build'], { encoding: 'utf8' }).trim();
  } catch (err) {
    throw new Error(
      `integration tests: cannot build the Kafka mock (${(err as Error).message.split('\n')[0]}); run scripts/setup-debian.sh`,
      { cause: err },
    );
  }
  const child = spawn(bin, topics, { stdio: ['pipe', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let waiter: ((l: string) => void) | undefined;
  lines.on('line', (l) => {
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(l);
    } else queue.push(l);
  });
  const nextLine = (): Promise<string> =>
    queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r));
  const first = await nextLine();
  if (!first.startsWith('BOOTSTRAP ')) throw new Error(`kafka mock: unexpected first line '${first}'`);
  return {
    bootstrap: first.slice('BOOTSTRAP '.length),
    process: child,
    command: async (line) => {
      child.stdin!.write(`${line}\n`);
      return nextLine();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function kafkaBroker(mock: KafkaMock): Promise<TestBroker> {
  const url = `kafka://${mock.bootstrap}`;
  const kafka = new Kafka({ clientId: 'wasmsg-test', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return {
    name: 'kafka',
    url,
    // consumer.maxWaitTimeInMs: as the reader's below (kafkajs's default 5 s made every engine
    // stop wait ~5 s for the fetch in flight); the adapter never relies on it (no pause())
    adapterOptions: () => ({ sessionTimeoutMs: 6000, commitIntervalMs: 100, consumer: { maxWaitTimeInMs: 500 } }),
    prepare: async (topic) => {
      const reply = await mock.command(`topic ${topic} 4`);
      if (reply !== 'OK') throw new Error(`kafka mock: topic ${topic}: ${reply}`);
    },
    cePrefix: 'ce_',
    produce: async (topic, values, _kind, headers) => {
      for (let i = 0; i < values.length; i += 1000) {
        await producer.send({
          topic,
          acks: -1,
          messages: values
            .slice(i, i + 1000)
            .map((v, j) => ({ key: `k${(i + j) % 16}`, value: v, ...(headers === undefined ? {} : { headers }) })),
        });
      }
    },
    reader: async (topic) => {
      await mock.command(`topic ${topic} 4`);
      // maxWaitTimeInMs: the mock holds a fetch that finds nothing for this long (kafkajs's default
      // 5 s), and disconnect() waits for the fetch in flight: a reader closes within ~0.5 s
      const consumer = kafka.consumer({
        groupId: `reader-${randomBytes(4).toString('hex')}`,
        sessionTimeout: 6000,
        maxWaitTimeInMs: 500,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const { reader, push } = makeReader(async () => {
        await consumer.disconnect();
      });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = text(v as Buffer);
          push({ value: text(message.value ?? ''), headers });
        },
      });
      return reader;
    },
    cleanup: async () => {},
    close: async () => {
      await producer.disconnect();
    },
  };
}
