import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type AddressInfo, type Socket, createConnection, createServer } from 'node:net';
import { describe, test } from 'node:test';
import type { BrokerRecord, SubscribeSpec } from '../../src/brokers/adapter.js';
import { channelFromUrl, createBroker } from '../../src/brokers/connect.js';
import { Engine } from '../../src/engine/engine.js';
import { BrokerError, ErrorCode, OptionError } from '../../src/errors.js';
import { cacheDir, examples, startAlone, within } from '../helpers.js';
import { TcpProxy, TestServer, freePort } from '../faults/servers.js';
import { KafkaAdapter, brokersOf } from '../../src/brokers/kafka.js';
import { RedisAdapter, redisClientUrl } from '../../src/brokers/redis.js';
import { AmqpAdapter } from '../../src/brokers/amqp.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { MqttAdapter } from '../../src/brokers/mqtt.js';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { ReadSizer, redact, redactCommand } from '../../src/brokers/common.js';

describe('--from URLs: the path is the channel', () => {
  const cases: Array<[string, string | undefined]> = [
    ['kafka://127.0.0.1:9092/orders', 'orders'],
    ['kafka://h1:9092,h2:9093,h3/orders', 'orders'],
    ['nats://127.0.0.1:4222/orders.in', 'orders.in'],
    ['nats-core://127.0.0.1:4222/orders.>', 'orders.>'],
    ['redis://127.0.0.1:6379/orders', 'orders'],
    ['redis://:secret@127.0.0.1:6379/orders?db=2', 'orders'],
    ['redis://127.0.0.1:6379/0', '0'],
    ['amqp://guest:guest@127.0.0.1:5672/orders', 'orders'],
    ['amqp://guest:guest@127.0.0.1:5672/%2F/orders', 'orders'],
    ['amqp://guest:guest@127.0.0.1:5672/vhost/orders?heartbeat=10', 'orders'],
    ['amqp://h/a%2Fb', 'a/b'],
    ['mqtt://127.0.0.1:1883/orders/#', 'orders/#'],
    ['mqtt://127.0.0.1:1883/orders/+/eu', 'orders/+/eu'],
    ['kafka://h/a%3Fb', 'a?b'],
    ['memory:///orders', 'orders'],
    ['memory:///', undefined],
    ['redis://127.0.0.1:6379', undefined],
    ['redis://127.0.0.1:6379?db=1', undefined],
  ];
  for (const [url, channel] of cases) test(url, () => assert.equal(channelFromUrl(url), channel));

  test('an AMQP path of more than /vhost/queue is refused, naming the URL without its password', () => {
    assert.throws(() => channelFromUrl('amqp://guest:pw@h/v/a/b'), {
      code: 'E_BAD_OPTION',
      message: /^--from amqp:\/\/guest:\*\*\*@h\/v\/a\/b: an AMQP path is \/queue or \/vhost\/queue/,
    });
  });
  test('bad percent-encoding is an option error, not a URIError', () => {
    assert.throws(() => channelFromUrl('kafka://h/%zz'), { code: 'E_BAD_OPTION', message: /percent-encoding/ });
  });
});

