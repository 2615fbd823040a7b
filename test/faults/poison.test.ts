import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { connect as natsConnect } from 'nats';
import type { BrokerAdapter, BrokerRecord } from '../../src/brokers/adapter.js';
import { AmqpAdapter } from '../../src/brokers/amqp.js';
import { KEY_HEADER } from '../../src/brokers/key-header.js';
import { MqttAdapter } from '../../src/brokers/mqtt.js';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { headersFromPairs } from '../../src/component/host-text.js';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import { cacheDir, fixture, within } from '../helpers.js';
import { type KafkaMock, startKafkaMock } from '../integration/clients.js';
import { TestServer } from './servers.js';

/**
 * Issue 12 end to end, through the engine on real servers: outputs a broker cannot take as they
 * are (finding 1) and the key of what a relay publishes (finding 9).
 */

const run = `p${randomBytes(3).toString('hex')}`;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function engine(url: string, path: string, channel: string, extra: Partial<EngineOptionsInput> = {}): Engine {
  return new Engine({
    brokers: [{ name: 'default', url }],
    components: [{ path, subscriptions: [{ broker: 'default', channel, kind: 'queue', group: `g-${run}` }] }],
    workers: 1,
    cacheDir,
    retries: { maxAttempts: 2, backoffMs: 10 },
    deadLetter: { channel: `${channel}.dlq` },
    ...extra,
  });
}

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fault: an error text with CR/LF dead-lettered to NATS', () => {
  let server: TestServer;
  before(async () => {
    server = await TestServer.start('nats');
  });
  after(async () => {
    await server.stop();
  });

  test(
    'x-wasmsg-error is percent-encoded: every message is dead-lettered, the engine goes on',
    { timeout: 30_000 },
    async () => {
      const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
      const jsm = await nc.jetstreamManager();
      const js = nc.jetstream();
      await jsm.streams.add({ name: 'WASMSG_in', subjects: ['in'] });
      const e = engine(server.url, fixture('log-inject'), 'in');
      const errors: unknown[] = [];
      e.on('error', (err) => errors.push(err));
      try {
        await e.start();
        for (let i = 0; i < 10; i++) await js.publish('in', enc(`m${i}`));
        await e.waitForSettled(10);
        assert.equal(e.snapshot().deadLettered, 10);
        assert.deepEqual(errors, []);
        const m = await jsm.streams.getMessage(await jsm.streams.find('in.dlq'), { seq: 1 });
        const header = m.header.get('x-wasmsg-error');
        assert.ok(!/[\r\n]/.test(header));
        assert.equal(decodeURIComponent(header), 'other: bad\r\nwasmsg: forged error\u001b[0m');
      } finally {
        await e.stop();
        await nc.close();
      }
    },
  );
});

describe('fault: an output to a Redis key that is not a stream', () => {
  test(
    'WRONGTYPE: a failed attempt, then dead-lettered with the reason; the engine goes on',
    { timeout: 30_000 },
    async () => {
      const server = await TestServer.start('redis');
      const client = new Redis(server.url);
      const e = engine(server.url, fixture('relay'), 'in');
      try {
        await client.set('in.out', 'not a stream');
        await e.start();
        for (let i = 0; i < 5; i++) await client.xadd('in', '*', 'data', `m${i}`);
        await e.waitForSettled(5);
        const dead = (await client.xrange('in.dlq', '-', '+')) as Array<[string, string[]]>;
        assert.equal(dead.length, 5);
        const fields = dead[0]![1];
        assert.match(fields[fields.indexOf('h:x-wasmsg-error') + 1]!, /WRONGTYPE/);
        assert.equal(e.snapshot().deadLettered, 5);
      } finally {
        await e.stop();
        client.disconnect();
        await server.stop();
      }
    },
  );
});

