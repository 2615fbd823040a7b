import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { AmqpAdapter } from '../../src/brokers/amqp.js';
import { Engine } from '../../src/engine/engine.js';
import { BrokerError, ErrorCode } from '../../src/errors.js';
import { at, cacheDir, examples, within } from '../helpers.js';

/**
 * AMQP input queues beyond the broker suite (RabbitMQ on 5672, as the integration tests use): a
 * queue made with arguments of its own, and a queue deleted under a running consumer.
 */
const URL = process.env['WASMSG_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const redacted = (url: string): string => url.replace(/:[^:@/]*@/, ':***@');

function noopEngine(queue: string): Engine {
  return new Engine({
    brokers: [{ name: 'default', url: URL }],
    components: [{ path: examples.noop, subscriptions: [{ broker: 'default', channel: queue, kind: 'queue' }] }],
    workers: 1,
    cacheDir,
  });
}

describe('integration: amqp input queues', () => {
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;
  const queues: string[] = [];
  const name = (what: string): string => {
    const q = `wasmsg-${what}-${randomBytes(4).toString('hex')}`;
    queues.push(q);
    return q;
  };
  const send = async (queue: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
  };
  before(async () => {
    conn = await amqp.connect(URL);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    await conn.close();
  });

  test('a queue declared with arguments of its own (a quorum queue, a TTL) is consumed, not redeclared', async () => {
    // before: the consumer declared it again without them, which the server refuses
    // (PRECONDITION_FAILED, inequivalent arg): the start failed
    const quorum = name('quorum');
    const ttl = name('ttl');
    await ch.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue(ttl, { durable: true, arguments: { 'x-message-ttl': 600_000 } });
    for (const queue of [quorum, ttl]) {
      const engine = noopEngine(queue);
      await engine.start();
      try {
        await send(queue, 5);
        await within(engine.waitForSettled(5), 10_000, `5 messages of ${queue}`);
      } finally {
        await engine.stop();
      }
    }
  });

  test('a queue deleted under a running consumer: consumed again once it is back', async () => {
    const queue = name('deleted');
    const engine = noopEngine(queue);
    await engine.start();
    try {
      await send(queue, 3);
      await within(engine.waitForSettled(3), 10_000, 'the first 3');
      // the server cancels the consumer; before: nothing consumed the queue again
      await ch.deleteQueue(queue);
      await ch.assertQueue(queue, { durable: true });
      await send(queue, 3);
      await within(engine.waitForSettled(6), 15_000, 'the 3 sent after the queue was made again');
      assert.equal(engine.snapshot().processed, 6);
    } finally {
      await engine.stop();
    }
  });
});

/** What a library caller's process saw when its `start()` subscribed to something the server refuses. */
interface RefusedStart {
  error?: { name: string; code: string; message: string; context: Record<string, unknown> };
  /** Timers the AMQP consumer set (its pause before consuming again), over the whole run. */
  retryTimers: number;
  /** ms the process lived on after its own watch (below) ended: nothing of the broker may hold it. */
  lingered: number;
  /** The amqp adapter's log lines (warnings), before and after start() rejected. */
  before: string[];
  after: string[];
}

/**
 * Starts an engine subscribed to `channel` (`kind`) in a process of its own, as a library caller
 * would; once start() rejected, the process watches for 1.5 s (a retry loop, 250 then 500 ms,
 * would warn within it: there is no event for nothing happening), then ends when nothing holds
 * it. The consumer's retry timers are counted by an async hook on the stack that sets them.
 */
async function refusedStart(channel: string, kind: 'queue' | 'topic'): Promise<RefusedStart> {
  const script = `
    import { createHook } from 'node:async_hooks';
    import { Engine } from ${JSON.stringify(at('dist/src/index.js'))};
    let retryTimers = 0;
    createHook({
      init(_id, type) {
        if (type !== 'Timeout') return;
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 64;
        if ((new Error().stack ?? '').includes('amqp-consumer.js')) retryTimers++;
        Error.stackTraceLimit = limit;
      },
    }).enable();
    const engine = new Engine({
      workers: 1,
      cacheDir: process.env.CACHE,
      brokers: [{ name: 'rabbit', url: process.env.URL }],
      components: [{ path: process.env.COMPONENT, subscriptions: [{ broker: 'rabbit', channel: process.env.CHANNEL, kind: process.env.KIND }] }],
    });
    let error;
    let watched;
    process.on('exit', () => console.log(JSON.stringify({ error, retryTimers, lingered: performance.now() - watched })));
    try { await engine.start(); } catch (e) { error = { name: e.name, code: e.code, message: e.message, context: e.context }; }
    process.stderr.write('--- start() rejected\\n');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    watched = performance.now();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      CACHE: cacheDir,
      COMPONENT: examples.noop,
      URL,
      CHANNEL: channel,
      KIND: kind,
      WASMSG_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    assert.equal(await within(ended, 30_000, 'the process ended by itself'), 0, stderr);
  } finally {
    child.kill('SIGKILL'); // (by its PID; a no-op once it ended)
  }
  const [head, tail = ''] = stderr.split('--- start() rejected\n');
  const amqpLines = (text: string): string[] => text.split('\n').filter((l) => l.includes('"component":"amqp"'));
  return { ...(JSON.parse(stdout) as RefusedStart), before: amqpLines(head!), after: amqpLines(tail) };
}

describe('integration: amqp subscriptions the server refuses', () => {
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;
  const held = `wasmsg-held-${randomBytes(4).toString('hex')}`;
  before(async () => {
    conn = await amqp.connect(URL);
    ch = await conn.createChannel();
    await ch.assertQueue(held, { durable: false, autoDelete: true });
    await ch.consume(held, () => {}, { exclusive: true }); // another client's exclusive consumer
  });
  after(async () => {
    await ch.deleteQueue(held).catch(() => {});
    await conn.close();
  });

  // Before: the consumer never joined the adapter's list, so nothing closed it — its channel's
  // close (the refusal) started `consuming again in 250 ms`, doubling to 5 s, for good (each
  // warned, on the live connection a new channel each time; after close() 'Connection closed');
  // and start() rejected with amqplib's untyped Error. After: nothing of it stays.
  const cases: Array<{ what: string; channel: string; kind: 'queue' | 'topic'; target: string; reason: string }> = [
    {
      what: "a queue named 'amq.x' (its declaration refused)",
      channel: 'amq.x',
      kind: 'queue',
      target: "queue 'amq.x'",
      reason: "ACCESS_REFUSED - queue name 'amq.x' contains reserved prefix 'amq.*'",
    },
    {
      what: "a topic named 'amq.x' (its fanout exchange's declaration refused, on the consumer's channel)",
      channel: 'amq.x',
      kind: 'topic',
      target: "topic 'amq.x' (a fanout exchange)",
      reason: "ACCESS_REFUSED - exchange name 'amq.x' contains reserved prefix 'amq.*'",
    },
    {
      what: "a queue another client consumes exclusively (basic.consume refused on the consumer's channel)",
      channel: held,
      kind: 'queue',
      target: `queue '${held}'`,
      reason: `ACCESS_REFUSED - queue '${held}' in vhost '${decodeURIComponent(new globalThis.URL(URL).pathname.slice(1)) || '/'}' in exclusive use`,
    },
  ];
  for (const c of cases) {
    test(`${c.what}: start() rejects E_BAD_INPUT in the server's words; no retry, no warning, the process ends`, async () => {
      const r = await refusedStart(c.channel, c.kind);
      assert.deepEqual(r.error, {
        name: 'BrokerError',
        code: ErrorCode.badInput,
        message: `amqp ${redacted(URL)}: cannot subscribe to ${c.target}: the server refused it: ${c.reason}`,
        context: { url: redacted(URL), channel: c.channel, kind: c.kind, reply: 'ACCESS_REFUSED' },
      });
      assert.equal(r.retryTimers, 0, 'the consumer set no timer to consume again');
      assert.deepEqual(r.after, [], 'no warning after start() rejected');
      assert.deepEqual(r.before, [], 'the refusal is the rejection, not also a warning');
      assert.ok(r.lingered < 1000, `the process ended ${Math.round(r.lingered)} ms after its watch`);
    });
  }

  test('a refused subscription on an adapter that stays open (one passed to an engine) consumes nothing later', async () => {
    // before: its retry loop went on on the live connection and, once the queue was free,
    // consumed it for the listener of a subscribe that had rejected: the message was delivered
    // there, and held unacked (nothing would settle it) until the adapter closed
    const queue = `wasmsg-freed-${randomBytes(4).toString('hex')}`;
    await ch.assertQueue(queue, { durable: false, autoDelete: false });
    const { consumerTag } = await ch.consume(queue, () => {}, { exclusive: true });
    const adapter = new AmqpAdapter({ name: 'rabbit', url: URL });
    await adapter.connect();
    try {
      let delivered = 0;
      await assert.rejects(
        adapter.subscribe({ channel: queue, kind: 'queue' }, (records) => (delivered += records.length)),
        (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.badInput && /in exclusive use/.test(e.message),
      );
      await ch.cancel(consumerTag); // the queue is free now
      ch.sendToQueue(queue, Buffer.from('m'));
      // watched for 1.5 s (a retry 250, then 500 ms later would consume within it)
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(delivered, 0, 'nothing delivered to the rejected subscription');
      assert.deepEqual(await ch.checkQueue(queue), { queue, messageCount: 1, consumerCount: 0 });
    } finally {
      await adapter.close();
      await ch.deleteQueue(queue).catch(() => {});
    }
  });
});