describe('redis: the URL given to ioredis has no path (ioredis would read it as the database)', () => {
  test('the stream path is dropped; password, query and TLS scheme stay', () => {
    assert.equal(redisClientUrl('redis://127.0.0.1:6379/orders'), 'redis://127.0.0.1:6379');
    assert.equal(redisClientUrl('redis://:p%40ss@h:6379/orders?db=2'), 'redis://:p%40ss@h:6379?db=2');
    assert.equal(redisClientUrl('rediss://u:p@h/orders.x?db=3&family=6'), 'rediss://u:p@h?db=3&family=6');
    assert.equal(redisClientUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  });
  test('?db must be a number', () => {
    assert.throws(() => redisClientUrl('redis://:pw@h/orders?db=orders'), {
      code: 'E_BAD_OPTION',
      message: "redis URL 'redis://:***@h/orders?db=orders': db must be a database number (?db=N), got 'orders'",
    });
  });
});

describe('kafka: bootstrap brokers of the URL', () => {
  test('several hosts, default port 9092, path and credentials dropped', () => {
    assert.deepEqual(brokersOf('kafka://h1:9092,h2:9093,h3/orders'), ['h1:9092', 'h2:9093', 'h3:9092']);
    assert.deepEqual(brokersOf('kafka://u:p@h1/orders'), ['h1:9092']);
  });
});

describe("brokers[].options: the adapter's own keys only", () => {
  test('a key no adapter of the scheme takes is refused with the nearest known one; its own keys pass', async () => {
    // before: `claimIdleMS` (for claimIdleMs) was passed along and ignored without a word
    await assert.rejects(
      createBroker({ name: 'r', url: 'redis://127.0.0.1:6379/s', options: { claimIdleMS: 100 } }),
      (e: unknown) => {
        assert.ok(e instanceof OptionError, String(e));
        assert.match(e.message, /broker 'r': unknown option 'claimIdleMS' \(did you mean 'claimIdleMs'\?\)/);
        return true;
      },
    );
    await assert.rejects(
      createBroker({ name: 'n', url: 'nats-core://127.0.0.1:4222/s', options: { bogus: 1 } }),
      /unknown option 'bogus' \(known: jetstream, batch/,
    );
    // made, not connected: nothing to close for these
    for (const [url, options] of [
      ['kafka://127.0.0.1:9/t', { sessionTimeoutMs: 6000, commitIntervalMs: 100, connectTimeoutMs: 300 }],
      ['nats://127.0.0.1:4222/s', { ackWaitMs: 500, publishTimeoutMs: 1000, connectTimeoutMs: 300 }],
      ['rediss://127.0.0.1:6379/s', { claimIdleMs: 100, maxLen: 10, connectTimeoutMs: 300 }],
      ['amqps://127.0.0.1/q', { prefetch: 10, connectTimeoutMs: 300 }],
      ['mqtts://127.0.0.1/t', { clientId: 'x', receiveMaximum: 10, connectTimeoutMs: 300 }],
      ['memory:///c', { partitions: 2, retentionBytes: 1 << 20 }],
    ] as const)
      await createBroker({ name: 'b', url, options });
  });
});

describe('brokers[].options: each value of its type and in its range (adapter-options.ts)', () => {
  // Before, only the names were checked: a bad value reached the client library or the adapter's
  // arithmetic. `fetchExpiresMs: 500` failed every pull, logged ("expires should be at least
  // 1000ms"), while start() succeeded; without a word, `receiveMaximum: 70000` or `0` became
  // mqtt.js's 65535, `claimIdleMs: -5` claimed every other consumer's pending entries at once
  // (Redis takes IDLE -5 as 0), `batch: 0` became nats.js's 100, `count: 0` Redis's no limit;
  // `prefetch: '10'` or `70000` failed at subscribe with amqplib's words, naming no option.
  const urls = {
    kafka: 'kafka://127.0.0.1:9/t',
    nats: 'nats://127.0.0.1:4222/s',
    redis: 'rediss://127.0.0.1:6379/s',
    amqp: 'amqps://127.0.0.1/q',
    mqtt: 'mqtts://127.0.0.1/t',
    memory: 'memory:///c',
  } as const;
  type Family = keyof typeof urls;
  /** The adapter of `family` made by hand, as a library caller makes it. */
  const byHand: Record<Family, (o: Record<string, unknown>) => unknown> = {
    kafka: (o) => new KafkaAdapter(o as never),
    nats: (o) => new NatsAdapter(o as never),
    redis: (o) => new RedisAdapter(o as never),
    amqp: (o) => new AmqpAdapter(o as never),
    mqtt: (o) => new MqttAdapter(o as never),
    memory: (o) => new MemoryBroker(o),
  };
  const timers = `at most 2147483647 ms (Node's timers' limit: a longer wait would fire after 1 ms)`;
  const heartbeat =
    'must be more than the heartbeat interval, 1000 ms (consumer.heartbeatInterval, default 1000): kafkajs refuses a session timeout not above it';
  /** family, options, the option's path under `brokers.b.options.`, what the error says */
  const bad: Array<[Family, Record<string, unknown>, string, string]> = [
    ['kafka', { sessionTimeoutMs: -5 }, 'sessionTimeoutMs', 'must be more than 0 ms'],
    ['kafka', { sessionTimeoutMs: 1000 }, 'sessionTimeoutMs', heartbeat],
    ['kafka', { consumer: { sessionTimeout: 800 } }, 'consumer.sessionTimeout', heartbeat],
    [
      'kafka',
      { consumer: { heartbeatInterval: 20_000 } },
      'consumer.heartbeatInterval',
      'must be less than the session timeout, 10000 ms (sessionTimeoutMs, default 10000): kafkajs refuses a heartbeat interval not below it',
    ],
    ['kafka', { commitIntervalMs: 0 }, 'commitIntervalMs', 'must be more than 0 ms'],
    ['kafka', { commitIntervalMs: 2 ** 31 }, 'commitIntervalMs', timers],
    ['kafka', { commitIntervalMs: 0.5 }, 'commitIntervalMs', 'must be a whole number of milliseconds'],
    ['kafka', { client: 'x' }, 'client', 'must be a mapping, got the string "x"'],
    ['kafka', { consumer: [] }, 'consumer', 'must be a mapping, got an array'],
    ['nats', { batch: 0 }, 'batch', 'must be at least 1 message (nats.js would take 0 as 100)'],
    ['nats', { batch: 2.5 }, 'batch', 'must be a whole number of messages'],
    [
      'nats',
      { maxAckPending: 0 },
      'maxAckPending',
      'must be at least 1 message, or -1 for no bound (the server would take 0 as its own default)',
    ],
    [
      'nats',
      { maxAckPending: -2 },
      'maxAckPending',
      'must be at least 1 message, or -1 for no bound (the server would take 0 as its own default)',
    ],
    ['nats', { ackWaitMs: 0 }, 'ackWaitMs', 'must be more than 0 ms'],
    ['nats', { ackWaitMs: 2 ** 31 }, 'ackWaitMs', timers],
    [
      'nats',
      { fetchExpiresMs: 500 },
      'fetchExpiresMs',
      'must be at least 1000 ms (nats.js refuses a shorter pull expiry: every pull would fail)',
    ],
    [
      'nats',
      { fetchExpiresMs: 2_045_222_521 },
      'fetchExpiresMs',
      "at most 2045222520 ms (nats.js waits 5% longer on a timer of Node's, whose limit is 2147483647 ms)",
    ],
    ['nats', { publishTimeoutMs: '5s' }, 'publishTimeoutMs', 'must be a number, got the string "5s"'],
    ['nats', { jetstream: 'yes' }, 'jetstream', 'must be a boolean, got the string "yes"'],
    ['nats', { createStreams: 0 }, 'createStreams', 'must be a boolean, got the number 0'],
    ['nats', { connectTimeoutMs: 0 }, 'connectTimeoutMs', 'must be more than 0 ms'],
    [
      'redis',
      { claimIdleMs: -5 },
      'claimIdleMs',
      'must be more than 0 ms (0 would claim entries other consumers are still handling)',
    ],
    ['redis', { claimIdleMs: 1.5 }, 'claimIdleMs', 'must be a whole number of milliseconds'],
    [
      'redis',
      { count: 0 },
      'count',
      'must be at least 1 entry (Redis reads a COUNT of 0 as no limit: the whole stream at once)',
    ],
    ['redis', { maxLen: 0 }, 'maxLen', 'must be at least 1 entry (leave maxLen out for a stream without a bound)'],
    ['redis', { consumer: '' }, 'consumer', 'must not be empty'],
    ['redis', { consumer: 7 }, 'consumer', 'must be a string, got the number 7'],
    ['amqp', { prefetch: '10' }, 'prefetch', 'must be a number, got the string "10"'],
    ['amqp', { prefetch: -1 }, 'prefetch', 'must be from 0 to 65535 messages (0: no limit)'],
    [
      'amqp',
      { prefetch: 65_536 },
      'prefetch',
      "must be from 0 to 65535 messages (AMQP's prefetch-count is 16 bits; 0: no limit)",
    ],
    ['amqp', { prefetch: 1.5 }, 'prefetch', 'must be a whole number of messages'],
    ['amqp', { socket: 'x' }, 'socket', 'must be a mapping, got the string "x"'],
    ['amqp', { connectTimeoutMs: 1.5 }, 'connectTimeoutMs', 'must be a whole number of milliseconds'],
    [
      'mqtt',
      { receiveMaximum: 70_000 },
      'receiveMaximum',
      "must be from 1 to 65535 messages (MQTT 5's Receive Maximum is a two-byte integer)",
    ],
    [
      'mqtt',
      { receiveMaximum: 0 },
      'receiveMaximum',
      "must be from 1 to 65535 messages (MQTT 5's Receive Maximum: 0 is a protocol error)",
    ],
    ['mqtt', { clientId: '' }, 'clientId', 'must not be empty'],
    [
      'mqtt',
      { clientId: 'a\tb' },
      'clientId',
      'must have no character MQTT servers refuse (control characters, non-characters, unpaired surrogates: Mosquitto closes the connection)',
    ],
    [
      'mqtt',
      { clientId: 'bad\uffff' },
      'clientId',
      'must have no character MQTT servers refuse (control characters, non-characters, unpaired surrogates: Mosquitto closes the connection)',
    ],
    ['mqtt', { clientId: 7 }, 'clientId', 'must be a string, got the number 7'],
    ['memory', { partitions: 0 }, 'partitions', 'must be from 1 to 65536 partitions'],
  ];
  for (const [family, options, key, said] of bad) {
    test(`${family} ${JSON.stringify(options)}: refused by createBroker and by the adapter's constructor, naming ${key}`, async () => {
      const refused = (e: unknown): boolean => {
        assert.ok(e instanceof OptionError, String(e));
        assert.equal(e.code, ErrorCode.badOption);
        assert.equal(e.context['option'], `brokers.b.options.${key}`);
        assert.equal(e.message, `broker 'b': brokers.b.options.${key}: ${said}`);
        return true;
      };
      await assert.rejects(createBroker({ name: 'b', url: urls[family], options }), refused);
      assert.throws(() => byHand[family]({ name: 'b', url: urls[family], ...options }), refused);
    });
  }

  test('options that are not a mapping are refused, naming them', async () => {
    await assert.rejects(createBroker({ name: 'b', url: urls.redis, options: 'claimIdleMs=5' as never }), {
      code: 'E_BAD_OPTION',
      message: 'broker \'b\': brokers.b.options: must be a mapping, got the string "claimIdleMs=5"',
    });
  });

  test("an unknown key given to an adapter's constructor is refused as createBroker refuses it", () => {
    // (before, the constructors took any key; createBroker alone checked the names)
    assert.throws(() => new RedisAdapter({ name: 'r', url: urls.redis, claimIdleMS: 100 } as never), {
      code: 'E_BAD_OPTION',
      message: "broker 'r': unknown option 'claimIdleMS' (did you mean 'claimIdleMs'?)",
    });
  });

  /** The edges of each range, and the types: accepted alike (made, not connected). */
  const good: Array<[Family, Record<string, unknown>]> = [
    ['kafka', { sessionTimeoutMs: 1001, commitIntervalMs: 1, client: {}, consumer: { heartbeatInterval: 500 } }],
    ['kafka', { sessionTimeoutMs: 2 ** 31 - 1, commitIntervalMs: 2 ** 31 - 1, connectTimeoutMs: 2 ** 31 - 1 }],
    ['kafka', { sessionTimeoutMs: 800, consumer: { heartbeatInterval: 200 } }],
    ['nats', { jetstream: false, batch: 1, maxAckPending: 1, ackWaitMs: 1, fetchExpiresMs: 1000, publishTimeoutMs: 1 }],
    ['nats', { batch: 1e6, maxAckPending: 1e6, fetchExpiresMs: 2_045_222_520, createStreams: false, client: {} }],
    ['nats', { maxAckPending: -1, client: null }],
    ['redis', { client: null }],
    ['kafka', { client: null, consumer: null }],
    ['redis', { consumer: 'c', count: 1, claimIdleMs: 1, maxLen: 1, client: { db: 2 } }],
    ['redis', { count: 1e6, claimIdleMs: 90 * 24 * 3600 * 1000, maxLen: 1e9 }],
    ['amqp', { prefetch: 0, socket: {} }],
    ['amqp', { prefetch: 65_535 }],
    ['mqtt', { clientId: 'x', receiveMaximum: 1, client: {} }],
    ['mqtt', { clientId: 'wasmsg-é', receiveMaximum: 65_535 }],
    ['memory', { partitions: 65_536, retention: 1, retentionBytes: 1, maxBatch: 1_000_000 }],
  ];
  for (const [family, options] of good) {
    test(`${family} ${JSON.stringify(options)}: accepted`, async () => {
      await createBroker({ name: 'b', url: urls[family], options });
      byHand[family]({ name: 'b', url: urls[family], ...options });
    });
  }
});

describe('options at the edges of their ranges: the servers take them, and a message goes through', () => {
  // (Kafka's edges: its integration suites run with sessionTimeoutMs 6000, commitIntervalMs 100)
  const env = (name: string, fallback: string): string => process.env[`WASMSG_TEST_${name}_URL`] ?? fallback;
  const id = Math.random().toString(36).slice(2, 8);
  const cases: Array<[string, string, Record<string, unknown>, SubscribeSpec]> = [
    [
      'nats',
      env('NATS', 'nats://127.0.0.1:4222'),
      { batch: 1, maxAckPending: 1, ackWaitMs: 1000, fetchExpiresMs: 1000, publishTimeoutMs: 1000 },
      { channel: `wasmsg.edges.${id}`, kind: 'topic' },
    ],
    [
      'redis',
      env('REDIS', 'redis://127.0.0.1:6379'),
      { consumer: 'edges', count: 1, claimIdleMs: 1, maxLen: 1 },
      { channel: `wasmsg-edges-${id}`, kind: 'queue', group: 'edges' },
    ],
    [
      'amqp, prefetch 0',
      env('AMQP', 'amqp://guest:guest@127.0.0.1:5672'),
      { prefetch: 0 },
      { channel: `edges0-${id}`, kind: 'topic' },
    ],
    [
      'amqp, prefetch 65535',
      env('AMQP', 'amqp://guest:guest@127.0.0.1:5672'),
      { prefetch: 65_535 },
      { channel: `edges1-${id}`, kind: 'topic' },
    ],
    [
      'mqtt, receiveMaximum 65535',
      env('MQTT', 'mqtt://127.0.0.1:1883'),
      { receiveMaximum: 65_535 },
      { channel: `wasmsg/edges/${id}/a`, kind: 'topic' },
    ],
    [
      'mqtt, receiveMaximum 1',
      env('MQTT', 'mqtt://127.0.0.1:1883'),
      { receiveMaximum: 1 },
      { channel: `wasmsg/edges/${id}/b`, kind: 'topic' },
    ],
  ];
  for (const [what, url, options, spec] of cases) {
    test(`${what}: ${JSON.stringify(options)}`, async () => {
      const adapter = await createBroker({ name: 'b', url, options });
      try {
        await within(adapter.connect(), 15_000, 'connect');
        let got!: (records: readonly BrokerRecord[]) => void;
        const delivered = new Promise<readonly BrokerRecord[]>((resolve) => (got = resolve));
        const consumer = await within(
          adapter.subscribe(spec, (records) => got(records)),
          15_000,
          'subscribe',
        );
        await within(
          adapter.publish([
            { kind: spec.kind, channel: spec.channel, headers: {}, value: new TextEncoder().encode('edge') },
          ]),
          15_000,
          'publish',
        );
        const records = await within(delivered, 15_000, 'delivery');
        assert.equal(new TextDecoder().decode(records[0]!.value), 'edge');
        for (const r of records) consumer.settle(r, 'ack');
        await consumer.close();
      } finally {
        await adapter.close();
      }
    });
  }
});

describe('redact: broker URLs in messages, logs and bench reports', () => {
  test('the user-info password and secret query parameters are masked; a URL without either is left as given', () => {
    // before: `?password=` (ioredis takes it as the password) went into bench reports in clear
    assert.equal(
      redact('redis://127.0.0.1:6379/s?password=hunter2&db=2'),
      'redis://127.0.0.1:6379/s?password=***&db=2',
    );
    assert.equal(redact('amqp://u:hunter3@h:5672/q'), 'amqp://u:***@h:5672/q');
    assert.equal(redact('nats://h:4222/s?token=t0k&x=1'), 'nats://h:4222/s?token=***&x=1');
    assert.equal(redact('kafka://h:9092,h2:9092/t'), 'kafka://h:9092,h2:9092/t');
    assert.equal(
      redactCommand(['wasmsg', 'bench', '--brokers', 'redis://h/s?password=p1,amqp://u:p2@h/q', '--messages', '10']),
      'wasmsg bench --brokers redis://h/s?password=***,amqp://u:***@h/q --messages 10',
    );
  });
});

describe('ReadSizer: reads of about 1 MiB at the message size seen', () => {
  test('the first read, then as many as make 1 MiB (1 at least, the maximum at most)', () => {
    const r = new ReadSizer(1024, 64, 64);
    assert.equal(r.count(), 64);
    r.learn(64, 64 * 1024 * 1024); // 1 MiB messages: one a read
    assert.equal(r.count(), 1);
    r.learn(1, 4 * 1024 * 1024); // bigger still: never 0
    assert.equal(r.count(), 1);
    const small = new ReadSizer(1024, 64, 64);
    small.learn(64, 64 * 100); // 100 B + 64 overhead: 6393, capped
    assert.equal(small.count(), 1024);
    const mid = new ReadSizer(1024, 64, 64);
    mid.learn(10, 10 * (256 * 1024 - 64)); // 256 KiB with the overhead: 4 a read
    assert.equal(mid.count(), 4);
    mid.learn(0, 0); // an empty read changes nothing
    assert.equal(mid.count(), 4);
  });
});

/**
 * A server on 127.0.0.1 that accepts connections and never answers (not that broker, or a hung
 * one); `closed()` resolves once every connection it accepted has closed.
 */
async function silentServer(): Promise<{
  port: number;
  /** Resolves at the first connection. */
  accepted: Promise<void>;
  closed: () => Promise<void>;
  stop: () => void;
}> {
  const closed: Array<Promise<void>> = [];
  let accept!: () => void;
  const accepted = new Promise<void>((resolve) => (accept = resolve));
  const server = createServer((socket) => {
    accept();
    closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
    socket.on('error', () => {});
    socket.resume(); // reads (and drops) what the client says, so sees it end
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    closed: async () => void (await Promise.all(closed)),
    stop: () => server.close(),
  };
}

/** Each adapter's URL (PORT: the silent server's) and its client library's own connect timeout option. */
const silentCases: Array<[string, string, (ms: number) => Record<string, unknown>]> = [
  ['nats', 'nats://127.0.0.1:PORT/in', (ms) => ({ client: { timeout: ms } })],
  ['nats-core', 'nats-core://127.0.0.1:PORT/in', (ms) => ({ client: { timeout: ms } })],
  ['redis', 'redis://127.0.0.1:PORT/in', (ms) => ({ client: { connectTimeout: ms } })],
  ['amqp', 'amqp://u:p@127.0.0.1:PORT/in', (ms) => ({ socket: { timeout: ms } })],
  ['mqtt', 'mqtt://127.0.0.1:PORT/in', (ms) => ({ client: { connectTimeout: ms } })],
  ['kafka', 'kafka://127.0.0.1:PORT/in', (ms) => ({ client: { requestTimeout: ms } })],
];

describe('a server that accepts connections and never answers: start() fails, nothing stays open', () => {
  // Before: nats.js kept the socket of its timed-out connect (a library caller's process did not
  // end); ioredis's connect() waited for the ready check and amqplib's for the handshake forever
  // (start() never settled, and stop() waits for start()); kafkajs's connect() resolved after its
  // ApiVersions request timed out, and the subscribe failed 60 s later with an untyped "Broker
  // not connected". Then each adapter bounded its connect its own way: `connectTimeoutMs` is
  // the one deadline of all (before it, an unknown option; and MQTT's was 5 s, the others' 10 s).
  const variants: Array<[string, (own: (ms: number) => Record<string, unknown>) => Record<string, unknown>]> = [
    ['connectTimeoutMs 300', () => ({ connectTimeoutMs: 300 })],
    [
      "connectTimeoutMs 300 wins over the client library's own 60 s",
      (own) => ({ ...own(60_000), connectTimeoutMs: 300 }),
    ],
    ["without it, the client library's own 300 ms", (own) => own(300)],
  ];
  for (const [scheme, url, own] of silentCases) {
    for (const [variant, options] of variants) {
      test(`${scheme}: ${variant}`, async () => {
        const silent = await silentServer();
        try {
          const at = url.replace('PORT', String(silent.port));
          const engine = new Engine({
            workers: 1,
            cacheDir,
            brokers: [{ name: 'b', url: at, options: options(own) }],
            components: [{ path: examples.noop, subscriptions: [{ broker: 'b', channel: 'in' }] }],
          });
          const started = engine.start();
          started.catch(() => {}); // (asserted below)
          // (the broker's connect begins once the component is loaded)
          await within(silent.accepted, 10_000, 'the client connected');
          const began = performance.now();
          await within(
            assert.rejects(started, (e: unknown) => {
              assert.ok(e instanceof BrokerError && e.code === ErrorCode.brokerUnavailable, String(e));
              const where = redact(at);
              assert.equal(
                e.message,
                `cannot reach ${where}: not connected within 300 ms (broker 'b', connectTimeoutMs)`,
              );
              assert.deepEqual(e.context, { broker: 'b', url: where, connectTimeoutMs: 300 });
              return true;
            }),
            15_000,
            'start() against a silent server',
          );
          const took = performance.now() - began;
          assert.ok(took < 2_000, `rejected ${Math.round(took)} ms after the client connected (deadline 300 ms)`);
          // (ioredis ends its socket and destroys it after 2 s when the server does not close it)
          await within(silent.closed(), 5_000, 'every connection to the silent server closed');
        } finally {
          silent.stop();
        }
      });
    }
  }
});

describe('a start with one broker refused at once and another still connecting', () => {
  test('start() rejects with the refusal once the other has connected, and closes it', async () => {
    // before: the failed start closed the adapters at the first failure; the other one, still
    // connecting, had nothing to close yet, then connected and stayed so (its socket kept a
    // library caller's process alive)
    const slow = await TcpProxy.start({ host: '127.0.0.1', port: 4222 }, 300); // NATS over a slow link
    const refused = await freePort(); // nothing listens there
    try {
      const engine = new Engine({
        workers: 1,
        cacheDir,
        brokers: [
          { name: 'nats', url: `nats://127.0.0.1:${slow.port}/in` },
          { name: 'amqp', url: `amqp://u:p@127.0.0.1:${refused}/in` },
        ],
        components: [{ path: examples.noop, subscriptions: [{ broker: 'nats', channel: 'in' }] }],
      });
      await within(
        assert.rejects(engine.start(), (e: unknown) => {
          assert.ok(e instanceof BrokerError, String(e));
          assert.equal(e.code, ErrorCode.brokerUnavailable);
          assert.match(e.message, /ECONNREFUSED/);
          return true;
        }),
        10_000,
        'start()',
      );
      await within(slow.acceptedCount(1), 5_000, 'the NATS client connected');
      const open = [...slow.clients].map((c) => new Promise((r) => (c.closed ? r(0) : c.once('close', r))));
      await within(Promise.all(open), 5_000, 'the NATS connection closed');
    } finally {
      await slow.stop();
    }
  });
});

describe("a refused port: start() rejects, and the caller's process ends on its own at once", () => {
  // before: Redis's failed client was disconnected after it had ended, which set a 2 s timer
  // for a socket already gone: the process ended 2 s after start() rejected
  for (const scheme of ['nats', 'redis', 'amqp', 'mqtt']) {
    test(scheme, async () => {
      const port = await freePort(); // nothing listens there
      const r = startAlone(`${scheme}://127.0.0.1:${port}/in`);
      assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
      assert.equal(r.code, ErrorCode.brokerUnavailable);
      assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
    });
  }
});

describe("a server that accepts connections and never answers: past connectTimeoutMs the caller's process ends on its own at once", () => {
  // before, Kafka: kafkajs's retries of the probe's connect went on after the deadline (a new
  // connection to the silent server each time, then their timers): the process ended 15 s after
  // start() rejected. (The server is this process's: its kernel accepts the connections while
  // spawnSync blocks, and nothing answers.)
  for (const [scheme, url] of silentCases) {
    if (scheme === 'nats-core') continue;
    test(scheme, async () => {
      const silent = await silentServer();
      try {
        const r = startAlone(url.replace('PORT', String(silent.port)), { connectTimeoutMs: 300 });
        assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
        assert.equal(r.code, ErrorCode.brokerUnavailable);
        assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
      } finally {
        silent.stop();
      }
    });
  }
});

describe('connectTimeoutMs is a deadline, whatever the server or the client options do meanwhile', () => {
  test('amqp: a server trickling a byte every 100 ms: start() fails at the deadline and the socket is closed', async () => {
    // before: amqplib's `timeout` is an idle timer, re-armed by each byte: the socket stayed open
    // (and a caller's process alive) ≈ 20 s after start() had rejected
    const closed: Array<Promise<void>> = [];
    const timers: NodeJS.Timeout[] = [];
    const server = createServer((socket) => {
      socket.on('error', () => {});
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
      socket.once('data', () => {
        // the start of a method frame (channel 0, 200 bytes), then a byte at a time: amqplib waits for the rest
        const head = Buffer.from([1, 0, 0, 0, 0, 0, 200]);
        let i = 0;
        const timer = setInterval(() => socket.write(i < head.length ? head.subarray(i, ++i) : Buffer.from([0])), 100);
        timers.push(timer);
        socket.on('close', () => clearInterval(timer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `amqp://u:p@127.0.0.1:${(server.address() as AddressInfo).port}/in`;
      const engine = new Engine({
        workers: 1,
        cacheDir,
        brokers: [{ name: 'b', url, options: { connectTimeoutMs: 300 } }],
        components: [{ path: examples.noop, subscriptions: [{ broker: 'b', channel: 'in' }] }],
      });
      await within(
        assert.rejects(engine.start(), (e: unknown) => e instanceof BrokerError && /within 300 ms/.test(e.message)),
        15_000,
        'start() against a trickling server',
      );
      const rejectedAt = performance.now();
      await within(Promise.all(closed), 3_000, 'the trickling connection closed');
      assert.ok(performance.now() - rejectedAt < 2_000);
    } finally {
      for (const t of timers) clearInterval(t);
      server.close();
    }
  });

  test("nats: the client option waitOnFirstConnect: true does not keep retrying past the deadline: the caller's process ends", async () => {
    // before: nats.js went on retrying the first connect after start() had rejected, for good
    const port = await freePort(); // nothing listens there
    const r = startAlone(`nats://127.0.0.1:${port}/in`, {
      connectTimeoutMs: 300,
      client: { waitOnFirstConnect: true },
    });
    assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
    assert.equal(r.code, ErrorCode.brokerUnavailable);
    assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
  });
});

describe('a host that never completes the TCP handshake (its SYNs dropped)', () => {
  test("nats: start() fails after its connect timeout and the connection being made is dropped: the caller's process ends", async () => {
    // before: nats.js's connect timed out while the kernel was still trying (about two minutes),
    // and nothing dropped that connection: the process lived on until the kernel gave up.
    // The host: a process that listens with a backlog of 1 and never accepts (its event loop
    // blocked); once two connections fill its queue, further SYNs go unanswered.
    const host = spawn(
      process.execPath,
      [
        '-e',
        `const net = require('node:net');
         const s = net.createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
           require('node:fs').writeSync(1, s.address().port + '\\n');
           Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
         });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve) => host.stdout.once('data', (d) => resolve(Number(String(d)))));
      let made = 0;
      await new Promise<void>((full) => {
        for (let i = 0; i < 4; i++)
          fillers.push(
            createConnection(port, '127.0.0.1')
              .on('error', () => {})
              .once('connect', () => ++made === 2 && full()),
          );
      });
      const r = startAlone(`nats://127.0.0.1:${port}/in`, { client: { timeout: 500 } });
      assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
      assert.equal(r.code, ErrorCode.brokerUnavailable);
      assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
    } finally {
      for (const c of fillers) c.destroy();
      host.kill('SIGKILL'); // (by its PID)
    }
  });
});

describe('a NATS server without JetStream', () => {
  test("nats: start() says so, and how to read core NATS instead; the caller's process ends on its own", async () => {
    // before: nats.js's "no responders" to the JetStream API, a NatsError whose whole message was
    // "503", untyped (the failed start closed the connection; the adapter now closes it itself)
    const server = await TestServer.start('nats', undefined, false);
    try {
      const url = `nats://127.0.0.1:${server.port}/in`;
      const engine = new Engine({
        workers: 1,
        cacheDir,
        brokers: [{ name: 'b', url }],
        components: [{ path: examples.noop, subscriptions: [{ broker: 'b', channel: 'in' }] }],
      });
      await assert.rejects(engine.start(), (e: unknown) => {
        assert.ok(e instanceof BrokerError && e.code === ErrorCode.brokerUnavailable, String(e));
        assert.match(e.message, /no JetStream/);
        assert.ok(e.message.includes(`nats-core://127.0.0.1:${server.port}/in`), e.message);
        return true;
      });
      const r = startAlone(url);
      assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
      assert.equal(r.code, ErrorCode.brokerUnavailable);
      assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
    } finally {
      await server.stop();
    }
  });
});