describe("fault: a relay keeps each key on one partition downstream (Kafka, the outputs' key and headers)", () => {
  let mock: KafkaMock;
  before(async () => {
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
  });

  test(
    "each output is keyed with its input's key, on that key's partition, in the key's order",
    { timeout: 90_000 },
    async () => {
      const input = `${run}-in`;
      const output = `${input}.out`;
      for (const t of [input, output]) assert.equal(await mock.command(`topic ${t} 4`), 'OK');
      const url = `kafka://${mock.bootstrap}`;
      const kafka = new Kafka({ clientId: 'test', brokers: mock.bootstrap.split(','), logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const e = new Engine({
        // maxWaitTimeInMs: the mock holds a fetch that finds nothing this long (kafkajs's default 5 s)
        // and disconnect() waits for it; as in test/integration/clients.ts
        brokers: [
          {
            name: 'default',
            url,
            options: { sessionTimeoutMs: 6000, commitIntervalMs: 100, consumer: { maxWaitTimeInMs: 500 } },
          },
        ],
        components: [
          {
            path: fixture('relay'),
            subscriptions: [{ broker: 'default', channel: input, kind: 'queue', group: `g-${run}` }],
          },
        ],
        workers: 2,
        cacheDir,
      });
      const consumer = kafka.consumer({ groupId: `reader-${run}`, sessionTimeout: 6000, maxWaitTimeInMs: 500 });
      const got: Array<{ key: string | null; partition: number; value: string; headers: Record<string, string> }> = [];
      try {
        await e.start();
        const keys = Array.from({ length: 16 }, (_, i) => `key-${i}`);
        const n = 800;
        await producer.send({
          topic: input,
          acks: -1,
          messages: Array.from({ length: n }, (_, i) => ({
            key: keys[i % keys.length]!,
            value: `${keys[i % keys.length]}/${i}`,
            headers: headersFromPairs([
              ['__proto__', 'proto-value'],
              ['constructor', 'ctor-value'],
            ]),
          })),
        });
        await e.waitForSettled(n);
        await consumer.connect();
        await consumer.subscribe({ topic: output, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            // kafkajs decodes a header the empty object already has (`__proto__`, `constructor`)
            // as [inherited, value]: the bytes are the value
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(message.headers ?? {})) {
              const bytes = (Array.isArray(v) ? v.filter((x) => x instanceof Uint8Array).pop() : v) as Buffer;
              Object.defineProperty(headers, k, { value: bytes.toString(), enumerable: true });
            }
            got.push({ key: message.key?.toString() ?? null, partition, value: message.value!.toString(), headers });
          },
        });
        await until('every output read back', () => got.length >= n, 60_000);
        const partitioner = Partitioners.DefaultPartitioner();
        const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({
          partitionId,
          leader: 1,
          partitionErrorCode: 0,
          replicas: [1],
          isr: [1],
        }));
        for (const key of keys) {
          const mine = got.filter((g) => g.value.startsWith(`${key}/`));
          assert.ok(
            mine.every((g) => g.key === key),
            `outputs of ${key} carry its key (got ${JSON.stringify(mine[0]?.key)})`,
          );
          const expected = partitioner({ topic: output, partitionMetadata, message: { key, value: null } });
          assert.ok(
            mine.every((g) => g.partition === expected),
            `${key}: all on partition ${expected}`,
          );
          for (const g of mine) {
            assert.equal(g.headers['__proto__'], 'proto-value', 'a __proto__ header in and out of Kafka, as data');
            assert.equal(g.headers['constructor'], 'ctor-value');
          }
          const order = mine.map((g) => Number(g.value.split('/')[1]));
          assert.deepEqual(
            order,
            [...order].sort((a, b) => a - b),
            `${key}: in the order produced`,
          );
        }
      } finally {
        await consumer.disconnect().catch(() => {});
        await e.stop();
        await producer.disconnect();
      }
    },
  );
});

