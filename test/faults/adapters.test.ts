import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { AckPolicy, connect as natsConnect, headers as natsHeaders } from 'nats';
import type { BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from '../../src/brokers/adapter.js';
import { AmqpAdapter } from '../../src/brokers/amqp.js';
import { HeldDeliveries, outputKey, percentEncode } from '../../src/brokers/common.js';
import { KEY_HEADER } from '../../src/brokers/key-header.js';
import { BrokerError, MemoryBroker } from '../../src/brokers/memory.js';
import { MqttAdapter } from '../../src/brokers/mqtt.js';
import { subscribeRefusal } from '../../src/brokers/mqtt-text.js';
import { CORE_HELD_BYTES, CORE_HELD_LIMIT } from '../../src/brokers/nats-consumer.js';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { RedisAdapter } from '../../src/brokers/redis.js';
import { headersFromPairs } from '../../src/component/host-text.js';
import { Engine } from '../../src/engine/engine.js';
import { ErrorCode, WasmsgError } from '../../src/errors.js';
import { at, cacheDir, examples, fixture, within } from '../helpers.js';
import { TcpProxy, TestServer } from './servers.js';

/**
 * Issue 12, findings 1, 8 and 9 on each broker: records a broker cannot carry as they are are
 * encoded or refused with a typed error (never a synchronous throw, never a client that
 * reconnects forever), header names are data whatever they are (`__proto__`), and a record's
 * key arrives where the broker keys messages — read back by the broker's own client and by the
 * adapter's consumer. Kafka's part is in poison.test.ts (through a relay, one mock cluster).
 */

const run = `f${randomBytes(3).toString('hex')}`;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Headers a handler may set: prototype names, and a value with CR/LF (a dead-letter error text has one). */
const hostileHeaders = (): Record<string, string> =>
  headersFromPairs([
    ['__proto__', 'proto-value'],
    ['constructor', 'ctor-value'],
    ['x-error', 'line one\r\nwasmsg: forged line'],
  ]);

function assertHostileKept(headers: Readonly<Record<string, string>>, encoded: boolean): void {
  assert.ok(Object.hasOwn(headers, '__proto__'), `__proto__ kept as a header: ${JSON.stringify(Object.keys(headers))}`);
  assert.equal(headers['__proto__'], 'proto-value');
  assert.equal(Object.getPrototypeOf(headers), Object.prototype, 'no prototype pollution');
  assert.ok(Object.hasOwn(headers, 'constructor'));
  assert.equal(headers['constructor'], 'ctor-value');
  const v = headers['x-error']!;
  if (encoded) {
    assert.equal(v, 'line one%0D%0Awasmsg: forged line');
    assert.equal(decodeURIComponent(v), 'line one\r\nwasmsg: forged line');
  } else assert.equal(v, 'line one\r\nwasmsg: forged line');
}

/**
 * Header names a percent-encoding must keep apart (NATS and MQTT): one with a character the
 * broker cannot carry (TAB), the literal text of its escape, a `%` that starts no escape, a
 * plain name — and the names they go out under (only the plain one unchanged).
 */
const percentNames = (): Record<string, string> =>
  headersFromPairs([
    ['a\tb', 'tab'],
    ['a%09b', 'literal escape'],
    ['100%', 'percent'],
    ['plain-name', 'plain'],
  ]);
const PERCENT_NAMES_ON_WIRE = {
  'a%09b': 'tab',
  'a%2509b': 'literal escape',
  '100%25': 'percent',
  'plain-name': 'plain',
};

/** Subscribes through the adapter and collects what it delivers (acking it). */
async function collect(
  adapter: BrokerAdapter,
  channel: string,
  kind: 'queue' | 'topic' = 'queue',
): Promise<{ got: BrokerRecord[]; until: (n: number) => Promise<void>; consumer: Consumer }> {
  const got: BrokerRecord[] = [];
  const consumer = await adapter.subscribe({ channel, kind, group: `g-${run}` }, (records) => {
    for (const r of records) {
      got.push(r);
      consumer.settle(r, 'ack');
    }
  });
  const until = async (n: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (got.length < n) {
      if (Date.now() > deadline) throw new Error(`got ${got.length} of ${n} records on ${channel}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { got, until, consumer };
}

/** publish() must reject, never throw: calls it and checks it returned a promise first. */
async function rejectsTyped(adapter: BrokerAdapter, records: OutRecord[], code: string): Promise<BrokerError> {
  let p: Promise<void> | undefined;
  assert.doesNotThrow(() => {
    p = adapter.publish(records);
  }, 'publish() throws synchronously');
  let caught: unknown;
  await p!.then(
    () => assert.fail(`publish of ${JSON.stringify(records.map((r) => r.channel))} resolved`),
    (err: unknown) => (caught = err),
  );
  assert.ok(caught instanceof BrokerError, `a BrokerError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const out = (channel: string, o: Partial<OutRecord> = {}): OutRecord => ({
  kind: 'queue',
  channel,
  headers: {},
  value: enc('v'),
  ...o,
});

/**
 * One input on `channel` of the broker at `url`, handled by a component that always fails, 3
 * attempts 800 ms apart: the engine holds it ≈ 1.6 s, past the broker's own redelivery time set
 * shorter in `options`. The input must be received once and tried 3 times, no more.
 */
async function heldThreeAttempts(
  url: string,
  options: Record<string, unknown>,
  channel: string,
  /** Produces the input (the engine given: its own adapter may publish it). */
  produce: (engine: Engine) => Promise<unknown>,
): Promise<void> {
  const engine = new Engine(
    {
      brokers: [{ name: 'default', url, options }],
      components: [{ path: fixture('err'), subscriptions: [{ channel, kind: 'queue', group: 'g' }] }],
      workers: 1,
      cacheDir,
      retries: { maxAttempts: 3, backoffMs: 800, maxBackoffMs: 800 },
      deadLetter: { channel: `${channel}.dead` },
    },
    [],
  );
  await engine.start();
  try {
    await produce(engine);
    await within(engine.waitForSettled(1), 20_000, 'the input settled');
    const s = engine.snapshot();
    assert.equal(s.received, 1, 'received once');
    assert.equal(s.failed, 3, 'three attempts, no more');
  } finally {
    await engine.stop();
  }
}

describe('outputKey and percent-encoding', () => {
  test("an output's key: the handler's partitionkey (world A extension or metadata), else the input's key", () => {
    assert.equal(outputKey({ ce_partitionkey: 'pk' }, 'in'), 'pk');
    assert.equal(outputKey({ partitionkey: 'meta' }, 'in'), 'meta');
    assert.equal(outputKey({ 'ce-partitionkey': 'nats' }, null), 'nats');
    assert.equal(outputKey({ ce_partitionkey: 'a', partitionkey: 'b' }, 'in'), 'a', 'the extension first');
    assert.equal(outputKey({ ce_partitionkey: '' }, 'in'), '', 'an empty key is a key');
    assert.equal(outputKey({ other: 'x' }, 'in'), 'in');
    assert.equal(outputKey({}, null), null);
    assert.equal(outputKey({}, undefined), null);
    assert.equal(outputKey(headersFromPairs([['__proto__', 'x']]), 'in'), 'in');
  });

  test('percent-encoding changes only texts that need it, and decodeURIComponent reverses it', () => {
    const nl = (cp: number): boolean => cp === 10 || cp === 13;
    assert.equal(percentEncode('50% plain', nl), '50% plain');
    const e = percentEncode('50%\r\nnext 😀', nl);
    assert.equal(e, '50%25%0D%0Anext 😀');
    assert.equal(decodeURIComponent(e), '50%\r\nnext 😀');
  });
});

describe('fault: core NATS subscriptions', () => {
  test('a subscription the server refuses (permissions) is reported; the process goes on', async () => {
    const server = await TestServer.start(
      'nats',
      'authorization { users = [ { user: w, password: p, permissions: { subscribe: { deny: ["denied.>"] } } } ] }\n',
    );
    const warned = new Promise<string>((resolve) => {
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        if (String(chunk).includes('Permissions Violation')) {
          process.stderr.write = write;
          resolve(String(chunk));
        }
        return write(chunk, ...rest);
      }) as typeof process.stderr.write;
    });
    const adapter = new NatsAdapter({ name: 'default', url: `nats-core://w:p@127.0.0.1:${server.port}/denied.in` });
    try {
      await adapter.connect();
      await adapter.subscribe({ channel: 'denied.in', kind: 'topic' }, () => {});
      // before: the subscription's iterator threw, unhandled: the process ended
      assert.match(await within(warned, 10_000, 'the refusal reported'), /denied\.in/);
    } finally {
      await adapter.close().catch(() => {});
      await server.stop();
    }
  });

  test('HeldDeliveries with a limit (core NATS: CORE_HELD_LIMIT): while paused it holds that many, drops the rest and counts them', () => {
    const batches: number[] = [];
    let dropped = 0;
    const held = new HeldDeliveries((records) => batches.push(records.length), {
      messages: 3,
      bytes: Infinity,
      dropped: (n) => (dropped += n),
    });
    const rec = (i: number): BrokerRecord => ({
      channel: 'c',
      partition: 0,
      offset: String(i),
      key: null,
      headers: {},
      value: enc('x'),
      timestamp: 0,
    });
    held.pause();
    for (let i = 0; i < 5; i++) held.deliver(rec(i), true);
    held.resume();
    held.deliver(rec(5));
    assert.deepEqual(batches, [3, 1]);
    assert.equal(dropped, 2);
    assert.ok(CORE_HELD_LIMIT > 0 && Number.isFinite(CORE_HELD_LIMIT));
    // and in bytes: past `bytes` held, the next droppable record is dropped (a held one never)
    const sized = new HeldDeliveries(() => {}, { messages: Infinity, bytes: 2, dropped: () => {} });
    sized.pause();
    for (let i = 0; i < 4; i++) sized.deliver(rec(i), true);
    sized.deliver(rec(4));
    assert.deepEqual([sized.size, sized.bytes], [3, 3]);
  });

  test('a paused core NATS subscription holds at most CORE_HELD_BYTES of payload; the rest are dropped and reported', async () => {
    // before: only CORE_HELD_LIMIT (16 384) messages bounded it — 16 GiB of 1 MiB messages
    const server = await TestServer.start('nats');
    const adapter = new NatsAdapter({ name: 'default', url: `nats-core://127.0.0.1:${server.port}/big` });
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const n = 300; // 75 MiB
    try {
      await adapter.connect();
      let delivered = 0;
      const consumer = await adapter.subscribe({ channel: 'big', kind: 'topic' }, (rs) => (delivered += rs.length));
      consumer.pause();
      const value = new Uint8Array(256 * 1024);
      for (let i = 0; i < n; i++) nc.publish('big', value);
      await nc.flush();
      const held = (consumer as unknown as { deliveries: { size: number; dropped: number } }).deliveries;
      await within(
        (async () => {
          while (held.size + held.dropped < n) await new Promise((r) => setTimeout(r, 20));
        })(),
        20_000,
        `the ${n} messages arrived`,
      );
      assert.ok(held.size * value.length <= CORE_HELD_BYTES + value.length, `held ${held.size} of 256 KiB`);
      assert.ok(held.dropped >= n - (CORE_HELD_BYTES / value.length + 1), `dropped ${held.dropped}`);
      const kept = held.size;
      consumer.resume();
      assert.equal(delivered, kept);
    } finally {
      await nc.close();
      await adapter.close().catch(() => {});
      await server.stop();
    }
  });
});

describe('fault: NATS headers, subjects and keys', () => {
  let server: TestServer;
  let adapter: NatsAdapter;
  before(async () => {
    server = await TestServer.start('nats');
    adapter = new NatsAdapter({ name: 'default', url: server.url });
    await adapter.connect();
  });
  after(async () => {
    await adapter.close();
    await server.stop();
  });

  test('a durable consumer of the stream that reads another subject is refused, not reused', async () => {
    // one stream for two subjects (createStreams: false, a managed stream), one default group
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `S${run}`, subjects: [`${run}.two.>`] });
    await nc.close();
    const own = new NatsAdapter({ name: 'default', url: server.url, createStreams: false });
    await own.connect();
    try {
      const a = await own.subscribe({ channel: `${run}.two.a`, kind: 'queue' }, () => {});
      // before: the durable `wasmsg` (reading .a) was reused, and .b's subscription got .a's messages
      await assert.rejects(
        own.subscribe({ channel: `${run}.two.b`, kind: 'queue' }, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof WasmsgError, String(e));
          assert.equal(e.code, ErrorCode.badOption);
          assert.match(e.message, /durable consumer 'wasmsg' .* reads '.*\.two\.a'/);
          return true;
        },
      );
      await a.close();
    } finally {
      await own.close();
    }
  });

  test('a subscription the server or nats.js refuses rejects E_BAD_INPUT in their words, naming the subject', async () => {
    // before: nats.js's untyped errors — a NatsError `subjects overlap with an existing stream`,
    // an Error `invalid durable name …`, naming neither the broker nor the subject
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const jsm = await nc.jetstreamManager();
    // two streams: no one stream stores `.ov.*`, and the one made for it would overlap both
    await jsm.streams.add({ name: `OA${run}`, subjects: [`${run}.ov.a`] });
    await jsm.streams.add({ name: `OB${run}`, subjects: [`${run}.ov.b`] });
    await nc.close();
    const cases: Array<[{ channel: string; kind: 'queue' | 'topic'; group?: string }, string]> = [
      [
        { channel: `${run}.ov.*`, kind: 'queue' },
        `cannot subscribe to subject '${run}.ov.*': the server refused it: subjects overlap with an existing stream`,
      ],
      [
        { channel: `${run}.grp`, kind: 'queue', group: 'a.b' },
        `cannot subscribe to subject '${run}.grp' in group 'a.b': invalid durable name - durable name cannot contain '.'`,
      ],
    ];
    for (const [spec, words] of cases)
      await assert.rejects(
        adapter.subscribe(spec, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof BrokerError && e.code === ErrorCode.badInput, String(e));
          assert.equal(e.message, `nats ${server.url}: ${words}`);
          assert.equal(e.context['channel'], spec.channel);
          return true;
        },
      );
  });

  test('core NATS: a subject nats.js refuses (empty: BAD_SUBJECT) rejects E_BAD_INPUT; a closed connection E_BROKER_UNAVAILABLE', async () => {
    // before: E_BROKER_UNAVAILABLE `cannot subscribe to subject '': BAD_SUBJECT`, an outage
    // named for what was a bad argument (natsRefusal took any NatsError with a code for one)
    const url = `nats-core://127.0.0.1:${server.port}`;
    const core = new NatsAdapter({ name: 'default', url });
    await core.connect();
    try {
      await assert.rejects(
        core.subscribe({ channel: '', kind: 'topic' }, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof BrokerError, String(e));
          assert.equal(e.code, ErrorCode.badInput, e.message);
          assert.equal(
            e.message,
            `nats ${url}: cannot subscribe to subject '': nats.js refused it as a bad subject (BAD_SUBJECT)`,
          );
          assert.equal(e.context['channel'], '');
          return true;
        },
      );
    } finally {
      await core.close();
    }
    // nats.js's CONNECTION_CLOSED is no refusal: the broker is unavailable, as before
    await assert.rejects(
      core.subscribe({ channel: `${run}.closed`, kind: 'topic' }, () => {}),
      (e: unknown) => {
        assert.ok(e instanceof BrokerError, String(e));
        assert.equal(e.code, ErrorCode.brokerUnavailable, e.message);
        assert.match(e.message, /cannot subscribe to subject '.*\.closed': .*CONNECTION_CLOSED/);
        return true;
      },
    );
  });

  /** An engine on this server: `component` reads `channel` (queue group g), one attempt, its dead letters to `deadLetter`. */
  const engineOn = (component: string, channel: string, deadLetter?: string): Engine =>
    new Engine(
      {
        brokers: [{ name: 'default', url: server.url }],
        components: [{ path: fixture(component), subscriptions: [{ channel, kind: 'queue', group: 'g' }] }],
        workers: 1,
        cacheDir,
        retries: { maxAttempts: 1, backoffMs: 1 },
        ...(deadLetter === undefined ? {} : { deadLetter: { channel: deadLetter } }),
      },
      [],
    );

  test("an input's JetStream publish conditions (Nats-Expected-*) are not its headers: its dead letter is stored", async () => {
    const subject = `${run}.expect`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `E${run}`, subjects: [subject] });
    await js.publish(subject, enc('poison'), { expect: { streamName: `E${run}` } });
    const engine = engineOn('trap', subject);
    await engine.start();
    try {
      // before: the dead letter carried Nats-Expected-Stream and its stream refused it, for good
      await within(engine.waitForSettled(1), 20_000, 'dead-lettered');
      assert.equal(engine.snapshot().deadLettered, 1);
    } finally {
      await engine.stop();
      await nc.close();
    }
  });

  test("an input's Nats-Rollup header reaches its dead letter as data (x-wasmsg-nats-rollup): the dead letter is stored", async () => {
    const subject = `${run}.rollup`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `R${run}`, subjects: [subject], allow_rollup_hdrs: true });
    const h = natsHeaders();
    h.set('Nats-Rollup', 'sub');
    await js.publish(subject, enc('poison'), { headers: h });
    const dead = `${run}.rollup-dead`;
    const engine = engineOn('trap', subject, dead);
    await engine.start();
    try {
      // before: the dead letter carried Nats-Rollup to a stream without rollups, refused for good
      await within(engine.waitForSettled(1), 20_000, 'dead-lettered');
      assert.equal(engine.snapshot().deadLettered, 1);
      const stored = await jsm.streams.getMessage(await jsm.streams.find(dead), { last_by_subj: dead });
      assert.equal(stored.header.get('x-wasmsg-nats-rollup'), 'sub');
      assert.equal(stored.header.get('Nats-Rollup'), '');
    } finally {
      await engine.stop();
      await nc.close();
    }
  });

  test('JetStream pulls sized in bytes: big messages all come, small ones more than the first pull of 64 at once', async () => {
    // before: 256 messages a pull whatever their size
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const js = nc.jetstream();
    const sizes = async (subject: string, n: number, bytes: number): Promise<number[]> => {
      const value = new Uint8Array(bytes);
      await (await nc.jetstreamManager()).streams.add({ name: subject.replaceAll('.', '_'), subjects: [subject] });
      for (let i = 0; i < n; i += 100)
        await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => js.publish(subject, value)));
      const batches: number[] = [];
      let got = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const c = await adapter.subscribe({ channel: subject, kind: 'queue', group: 'sized' }, (records) => {
        batches.push(records.length);
        if ((got += records.length) >= n) done();
      });
      await within(all, 20_000, `${n} messages of ${bytes} B`);
      await c.close();
      return batches;
    };
    try {
      // (a pull's messages come in several turns of the event loop: the sizes are ReadSizer's, tested alone)
      const big = await sizes(`${run}.sized.big`, 30, 256 * 1024);
      assert.equal(
        big.reduce((a, b) => a + b, 0),
        30,
      );
      const small = await sizes(`${run}.sized.small`, 3000, 100);
      assert.ok(Math.max(...small) > 64 && Math.max(...small) <= 1024, `small messages: ${small.join(' ')}`);
    } finally {
      await nc.close();
    }
  });

  test("a durable consumer with a `max_batch` of its own (an operator's): no pull asks for more, and every message comes", async () => {
    // before: a pull of small messages asked for up to 1024 (256 before 97655ce); the server
    // refused each with a 409 `Exceeded MaxRequestBatch`, which nats.js only reports as a debug
    // event: after the first message, nothing more was consumed, and nothing said why
    const subject = `${run}.maxbatch`;
    const group = `mb-${run}`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    try {
      const jsm = await nc.jetstreamManager();
      const stream = subject.replaceAll('.', '_');
      await jsm.streams.add({ name: stream, subjects: [subject] });
      await jsm.consumers.add(stream, {
        durable_name: group,
        ack_policy: AckPolicy.Explicit,
        filter_subject: subject,
        max_batch: 300,
      });
      const js = nc.jetstream();
      const value = new Uint8Array(100);
      for (let i = 0; i < 2000; i += 100)
        await Promise.all(Array.from({ length: 100 }, () => js.publish(subject, value)));
      let got = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const c = await adapter.subscribe({ channel: subject, kind: 'queue', group }, (records) => {
        for (const r of records) c.settle(r, 'ack');
        if ((got += records.length) >= 2000) done();
      });
      const came = await within(all, 20_000, '2000 messages').then(
        () => true,
        () => false,
      );
      await c.close();
      assert.ok(came, `${got} of 2000 messages within 20 s`);
    } finally {
      await nc.close();
    }
  });

  test('the first JetStream pull asks for one message (no size known), not 64 of any size', async () => {
    // paused right after subscribe: only the first pull runs; what it brought is what the server
    // counts as delivered and unacked once nothing is in transit. Before: 64 of 256 KiB (16 MiB;
    // 64 MiB of 1 MiB messages past the engine's byte bound at every start)
    const subject = `${run}.first.pull`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const jsm = await nc.jetstreamManager();
    try {
      await jsm.streams.add({ name: subject.replaceAll('.', '_'), subjects: [subject] });
      const js = nc.jetstream();
      const value = new Uint8Array(256 * 1024);
      await Promise.all(Array.from({ length: 100 }, () => js.publish(subject, value)));
      let delivered = 0;
      const c = await adapter.subscribe({ channel: subject, kind: 'queue', group: 'first' }, (records) => {
        delivered += records.length;
      });
      c.pause();
      const { stream, name } = (c as unknown as { target: { stream: string; name: string } }).target;
      let pending = -1;
      await within(
        (async () => {
          while (delivered === 0 || pending !== delivered) {
            await new Promise((r) => setTimeout(r, 20));
            pending = (await jsm.consumers.info(stream, name)).num_ack_pending;
          }
        })(),
        10_000,
        'the first pull delivered',
      );
      assert.equal(delivered, 1);
      await c.close();
    } finally {
      await nc.close();
    }
  });

  test("an input's Nats-Msg-Id is not carried on as such: its dead letter in the same stream is stored, not dropped as a duplicate", async () => {
    const p = `${run}.msgid`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `M${run}`, subjects: [`${p}.>`] });
    await js.publish(`${p}.in`, enc('poison'), { msgID: 'id-1' });
    const engine = engineOn('trap', `${p}.in`, `${p}.dlq`);
    await engine.start();
    try {
      await within(engine.waitForSettled(1), 20_000, 'dead-lettered');
      // before: the dead letter carried Nats-Msg-Id id-1, JetStream took it for its input
      // published again (same stream, within the duplicate window) and dropped it: the input
      // was acked, its dead letter never stored
      const dlq = await jsm.streams.getMessage(`M${run}`, { last_by_subj: `${p}.dlq` });
      assert.equal(dlq.header.get('x-wasmsg-nats-msg-id'), 'id-1');
      assert.equal(dlq.header.get('Nats-Msg-Id'), '');
    } finally {
      await engine.stop();
      await nc.close();
    }
  });

  test("another producer's `Nats%2DMsg-Id` and `Nats%2DExpected-*` headers are read as the literal ones are: a relay's outputs are stored", async () => {
    const p = `${run}.encsrv`;
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    const stream = `N${run}`;
    await jsm.streams.add({ name: stream, subjects: [`${p}.>`] });
    // names JetStream does not read on the wire, but that percent-decode to ones it does
    const sent: Array<[string, string]> = [
      ['Nats%2DMsg-Id', 'id-1'],
      ['Nats%2DMsg-Id', 'id-1'],
      ['Nats%2DExpected-Stream', 'no-such-stream'],
      ['Nats%2dExpected-Last-Sequence', '999'],
    ];
    for (const [i, [name, value]] of sent.entries()) {
      const h = natsHeaders();
      h.set(name, value);
      h.set('x-n', String(i));
      await js.publish(`${p}.in`, enc(`v${i}`), { headers: h });
    }
    const engine = engineOn('relay', `${p}.in`, `${p}.dlq`);
    await engine.start();
    try {
      await within(engine.waitForSettled(sent.length), 20_000, 'every input settled');
      // before: read back as plain Nats-Msg-Id / Nats-Expected-* headers, which the relay
      // forwarded: JetStream dropped the second output as a duplicate of the first, and refused
      // the last two (their conditions unmet) and their dead letters (which carry the same
      // headers): those inputs never settled
      assert.equal(engine.snapshot().deadLettered, 0);
      const last = (await jsm.streams.info(stream)).state.last_seq;
      const outputs: Array<Record<string, string>> = [];
      for (let seq = 1; seq <= last; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (m.subject !== `${p}.in.out`) continue;
        const h: Record<string, string> = {};
        for (const k of m.header.keys()) h[k] = m.header.get(k);
        outputs.push(h);
      }
      assert.deepEqual(
        outputs.map((h) => h['x-n']),
        ['0', '1', '2', '3'],
      );
      assert.deepEqual(
        outputs.map((h) => h['x-wasmsg-nats-msg-id']),
        ['id-1', 'id-1', undefined, undefined],
      );
      for (const h of outputs)
        assert.ok(
          Object.keys(h).every((k) => !k.toLowerCase().startsWith('nats')),
          `no server header forwarded: ${JSON.stringify(h)}`,
        );
    } finally {
      await engine.stop();
      await nc.close();
    }
  });

  test('`Nats-Msg-Id` and `Nats%2DMsg-Id` on one message: the first on the wire is the id, as the first key header is the key', async () => {
    // before: the later one's value (two headers of one name: the second replaced the first),
    // while of two key headers the first is the key
    const subject = `${run}.msgidpair`;
    const c = await collect(adapter, subject);
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const pairs: Array<Array<[string, string]>> = [
      [
        ['Nats%2DMsg-Id', 'encoded-1'],
        ['Nats-Msg-Id', 'literal-1'],
      ],
      [
        ['Nats-Msg-Id', 'literal-2'],
        ['Nats%2DMsg-Id', 'encoded-2'],
      ],
      [
        ['Nats%2dMsg-Id', 'encoded-3'],
        ['Nats-Msg-Id', 'literal-3'],
        ['Nats%2DMsg-Id', 'encoded-3b'],
      ],
    ];
    try {
      const js = nc.jetstream();
      for (const [i, headers] of pairs.entries()) {
        const h = natsHeaders();
        for (const [name, value] of headers) h.append(name, value);
        h.append('x-n', String(i));
        await js.publish(subject, enc(`v${i}`), { headers: h });
      }
      await c.until(pairs.length);
    } finally {
      await nc.close();
    }
    assert.deepEqual(
      c.got.map((r) => [r.headers['x-n'], r.headers['x-wasmsg-nats-msg-id']]),
      [
        ['0', 'encoded-1'],
        ['1', 'literal-2'],
        ['2', 'encoded-3'],
      ],
    );
    for (const r of c.got)
      assert.ok(
        Object.keys(r.headers).every((k) => !k.toLowerCase().startsWith('nats')),
        JSON.stringify(r.headers),
      );
    await c.consumer.close();
  });

  test('a header another producer repeats: its values joined with `,`, as on Kafka, MQTT and AMQP; a repeated `Nats-Msg-Id` or key: the first value', async () => {
    // before: the first value alone (`1`): the producer's second value was lost
    const subject = `${run}.repeat`;
    const c = await collect(adapter, subject);
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    try {
      const h = natsHeaders();
      for (const [name, value] of [
        ['x-twice', '1'],
        ['x-once', 'one'],
        ['Nats-Msg-Id', `id-a-${run}`],
        [KEY_HEADER, 'k1'],
        ['x-twice', '2'],
        ['Nats-Msg-Id', `id-b-${run}`],
        [KEY_HEADER, 'k2'],
      ])
        h.append(name!, value!);
      await nc.jetstream().publish(subject, enc('v'), { headers: h });
      await c.until(1);
    } finally {
      await nc.close();
    }
    const r = c.got[0]!;
    assert.equal(r.headers['x-twice'], '1,2');
    assert.equal(r.headers['x-once'], 'one');
    assert.equal(r.headers['x-wasmsg-nats-msg-id'], `id-a-${run}`);
    assert.equal(r.key, 'k1');
    await c.consumer.close();
  });

  test('a header value with CR/LF, names with spaces or colons: percent-encoded, not a crash', async () => {
    const subject = `${run}.hdr`;
    const c = await collect(adapter, subject);
    const headers = hostileHeaders();
    headers['name with space:colon'] = ' padded ';
    await adapter.publish([out(subject, { headers, key: 'the-key' })]);
    // the broker's own client
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const jsm = await nc.jetstreamManager();
    const stored = await jsm.streams.getMessage(await jsm.streams.find(subject), { seq: 1 });
    const h: Record<string, string> = {};
    for (const k of stored.header.keys()) h[k] = stored.header.get(k);
    await nc.close();
    assert.equal(h['x-error'], 'line one%0D%0Awasmsg: forged line');
    assert.equal(h['name%20with%20space%3Acolon'], '%20padded%20');
    assert.equal(h[KEY_HEADER], 'the-key', 'the key travels in the wasmsg-key header');
    // the adapter's consumer: key back from the header, names as data
    await c.until(1);
    const r = c.got[0]!;
    assert.equal(r.key, 'the-key');
    assert.ok(!Object.hasOwn(r.headers, KEY_HEADER));
    assertHostileKept(r.headers, true);
  });

  test('header names with `%` go out with `%25`: no two names share a wire name, each comes back as sent', async () => {
    // before: `a\tb` went out as `a%09b` and `a%09b` unchanged — one wire name for two headers
    // (the second replaced the first, its value lost), read back as `a%09b`
    const subject = `${run}.pct`;
    const c = await collect(adapter, subject);
    const sent = percentNames();
    await adapter.publish([out(subject, { headers: sent })]);
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    const jsm = await nc.jetstreamManager();
    const stored = await jsm.streams.getMessage(await jsm.streams.find(subject), { last_by_subj: subject });
    const h: Record<string, string> = {};
    for (const k of stored.header.keys()) h[k] = stored.header.get(k);
    await nc.close();
    assert.deepEqual(h, PERCENT_NAMES_ON_WIRE);
    await c.until(1);
    assert.deepEqual(Object.entries(c.got[0]!.headers), Object.entries(sent));
    await c.consumer.close();
  });

  test("another producer's `wasmsg%2Dkey` header is the key (its name read decoded), the first of two key headers", async () => {
    // before: the key was only the literal `wasmsg-key`; `wasmsg%2Dkey`, read back decoded,
    // became a header named `wasmsg-key` beside the key (a forwarded output's key downstream)
    const subject = `${run}.keyname`;
    const c = await collect(adapter, subject);
    const nc = await natsConnect({ servers: `127.0.0.1:${server.port}` });
    try {
      const js = nc.jetstream();
      for (const names of [['wasmsg%2Dkey'], ['wasmsg%2Dkey', KEY_HEADER], [KEY_HEADER, 'wasmsg%2dkey']]) {
        const h = natsHeaders();
        for (const [i, name] of names.entries()) h.append(name, `${name}#${i}`);
        h.append('x-other', 'kept');
        await js.publish(subject, enc('v'), { headers: h });
      }
      await c.until(3);
    } finally {
      await nc.close();
    }
    assert.deepEqual(
      c.got.map((r) => r.key),
      ['wasmsg%2Dkey#0', 'wasmsg%2Dkey#0', `${KEY_HEADER}#0`],
    );
    for (const r of c.got) assert.deepEqual(r.headers, { 'x-other': 'kept' });
    await c.consumer.close();
  });

  test('a JetStream message the engine holds past ackWaitMs is not handled again', async () => {
    // a failing handler with backoffs of 800 ms holds its one input ≈ 1.6 s, past ackWaitMs 500:
    // before, the server redelivered it and the engine ran and dead-lettered it again
    const subject = `${run}.held`;
    await heldThreeAttempts(server.url, { ackWaitMs: 500 }, subject, (engine) =>
      engine.broker().publish([out(subject)]),
    );
  });

  test('a subject NATS cannot take is refused with E_BAD_INPUT (no protocol injection); the adapter goes on', async () => {
    for (const bad of [
      '',
      'a b',
      `${run}.x\r\nPUB evil 1`,
      `${run}.*`,
      `${run}.>`,
      `${run}..x`,
      '$JS.API.STREAM.LIST',
    ]) {
      await rejectsTyped(adapter, [out(bad)], ErrorCode.badInput);
    }
    const subject = `${run}.after`;
    const c = await collect(adapter, subject);
    await adapter.publish([out(subject)]);
    await c.until(1);
  });
});

