import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { type AddressInfo, type Socket, createConnection, createServer } from 'node:net';
import { describe, test } from 'node:test';
import { channelFromUrl, createBroker } from '../../src/brokers/connect.js';
import { Engine } from '../../src/engine/engine.js';
import { BrokerError, ErrorCode, OptionError } from '../../src/errors.js';
import { at, cacheDir, examples, within } from '../helpers.js';
import { TcpProxy, TestServer, freePort } from '../faults/servers.js';
import { brokersOf } from '../../src/brokers/kafka.js';
import { redisClientUrl } from '../../src/brokers/redis.js';
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

/**
 * Starts an engine with the one broker `url` in a process of its own, as a library caller would;
 * how its start() ended and how long the process lived on after it (nothing left should hold it).
 */
function startAlone(
  url: string,
  options: Record<string, unknown> = {},
): { signal: NodeJS.Signals | null; stderr: string; code?: string; lingered?: number } {
  const script = `
    import { Engine } from ${JSON.stringify(at('dist/src/index.js'))};
    const engine = new Engine({
      workers: 1,
      cacheDir: process.env.CACHE,
      brokers: [{ name: 'b', url: process.env.URL, options: JSON.parse(process.env.OPTIONS) }],
      components: [{ path: process.env.COMPONENT, subscriptions: [{ broker: 'b', channel: 'in' }] }],
    });
    let rejectedAt;
    process.on('exit', () => console.log(JSON.stringify({ code, lingered: performance.now() - rejectedAt })));
    let code;
    try { await engine.start(); } catch (e) { code = e.code; rejectedAt = performance.now(); }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, CACHE: cacheDir, COMPONENT: examples.noop, URL: url, OPTIONS: JSON.stringify(options) },
    timeout: 30_000,
  });
  return { signal: r.signal, stderr: r.stderr, ...(r.signal === null ? (JSON.parse(r.stdout) as object) : {}) };
}

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