describe("fault: another producer's header `wasmsg-key` (Kafka, Redis), forwarded, is never the output's key (AMQP, NATS, MQTT)", () => {
  const amqpUrl = process.env['WASMSG_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  let redis: TestServer;
  let nats: TestServer;
  let mosquitto: TestServer;
  let mock: KafkaMock;
  before(async () => {
    redis = await TestServer.start('redis');
    nats = await TestServer.start('nats');
    mosquitto = await TestServer.start('mosquitto');
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
    await mosquitto.stop();
    await nats.stop();
    await redis.stop();
  });

  /** Two inputs each: no key, and the key `real`; both with the header `wasmsg-key: forged`. */
  const HEADERS = { [KEY_HEADER]: 'forged', 'x-other': 'kept' };

  /**
   * The relay fixture (world B: forwards each message, its metadata as headers, to
   * `<channel>.out` on its default broker) reading a Redis stream, and a Kafka topic when `kafka`,
   * with `out` as its default broker; what `out`'s own adapter reads back on each `.out`.
   */
  async function relayTo(
    name: string,
    out: { url: string; reader: BrokerAdapter },
    kafka: boolean,
  ): Promise<Map<string, BrokerRecord[]>> {
    const inputs = [`${run}-wk-${name}`, ...(kafka ? [`${run}-wk-${name}-kafka`] : [])];
    const got = new Map<string, BrokerRecord[]>(inputs.map((i) => [i, []]));
    let left = inputs.length * 2;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    await out.reader.connect();
    for (const input of inputs) {
      const consumer = await out.reader.subscribe({ channel: `${input}.out`, kind: 'topic' }, (records) => {
        for (const r of records) {
          got.get(input)!.push(r);
          consumer.settle(r, 'ack');
          if (--left === 0) done();
        }
      });
    }
    const kafkaUrl = `kafka://${mock.bootstrap}`;
    if (kafka) assert.equal(await mock.command(`topic ${inputs[1]} 1`), 'OK');
    const e = new Engine({
      brokers: [
        { name: 'default', url: out.url },
        { name: 'redis', url: redis.url },
        ...(kafka
          ? [
              {
                name: 'kafka',
                url: kafkaUrl,
                options: { sessionTimeoutMs: 6000, commitIntervalMs: 100, consumer: { maxWaitTimeInMs: 500 } },
              },
            ]
          : []),
      ],
      components: [
        {
          path: fixture('relay'),
          subscriptions: inputs.map((channel, i) => ({
            broker: i === 0 ? 'redis' : 'kafka',
            channel,
            kind: 'queue' as const,
            group: `g-${run}`,
          })),
        },
      ],
      workers: 1,
      cacheDir,
    });
    const client = new Redis(redis.url);
    const producer = new Kafka({
      clientId: 'test',
      brokers: mock.bootstrap.split(','),
      logLevel: logLevel.NOTHING,
    }).producer();
    try {
      await e.start();
      const fields = Object.entries(HEADERS).flatMap(([k, v]) => [`h:${k}`, v]);
      await client.xadd(inputs[0]!, '*', 'data', 'v0', ...fields);
      await client.xadd(inputs[0]!, '*', 'data', 'v1', 'key', 'real', ...fields);
      if (kafka) {
        await producer.connect();
        await producer.send({
          topic: inputs[1]!,
          acks: -1,
          messages: [
            { value: 'v0', headers: HEADERS },
            { key: 'real', value: 'v1', headers: HEADERS },
          ],
        });
      }
      await within(all, 60_000, `the ${name} outputs read back`);
    } finally {
      await producer.disconnect().catch(() => {});
      client.disconnect();
      await e.stop();
      await out.reader.close();
    }
    return got;
  }

  function assertKeys(got: Map<string, BrokerRecord[]>): void {
    const seen = (records: BrokerRecord[]): unknown[] =>
      records
        .map((r) => ({
          value: new TextDecoder().decode(r.value),
          key: r.key,
          other: r.headers['x-other'],
          keyHeader: Object.hasOwn(r.headers, KEY_HEADER),
        }))
        .sort((a, b) => a.value.localeCompare(b.value));
    const expected = [
      { value: 'v0', key: null, other: 'kept', keyHeader: false },
      { value: 'v1', key: 'real', other: 'kept', keyHeader: false },
    ];
    // before (AMQP): the output of the input without a key went out with the forwarded header
    // `wasmsg-key: forged`, and was read back with the key `forged`
    assert.deepEqual(
      Object.fromEntries([...got].map(([input, records]) => [input, seen(records)])),
      Object.fromEntries([...got.keys()].map((input) => [input, expected])),
    );
  }

  test("to AMQP, from Redis and Kafka: the key is the input's, or none", { timeout: 90_000 }, async () => {
    const reader = new AmqpAdapter({ name: 'out', url: amqpUrl });
    try {
      assertKeys(await relayTo('amqp', { url: amqpUrl, reader }, true));
    } finally {
      const conn = await amqp.connect(amqpUrl);
      const ch = await conn.createChannel();
      for (const input of [`${run}-wk-amqp`, `${run}-wk-amqp-kafka`])
        await ch.deleteExchange(`${input}.out`).catch(() => {});
      await conn.close();
    }
  });

  test('to NATS and MQTT, from Redis: the same', { timeout: 60_000 }, async () => {
    const natsReader = new NatsAdapter({ name: 'out', url: nats.url });
    assertKeys(await relayTo('nats', { url: nats.url, reader: natsReader }, false));
    const mqttReader = new MqttAdapter({ name: 'out', url: mosquitto.url, clientId: `wk-${run}` });
    assertKeys(await relayTo('mqtt', { url: mosquitto.url, reader: mqttReader }, false));
  });
});