describe('fault: Redis publish errors, headers and keys', () => {
  let server: TestServer;
  let adapter: RedisAdapter;
  let client: Redis;
  before(async () => {
    server = await TestServer.start('redis');
    adapter = new RedisAdapter({ name: 'default', url: server.url });
    await adapter.connect();
    client = new Redis(server.url);
  });
  after(async () => {
    client.disconnect();
    await adapter.close();
    await server.stop();
  });

  test('reads are sized in bytes: big entries a few a read, small ones up to 1024', async () => {
    // before: 512 entries a read whatever their size (two reads in flight: 1 GiB of 1 MiB entries)
    const sizes = async (stream: string, n: number, bytes: number): Promise<number[]> => {
      const value = Buffer.alloc(bytes, 1);
      for (let i = 0; i < n; i += 100) {
        const p = client.pipeline();
        for (let j = i; j < Math.min(n, i + 100); j++) p.xadd(stream, '*', 'data', value);
        await p.exec();
      }
      const batches: number[] = [];
      let got = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      const c = await adapter.subscribe({ channel: stream, kind: 'queue', group: 'sized' }, (records) => {
        batches.push(records.length); // (not acked: nothing here depends on it)
        if ((got += records.length) >= n) done();
      });
      await within(all, 20_000, `${n} entries of ${bytes} B`);
      await c.close();
      return batches;
    };
    // the first read takes one entry, the next (sent as its reply came) is sized by it: before,
    // both asked for 64 whatever the size (128 MiB of 1 MiB entries at every start)
    const big = await sizes(`${run}.sized-big`, 100, 256 * 1024);
    assert.equal(big[0], 1, `first read: ${big.join(' ')}`);
    assert.ok(Math.max(...big) <= 5, `then about 1 MiB a read: ${big.join(' ')}`);
    const small = await sizes(`${run}.sized-small`, 5000, 100);
    assert.ok(Math.max(...small) > 512, `small entries: ${small.join(' ')}`);
    assert.ok(Math.max(...small) <= 1024);
  });

  test('an entry the engine still holds past claimIdleMs is not claimed back by its own consumer', async () => {
    // a failing handler with backoffs of 800 ms holds its one input ≈ 1.6 s, past claimIdleMs
    // 300: before, the periodic XAUTOCLAIM delivered it again (3 copies, 2 dead letters)
    const stream = `${run}.held`;
    await heldThreeAttempts(server.url, { claimIdleMs: 300 }, stream, () => client.xadd(stream, '*', 'data', 'x'));
    assert.equal(await client.xlen(`${stream}.dead`), 1);
  });

  test("another consumer's entry left idle past claimIdleMs is claimed and handled", async () => {
    const stream = `${run}.abandoned`;
    await client.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
    await client.xadd(stream, '*', 'data', 'x');
    // a consumer that read it and died without acking
    await client.xreadgroup('GROUP', 'g', 'died', 'COUNT', 10, 'STREAMS', stream, '>');
    const engine = new Engine(
      {
        brokers: [{ name: 'default', url: server.url, options: { claimIdleMs: 300 } }],
        components: [{ path: examples.noop, subscriptions: [{ channel: stream, kind: 'queue', group: 'g' }] }],
        workers: 1,
        cacheDir,
      },
      [],
    );
    await engine.start();
    try {
      await within(engine.waitForSettled(1), 20_000, 'the abandoned entry settled');
      assert.equal(engine.snapshot().received, 1);
    } finally {
      await engine.stop();
    }
    const pending = (await client.xpending(stream, 'g')) as [number, ...unknown[]];
    assert.equal(pending[0], 0, 'acked: nothing left pending in the group');
  });

  /** Polls `f` until it is true (a server-side effect with no event to wait on), failing after 10 s. */
  const eventually = (what: string, f: () => Promise<boolean>): Promise<void> =>
    within(
      (async () => {
        while (!(await f())) await new Promise((r) => setTimeout(r, 20));
      })(),
      10_000,
      what,
    );

  test('two consumers of a group: an entry one holds past claimIdleMs is not claimed by the other', async () => {
    const stream = `${run}.two`;
    const options = { claimIdleMs: 300 };
    const [a, b] = [
      new RedisAdapter({ name: 'default', url: server.url, consumer: 'c1', ...options }),
      new RedisAdapter({ name: 'default', url: server.url, consumer: 'c2', ...options }),
    ];
    await a.connect();
    await b.connect();
    const gotA: BrokerRecord[] = [];
    const gotB: BrokerRecord[] = [];
    let first!: () => void;
    const arrived = new Promise<void>((r) => (first = r));
    const ca = await a.subscribe({ channel: stream, kind: 'queue', group: 'g' }, (records) => {
      gotA.push(...records);
      first();
    });
    const cb = await b.subscribe({ channel: stream, kind: 'queue', group: 'g' }, (records) => {
      gotB.push(...records);
      first();
    });
    try {
      await client.xadd(stream, '*', 'data', 'held');
      await within(arrived, 10_000, 'the entry delivered');
      const [holder, holderGot, otherGot] = gotA.length > 0 ? [ca, gotA, gotB] : [cb, gotB, gotA];
      // held (a slow handler, a backoff) for 5 × claimIdleMs; before: the other consumer claimed
      // it, and then the first claimed it back
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(otherGot.length, 0, 'the other consumer never got it');
      assert.equal(holderGot.length, 1, 'nor did the holder get it twice');
      holder.settle(holderGot[0]!, 'ack');
      await eventually('acked', async () => ((await client.xpending(stream, 'g')) as [number])[0] === 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an entry pending under a live consumer that its engine does not hold (given back) is claimed by another', async () => {
    // as one read under its name whose reply was lost, or a crashed engine's of the same name
    const stream = `${run}.stranded`;
    const options = { claimIdleMs: 300 };
    const a = new RedisAdapter({ name: 'default', url: server.url, consumer: 'c1', ...options });
    const b = new RedisAdapter({ name: 'default', url: server.url, consumer: 'c2', ...options });
    await a.connect();
    await b.connect();
    let got!: (r: BrokerRecord) => void;
    const atB = new Promise<BrokerRecord>((r) => (got = r));
    let gaveBack!: () => void;
    const atA = new Promise<void>((r) => (gaveBack = r));
    const ca = await a.subscribe({ channel: stream, kind: 'queue', group: 'g' }, (records) => {
      for (const r of records) ca.settle(r, 'nack'); // stays pending under c1, held by no one
      gaveBack();
    });
    try {
      const id = await client.xadd(stream, '*', 'data', 'given back');
      await within(atA, 10_000, 'read by c1');
      const cb = await b.subscribe({ channel: stream, kind: 'queue', group: 'g' }, (records) => {
        for (const r of records) {
          cb.settle(r, 'ack');
          got(r);
        }
      });
      // a first version of the keeper refreshed every entry pending under its name: never claimed
      const claimed = await within(atB, 10_000, 'claimed by the other consumer');
      assert.equal(claimed.offset, id);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('own pending entries deleted from the stream while away (trimmed): acknowledged, the rest of their batch handled', async () => {
    const stream = `${run}.trimmed`;
    await client.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.xadd(stream, '*', 'data', `m${i}`))!);
    // a run of consumer c1 read them and stopped without acking; one is deleted meanwhile
    await client.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', stream, '>');
    await client.xdel(stream, ids[2]!);
    const again = new RedisAdapter({ name: 'default', url: server.url, consumer: 'c1' });
    await again.connect();
    const got: string[] = [];
    let wake!: () => void;
    const four = new Promise<void>((r) => (wake = r));
    const consumer = await again.subscribe({ channel: stream, kind: 'queue', group: 'g' }, (records) => {
      for (const r of records) {
        got.push(r.offset);
        consumer.settle(r, 'ack');
      }
      if (got.length >= 4) wake();
    });
    try {
      // before: the deleted entry threw in decoding and its batch (the other 4) was never handled
      await within(four, 10_000, 'the 4 entries left');
      assert.deepEqual(got, [ids[0], ids[1], ids[3], ids[4]]);
      await eventually('nothing left pending, the deleted entry included', async () => {
        const pending = (await client.xpending(stream, 'g')) as [number, ...unknown[]];
        return pending[0] === 0;
      });
    } finally {
      await again.close();
    }
  });

  test('a topic subscription to a key that is not a stream fails, and leaves no connection open', async () => {
    await client.set(`${run}-plain`, 'x');
    const count = async (): Promise<number> =>
      String(await client.call('CLIENT', 'LIST'))
        .trim()
        .split('\n').length;
    const before = await count();
    const own = new RedisAdapter({ name: 'default', url: server.url });
    await own.connect();
    await assert.rejects(
      own.subscribe({ channel: `${run}-plain`, kind: 'topic' }, () => {}),
      /WRONGTYPE/,
    );
    await own.close();
    // before: the reader's connection stayed open (a `wasmsg run` never exited)
    await eventually('the connections it opened closed', async () => (await count()) === before);
  });

  test("a subscription to a key that is not a stream (queue: XGROUP CREATE, topic): E_BAD_INPUT in the server's words", async () => {
    // before: ioredis's untyped ReplyError `WRONGTYPE Operation against…`, naming neither the
    // broker nor the stream
    const key = `${run}-not-a-stream`;
    await client.set(key, 'x');
    for (const kind of ['queue', 'topic'] as const)
      await assert.rejects(
        adapter.subscribe({ channel: key, kind }, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof BrokerError && e.code === ErrorCode.badInput, `${kind}: ${String(e)}`);
          assert.equal(
            e.message,
            `redis ${server.url}: cannot subscribe to stream '${key}': the server refused it: WRONGTYPE Operation against a key holding the wrong kind of value`,
          );
          assert.deepEqual(e.context, { url: server.url, channel: key, kind, reply: 'WRONGTYPE' });
          return true;
        },
      );
  });

  test('a key that is not a stream (WRONGTYPE): the publish rejects with E_PUBLISH_FAILED, nothing crashes', async () => {
    await client.set(`${run}-string`, 'x');
    const err = await rejectsTyped(adapter, [out(`${run}-string`)], ErrorCode.publishFailed);
    assert.match(err.message, /WRONGTYPE/);
    assert.equal(err.context['channel'], `${run}-string`);
    const c = await collect(adapter, `${run}-ok`);
    await adapter.publish([out(`${run}-ok`)]);
    await c.until(1);
  });

  test('key in the `key` field, headers as data whatever their names', async () => {
    const stream = `${run}-hdr`;
    const c = await collect(adapter, stream);
    await adapter.publish([out(stream, { headers: hostileHeaders(), key: 'the-key' })]);
    const entries = (await client.xrange(stream, '-', '+')) as Array<[string, string[]]>;
    const fields = entries[0]![1];
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
    assert.equal(f.get('key'), 'the-key');
    assert.equal(f.get('h:__proto__'), 'proto-value');
    await c.until(1);
    assert.equal(c.got[0]!.key, 'the-key');
    assertHostileKept(c.got[0]!.headers, false);
  });
});

/**
 * A proxy's watch (TcpProxy.dropWhen) over the MQTT packets a client sends: true at the first
 * SUBSCRIBE (packet type 8), read by the packets' fixed headers across chunks.
 */
function atMqttSubscribe(): (data: Buffer) => boolean {
  let pending = Buffer.alloc(0);
  return (data) => {
    pending = Buffer.concat([pending, data]);
    for (;;) {
      if (pending.length === 0) return false;
      if (pending[0]! >> 4 === 8) return true;
      // the remaining length: a variable byte integer, 7 bits a byte, up to 4 bytes
      let length = 0;
      let at = 1;
      for (let shift = 0; ; shift += 7, at++) {
        if (at >= pending.length) return false;
        length += (pending[at]! & 0x7f) * 2 ** shift;
        if ((pending[at]! & 0x80) === 0) break;
      }
      if (pending.length < at + 1 + length) return false;
      pending = pending.subarray(at + 1 + length);
    }
  };
}

describe('fault: MQTT texts a server refuses', () => {
  let server: TestServer;
  let adapter: MqttAdapter;
  before(async () => {
    server = await TestServer.start('mosquitto');
    adapter = new MqttAdapter({ name: 'default', url: server.url, clientId: `wasmsg-${run}` });
    await adapter.connect();
  });
  after(async () => {
    await adapter.close();
    await server.stop();
  });

  test('control characters in user properties are percent-encoded: the publisher is never disconnected', async () => {
    const topic = `${run}/hdr`;
    const reader = await mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: `reader-${run}` });
    const seen: Array<Record<string, string>> = [];
    reader.on('message', (_t, _p, packet) => seen.push(packet.properties?.userProperties as Record<string, string>));
    await reader.subscribeAsync(topic, { qos: 1 });
    const c = await collect(adapter, topic, 'topic');
    const publisher = (adapter as unknown as { publisher: mqtt.MqttClient }).publisher;
    let closes = 0;
    publisher.on('close', () => closes++);
    const headers = hostileHeaders();
    headers['tab\tname'] = 'esc\u001b[31m del\u007f c1\u0085 nonchar\ufffe';
    const sent = adapter.publish([out(topic, { headers, key: 'the-key', kind: 'topic' })]);
    await Promise.race([
      sent,
      new Promise((_, reject) => setTimeout(() => reject(new Error('publish not acknowledged in 5 s')), 5000)),
    ]);
    await c.until(1);
    await reader.endAsync();
    assert.equal(closes, 0, 'the server did not disconnect the publisher');
    assert.equal(seen[0]![KEY_HEADER], 'the-key');
    assert.equal(seen[0]!['tab%09name'], 'esc%1B[31m del%7F c1%C2%85 nonchar%EF%BF%BE');
    assert.equal(c.got[0]!.key, 'the-key');
    assertHostileKept(c.got[0]!.headers, true);
  });

  test('user property names with `%` go out with `%25`: no two names share a wire name, each comes back as sent', async () => {
    // before: `a\tb` went out as `a%09b` and `a%09b` unchanged — one wire name for two headers
    // (the second replaced the first, its value lost), read back as `a%09b`
    const topic = `${run}/pct`;
    const reader = await mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: `pct-reader-${run}` });
    const seen: Array<Record<string, string>> = [];
    reader.on('message', (_t, _p, packet) => seen.push(packet.properties?.userProperties as Record<string, string>));
    await reader.subscribeAsync(topic, { qos: 1 });
    const c = await collect(adapter, topic, 'topic');
    const sent = percentNames();
    await adapter.publish([out(topic, { headers: sent, kind: 'topic' })]);
    await c.until(1);
    await reader.endAsync();
    assert.deepEqual({ ...seen[0] }, PERCENT_NAMES_ON_WIRE);
    assert.deepEqual(Object.entries(c.got[0]!.headers), Object.entries(sent));
    await c.consumer.close();
  });

  test('a key user property given twice (another producer): the first value is the key, not both joined', async () => {
    // before: mqtt.js gives a repeated user property as an array, and the key became 'a,b'
    const topic = `${run}/twice`;
    const c = await collect(adapter, topic, 'topic');
    const producer = await mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: `producer-${run}` });
    try {
      await producer.publishAsync(topic, 'v', {
        qos: 1,
        properties: { userProperties: { [KEY_HEADER]: ['a', 'b'], 'x-twice': ['1', '2'] } },
      });
      await c.until(1);
    } finally {
      await producer.endAsync();
    }
    assert.equal(c.got[0]!.key, 'a');
    assert.equal(c.got[0]!.headers['x-twice'], '1,2', "a repeated header's values stay joined");
    assert.ok(!Object.hasOwn(c.got[0]!.headers, KEY_HEADER));
    await c.consumer.close();
  });

  test("another producer's `wasmsg%2Dkey` user property is the key (its name read decoded), the first of two key properties", async () => {
    // before: the key was only the literal `wasmsg-key`; `wasmsg%2Dkey`, read back decoded,
    // became a header named `wasmsg-key` beside the key (a forwarded output's key downstream)
    const topic = `${run}/keyname`;
    const c = await collect(adapter, topic, 'topic');
    const producer = await mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: `keyname-${run}` });
    try {
      const sets: Array<Record<string, string | string[]>> = [
        { 'wasmsg%2Dkey': 'encoded' },
        { 'wasmsg%2Dkey': ['encoded', 'again'], [KEY_HEADER]: 'literal' },
        { [KEY_HEADER]: 'literal', 'wasmsg%2dkey': 'encoded' },
      ];
      for (const props of sets)
        await producer.publishAsync(topic, 'v', {
          qos: 1,
          properties: { userProperties: { ...props, 'x-other': 'kept' } },
        });
      await c.until(3);
    } finally {
      await producer.endAsync();
    }
    assert.deepEqual(
      c.got.map((r) => r.key),
      ['encoded', 'encoded', 'literal'],
    );
    for (const r of c.got) assert.deepEqual(r.headers, { 'x-other': 'kept' });
    await c.consumer.close();
  });

  test('a filter that cannot be subscribed fails subscribe() with E_BAD_INPUT, its client closed; a start with it runs nothing', async () => {
    const filter = `${run}/#/x`; // '#' only last: mqtt.js refuses it before sending
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const open = sockets();
    await assert.rejects(
      adapter.subscribe({ channel: filter, kind: 'topic' }, () => {}),
      (e: unknown) =>
        e instanceof BrokerError &&
        e.code === ErrorCode.badInput &&
        e.message.includes(`cannot subscribe to '${filter}'`),
    );
    assert.equal(sockets(), open, "the consumer's client is closed, not left connected");
    // an engine whose second subscription is that one: start() fails, and the first one does not run on
    const memory = new MemoryBroker({ name: 'default' });
    const engine = new Engine(
      {
        brokers: [{ name: 'mq', url: server.url, options: { clientId: `wasmsg-${run}-engine` } }],
        components: [{ path: examples.noop, subscriptions: [{ channel: 'in' }, { broker: 'mq', channel: filter }] }],
        workers: 1,
        cacheDir,
      },
      [memory],
    );
    await assert.rejects(engine.start(), (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.badInput);
    memory.produce('in', { value: new TextEncoder().encode('after the failed start') });
    await assert.rejects(
      engine.waitForSettled(1),
      (e: unknown) => e instanceof WasmsgError && e.code === ErrorCode.engineState,
    );
    assert.equal(engine.snapshot().received, 0);
    await engine.stop();
  });

  test('a subscription refused after its client connected: the session that connect made is ended with it; one that was there before stays', async () => {
    // before: the consumer's client was closed without a DISCONNECT, and its new session stayed
    // on the server for its expiry (24 h with a clientId of the user's)
    const clientId = `wasmsg-${run}-sess`;
    const filter = `${run}/#/x`; // '#' only last: mqtt.js refuses it, after the client connected
    /** Whether the server holds a session for `id` (a probe that then leaves one of 60 s). */
    const present = async (id: string): Promise<boolean> => {
      const probe = mqtt.connect(server.url, {
        protocolVersion: 5,
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => probe.once('connect', resolve));
      await probe.endAsync();
      return connack.sessionPresent;
    };
    const refusedOnce = async (): Promise<void> => {
      const own = new MqttAdapter({ name: 'default', url: server.url, clientId });
      await own.connect();
      try {
        await assert.rejects(
          own.subscribe({ channel: filter, kind: 'topic' }, () => {}),
          (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.badInput,
        );
      } finally {
        await own.close();
      }
    };
    const consumerId = `${clientId}-0`; // (the adapter's first consumer)
    await refusedOnce();
    assert.equal(await present(consumerId), false, 'the session the refused subscription made is gone');
    // the probe left a session of its own under that id: another refused subscription keeps it
    await refusedOnce();
    assert.equal(await present(consumerId), true, 'a session that was there before stays');
    const clean = await mqtt.connectAsync(server.url, { protocolVersion: 5, clientId: consumerId, clean: true });
    await clean.endAsync();
  });

  test('the connection lost while the SUBSCRIBE is in flight: subscribe() rejects E_BROKER_UNAVAILABLE, not E_BAD_INPUT', async () => {
    // before: every throw of subscribeAsync was a refusal: E_BAD_INPUT `cannot subscribe to
    // '<filter>': Connection closed`, the filter whole (not cut at 64 characters)
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: server.port });
    proxy.dropWhen(atMqttSubscribe);
    const url = `mqtt://127.0.0.1:${proxy.port}`;
    const lost = new MqttAdapter({ name: 'default', url, clientId: `wasmsg-${run}-lost` });
    const filter = `${run}/${'x'.repeat(100)}`;
    try {
      await lost.connect(); // its publisher sends no SUBSCRIBE: it stays
      await assert.rejects(
        lost.subscribe({ channel: filter, kind: 'topic' }, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof BrokerError, String(e));
          assert.equal(e.code, ErrorCode.brokerUnavailable, e.message);
          assert.equal(e.message, `mqtt ${url}: cannot subscribe to '${filter.slice(0, 64)}…': Connection closed`);
          assert.equal(e.context['channel'], filter);
          return true;
        },
      );
    } finally {
      await lost.close();
      await proxy.stop();
    }
  });

  test("a SUBACK refusal's words (mqtt.js rejects with its reason code) are E_BAD_INPUT; a lost connection's are not", () => {
    // a unit check of subscribeRefusal (mqtt-text.ts): this Mosquitto refuses no filter it is sent
    const suback = Object.assign(new Error('Subscribe error: Not authorized'), { code: 0x87 });
    assert.equal(subscribeRefusal(suback), 'the server refused it: Not authorized (reason code 0x87)');
    assert.equal(subscribeRefusal(new Error('Invalid topic a/#/b')), 'Invalid topic a/#/b');
    assert.equal(subscribeRefusal(new Error('Connection closed')), undefined);
    assert.equal(subscribeRefusal(new Error('client disconnecting')), undefined);
  });

  test("filters MQTT cannot carry (empty, a control character, a queue's group with '/' or a wildcard) are refused before a client is made, in words that say why", async () => {
    // before: sent, and Mosquitto closed the connection: `cannot subscribe to '<filter>':
    // Connection closed`, the filter's control character raw in the message
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const open = sockets();
    const cases: Array<[SubscribeSpec, string]> = [
      [{ channel: '', kind: 'topic' }, "cannot subscribe to '': an empty topic filter"],
      [
        { channel: `${run}/a\u0007b`, kind: 'topic' },
        `cannot subscribe to '${run}/a\\x07b': the topic filter has a character MQTT servers refuse (U+0007)`,
      ],
      // a queue's shared filter `$share/<group>/<channel>` — before: `$share/wasmsg/` and
      // `$share//x` subscribed (nothing could ever match them); `$share/a/b/x` subscribed group
      // `a` to topic `b/x`, another topic; `$share/a+/x` made a client first
      [{ channel: '', kind: 'queue' }, "cannot subscribe to '$share/wasmsg/': an empty topic filter"],
      [
        { channel: `${run}/x`, kind: 'queue', group: '' },
        `cannot subscribe to '$share//${run}/x': an empty group (a shared subscription's name)`,
      ],
      [
        { channel: `${run}/x`, kind: 'queue', group: 'a/b' },
        `cannot subscribe to '$share/a/b/${run}/x': group 'a/b' has '/', which a shared subscription's name cannot hold`,
      ],
      [
        { channel: `${run}/x`, kind: 'queue', group: 'a+' },
        `cannot subscribe to '$share/a+/${run}/x': group 'a+' has '+', which a shared subscription's name cannot hold`,
      ],
      [
        { channel: `${run}/x`, kind: 'queue', group: 'g\u0007' },
        `cannot subscribe to '$share/g\\x07/${run}/x': the topic filter has a character MQTT servers refuse (U+0007)`,
      ],
    ];
    for (const [spec, words] of cases)
      await assert.rejects(
        adapter.subscribe(spec, () => {}),
        (e: unknown) => {
          assert.ok(e instanceof BrokerError && e.code === ErrorCode.badInput, String(e));
          assert.equal(e.message, `mqtt ${server.url}: ${words}`);
          return true;
        },
      );
    assert.equal(sockets(), open, 'no client was made');
  });

  test("a filter longer than 65 535 bytes: start() rejects E_BAD_INPUT, and the caller's process lives on", async () => {
    // before: mqtt.js's encoder threw after it had registered the SUBSCRIBE, whose promise then
    // rejected unhandled when the refused client was closed: the process ended (exit code 1)
    // before start() had rejected
    const script = `
      import { Engine } from ${JSON.stringify(at('dist/src/index.js'))};
      const engine = new Engine({
        workers: 1,
        cacheDir: process.env.CACHE,
        brokers: [{ name: 'mq', url: process.env.URL }],
        components: [{ path: process.env.COMPONENT, subscriptions: [{ broker: 'mq', channel: 'x'.repeat(70_000), kind: 'topic' }] }],
      });
      try { await engine.start(); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, CACHE: cacheDir, COMPONENT: examples.noop, URL: server.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    try {
      const code = await within(
        new Promise<number | null>((resolve) => child.once('exit', resolve)),
        30_000,
        'the process ended by itself',
      );
      assert.equal(code, 0, stderr);
    } finally {
      child.kill('SIGKILL'); // (by its PID; a no-op once it ended)
    }
    assert.deepEqual(JSON.parse(stdout), {
      code: ErrorCode.badInput,
      message: `mqtt ${server.url}: cannot subscribe to '${'x'.repeat(64)}…': a topic filter longer than 65 535 bytes`,
    });
  });

  test("a consumer client's 'error' event (keepalive timeout, a refused packet) is logged, never thrown", async () => {
    const c = await collect(adapter, `${run}/errors`);
    const consumerClient = (c.consumer as unknown as { client: mqtt.MqttClient }).client;
    const write = process.stderr.write;
    let logged = '';
    process.stderr.write = ((t: string) => {
      logged += t;
      return true;
    }) as typeof process.stderr.write;
    try {
      assert.doesNotThrow(() => consumerClient.emit('error', new Error('consumer keepalive timeout')));
    } finally {
      process.stderr.write = write;
    }
    assert.match(logged, /"component":"mqtt".*consumer keepalive timeout/);
    await c.consumer.close();
  });

  test('a topic with a wildcard, a control character or the server prefix $ is refused with E_BAD_INPUT', async () => {
    for (const bad of ['', `${run}/+`, `${run}/#`, `${run}/a\nb`, `${run}/tab\t`, '$SYS/x']) {
      await rejectsTyped(adapter, [out(bad)], ErrorCode.badInput);
    }
    await adapter.publish([out(`${run}/fine`, { kind: 'topic' })]);
  });
});

describe('fault: AMQP names, declarations and keys', () => {
  const url = process.env['WASMSG_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
  let adapter: AmqpAdapter;
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;
  const queues: string[] = [];
  before(async () => {
    adapter = new AmqpAdapter({ name: 'default', url });
    await adapter.connect();
    conn = await amqp.connect(url);
    ch = await conn.createChannel();
  });
  after(async () => {
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    await ch.deleteExchange(`${run}.topic`).catch(() => {});
    await conn.close();
    await adapter.close();
  });

  test('an output to a queue nobody declared yet is kept (declared durable), with its key header', async () => {
    const queue = `${run}.fresh`;
    queues.push(queue);
    await adapter.publish([out(queue, { headers: hostileHeaders(), key: 'the-key' })]);
    const m = await ch.get(queue, { noAck: true });
    assert.ok(m !== false, 'the message waits in the queue');
    assert.equal(m.properties.headers?.[KEY_HEADER], 'the-key');
    const c = await collect(adapter, queue);
    await adapter.publish([out(queue, { headers: hostileHeaders(), key: 'k2' })]);
    await c.until(1);
    assert.equal(c.got[0]!.key, 'k2');
    assertHostileKept(c.got[0]!.headers, false);
  });

  test('an output carries the timestamp property: its publish time in seconds, read back as the record timestamp', async () => {
    // before: no timestamp; a reader had none, and the adapter's consumer took its receive time
    const queue = `${run}.stamped`;
    queues.push(queue);
    const seconds = (): number => Math.floor(Date.now() / 1000);
    let from = seconds();
    await adapter.publish([out(queue, { headers: { ce_time: '2020-01-01T00:00:00Z' } })]);
    let to = seconds();
    const m = await ch.get(queue, { noAck: true });
    assert.ok(m !== false, 'the message waits in the queue');
    const ts: unknown = m.properties.timestamp;
    assert.ok(typeof ts === 'number' && ts >= from && ts <= to, `timestamp ${String(ts)} within [${from}, ${to}]`);
    // as Kafka, Redis and NATS stamp theirs: the publish time; the event's own time is its header
    assert.equal(m.properties.headers?.['cloudEvents:time'], '2020-01-01T00:00:00Z');
    const c = await collect(adapter, queue);
    from = seconds();
    await adapter.publish([out(queue)]);
    await c.until(1);
    to = seconds();
    const got = c.got[0]!.timestamp;
    assert.ok(
      got % 1000 === 0 && got >= from * 1000 && got <= to * 1000,
      `record timestamp ${got} within [${from}, ${to}] s`,
    );
    await c.consumer.close();
  });

  test("a header named as `__proto__`'s escape (%5F%5Fproto%5F%5F) comes back as itself, beside a `__proto__`", async () => {
    // before: it went out unchanged and came back as `__proto__` — beside a real `__proto__`
    // header, one of the two was overwritten on the way out
    const queue = `${run}.escape`;
    queues.push(queue);
    const E = '%5F%5Fproto%5F%5F';
    const sent = headersFromPairs([
      ['__proto__', 'proto-value'],
      [E, 'literal'],
      [`%25${E}`, 'literal-twice'],
      ['%5f%5fproto%5f%5f', 'lower-case, not the escape'],
      ['100%', 'percent'],
    ]);
    await adapter.publish([out(queue, { headers: sent })]);
    const m = await ch.get(queue, { noAck: true });
    assert.ok(m !== false, 'the message waits in the queue');
    assert.deepEqual(m.properties.headers, {
      [E]: 'proto-value',
      [`%25${E}`]: 'literal',
      [`%25%25${E}`]: 'literal-twice',
      '%5f%5fproto%5f%5f': 'lower-case, not the escape',
      '100%': 'percent',
    });
    const c = await collect(adapter, queue);
    await adapter.publish([out(queue, { headers: sent })]);
    await c.until(1);
    assert.deepEqual(Object.entries(c.got[0]!.headers), Object.entries(sent));
    assert.equal(Object.getPrototypeOf(c.got[0]!.headers), Object.prototype, 'no prototype pollution');
    await c.consumer.close();
  });

  test("structured header values (a field table, RabbitMQ's own x-death) arrive as JSON, not [object Object]", async () => {
    // before: String() of each table — x-death, which RabbitMQ adds to every message it
    // dead-lettered, reached the handler (and its outputs) as '[object Object]'
    const [source, target] = [`${run}.dlx-source`, `${run}.dlx-target`];
    queues.push(source, target);
    await ch.assertQueue(target, { durable: true });
    await ch.assertQueue(source, {
      durable: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': target },
    });
    const c = await collect(adapter, target);
    ch.sendToQueue(source, Buffer.from('v'), {
      headers: {
        'x-table': { a: 1, b: 'two', bytes: Buffer.from('raw') },
        'x-timestamp': { '!': 'timestamp', value: 1_700_000_000 },
        'x-decimal': { '!': 'decimal', value: { places: 2, digits: 12_345 } },
        'x-list': ['a', 'b'],
      },
    });
    let m: amqp.GetMessage | false = false;
    while (m === false) m = await ch.get(source);
    ch.nack(m, false, false); // RabbitMQ dead-letters it to the target queue, with x-death
    await c.until(1);
    const h = c.got[0]!.headers;
    const death = JSON.parse(h['x-death']!) as Array<Record<string, unknown>>;
    assert.equal(death[0]!['reason'], 'rejected');
    assert.equal(death[0]!['queue'], source);
    assert.equal(typeof death[0]!['time'], 'number', 'a timestamp as its seconds');
    assert.deepEqual(JSON.parse(h['x-table']!), { a: 1, b: 'two', bytes: 'raw' });
    assert.equal(h['x-timestamp'], '1700000000');
    assert.equal(h['x-decimal'], '123.45');
    assert.equal(h['x-list'], 'a,b', 'a list of strings stays joined');
    await c.consumer.close();
  });

  test('names AMQP cannot take are refused with E_BAD_INPUT; the confirm channel survives', async () => {
    await rejectsTyped(adapter, [out('x'.repeat(256))], ErrorCode.badInput);
    await rejectsTyped(adapter, [out('amq.reserved', { kind: 'topic' })], ErrorCode.badInput);
    await rejectsTyped(adapter, [out(`${run}.long`, { headers: { ['h'.repeat(300)]: 'v' } })], ErrorCode.badInput);
    const queue = `${run}.after`;
    queues.push(queue);
    await adapter.publish([out(queue)]);
    await adapter.publish([out(`${run}.topic`, { kind: 'topic' })]);
    assert.notEqual(await ch.get(queue, { noAck: true }), false);
  });

  test('a queue deleted after it was declared: the unroutable output rejects the publish (not dropped)', async () => {
    const queue = `${run}.deleted`;
    await adapter.publish([out(queue)]);
    await ch.deleteQueue(queue);
    await rejectsTyped(adapter, [out(queue)], ErrorCode.publishFailed);
  });

  test('a publish waiting for its channel to drain rejects (E_PUBLISH_FAILED) when the connection drops, not never', async () => {
    const dropping = new AmqpAdapter({ name: 'dropping', url });
    await dropping.connect();
    const queue = `${run}.drain`;
    queues.push(queue);
    const confirm = await (dropping as unknown as { confirm(): Promise<amqp.ConfirmChannel> }).confirm();
    // the moment the publish waits for 'drain' (amqplib's channel buffer holds 1024 frames), the
    // connection resets: amqplib closes the channel and never emits 'drain'
    confirm.on('newListener', (event: string | symbol) => {
      if (event !== 'drain') return;
      const socket = (confirm as unknown as { connection: { stream: { destroy(e: Error): void } } }).connection.stream;
      socket.destroy(new Error('connection reset (simulated)'));
    });
    const records = Array.from({ length: 4000 }, () => out(queue));
    await assert.rejects(
      within(dropping.publish(records), 20_000, 'the publish settled'),
      (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.publishFailed,
    );
    await dropping.close().catch(() => {});
  });
});
