import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import type { EngineOptionsInput } from '../../src/engine/options.js';
import { cacheDir, examples, fixture } from '../helpers.js';
import { type ReadRecord, type TestBroker, runId } from './clients.js';

/**
 * The same integration tests for every broker, through the engine with a real component
 * (test/fixtures/relay.wasm forwards each message to `<channel>.out`), a real server and the
 * broker's own npm client on the other side.
 */

export interface SuiteOptions {
  /** Messages of the main test (the issue asks 10 000). */
  readonly n: number;
  /** Messages of the restart test. */
  readonly restartN: number;
  /** Produce at most this many before waiting for the engine (MQTT: Mosquitto drops past 1000 queued). */
  readonly step?: number;
  /**
   * Its records carry their position as an integer too (`seq` = the offset's number), which the
   * engine sends to the workers instead of the string: checked on every record of the main test.
   */
  readonly seq?: boolean;
}

/** A test that waits longer than this has hung: fail it instead of hanging the run. */
const TEST_TIMEOUT = 120_000;

const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/**
 * An engine running `component` (default: the relay fixture) on `input` of the test broker, as
 * its `default` broker. `adapter` adds to the broker's test options.
 */
export function brokerEngine(
  tb: TestBroker,
  id: string,
  input: string,
  o: {
    group: string;
    kind?: 'queue' | 'topic';
    component?: string;
    adapter?: Record<string, unknown>;
    extra?: Partial<EngineOptionsInput>;
  },
): Engine {
  return new Engine({
    brokers: [{ name: 'default', url: tb.url, options: { ...tb.adapterOptions(id), ...o.adapter } }],
    components: [
      {
        path: o.component ?? fixture('relay'),
        subscriptions: [
          // a topic subscription has no group (refused outside Kafka)
          {
            broker: 'default',
            channel: input,
            kind: o.kind ?? 'queue',
            ...(o.kind === 'topic' ? {} : { group: o.group }),
          },
        ],
      },
    ],
    workers: 2,
    cacheDir,
    ...o.extra,
  });
}

export function brokerSuite(open: () => Promise<TestBroker>, opts: SuiteOptions): void {
  let tb: TestBroker;
  const channels: string[] = [];
  const engines: Engine[] = [];
  let seq = 0;

  const channel = (): string => {
    const c = `wasmsg.${runId}.${tb.name}.${seq++}`;
    channels.push(c, `${c}.out`, `${c}.dlq`);
    return c;
  };

  const engine = (
    id: string,
    input: string,
    extra: Partial<EngineOptionsInput> = {},
    component = fixture('relay'),
    kind: 'queue' | 'topic' = 'queue',
  ): Engine => {
    const e = brokerEngine(tb, id, input, { group: `g-${runId}`, kind, component, extra });
    engines.push(e);
    return e;
  };

  /** Produces `all` in steps of `opts.step`, waiting for `e` to settle each step. */
  async function feed(e: Engine, input: string, all: string[], base = 0): Promise<void> {
    const step = opts.step ?? all.length;
    for (let i = 0; i < all.length; i += step) {
      await tb.produce(input, all.slice(i, i + step));
      if (step < all.length) await e.waitForSettled(base + Math.min(i + step, all.length));
    }
  }

  before(async () => {
    tb = await open();
  });
  after(async () => {
    for (const e of engines) await e.stop().catch(() => {});
    await tb.cleanup(channels);
    await tb.close();
  });

  test(
    `${opts.n} messages in: each handled once, every output read back by the broker's own client`,
    { timeout: TEST_TIMEOUT },
    async () => {
      const input = channel();
      await tb.prepare(input);
      const reader = await tb.reader(`${input}.out`, 'topic');
      const e = engine('main', input);
      let checked = 0;
      let withoutSeq = 0;
      if (opts.seq === true) {
        e.on('settledBatch', ({ records }) => {
          checked += records.length;
          for (const r of records) if ((r as { seq?: unknown }).seq !== Number(r.offset)) withoutSeq++;
        });
      }
      await e.start();
      const sent = values('m', opts.n);
      await feed(e, input, sent);
      await e.waitForSettled(opts.n);
      await reader.until(opts.n);
      const s = e.snapshot();
      await e.stop();
      await reader.close();
      assert.equal(reader.records.length, opts.n, 'no duplicates in a normal run');
      assert.deepEqual(new Set(reader.records.map((r) => r.value)), new Set(sent));
      assert.deepEqual([s.processed, s.acked, s.published, s.failed], [opts.n, opts.n, opts.n, 0]);
      if (opts.seq === true) {
        assert.equal(checked, opts.n, 'every settled record checked');
        assert.equal(withoutSeq, 0, 'records whose integer seq is not their offset');
      }
    },
  );

  test(
    'a handler error: retried, then dead-lettered on this broker with the error in its headers',
    { timeout: TEST_TIMEOUT },
    async () => {
      const input = channel();
      await tb.prepare(input);
      const dlq = await tb.reader(`${input}.dlq`, 'queue');
      const e = engine(
        'err',
        input,
        { retries: { maxAttempts: 2, backoffMs: 10 }, deadLetter: { channel: `${input}.dlq` } },
        fixture('err'),
      );
      await e.start();
      const sent = values('bad', 20);
      await tb.produce(input, sent);
      await e.waitForSettled(20);
      await dlq.until(20);
      await e.stop();
      await dlq.close();
      assert.deepEqual(new Set(dlq.records.map((r) => r.value)), new Set(sent));
      for (const r of dlq.records) {
        assert.equal(r.headers['x-wasmsg-error'], 'other: rejected by fixture');
        assert.equal(r.headers['x-wasmsg-attempts'], '2');
        assert.match(r.headers['x-wasmsg-source'] ?? '', new RegExp(`^default/${input.replace(/\./g, '\\.')}`));
      }
      assert.equal(e.snapshot().failed, 40);
    },
  );

  test(
    'an engine stopped mid-stream and started again resumes from committed positions: nothing lost',
    { timeout: TEST_TIMEOUT },
    async () => {
      const input = channel();
      await tb.prepare(input);
      const reader = await tb.reader(`${input}.out`, 'topic');
      const sent = values('r', opts.restartN);
      const first = engine('restart', input, { batch: { maxMessages: 32 } });
      await first.start();
      await tb.produce(input, sent);
      await first.waitForSettled(Math.floor(opts.restartN / 5));
      await first.stop();
      const settledFirst = first.snapshot().acked;
      assert.ok(
        settledFirst < opts.restartN,
        `the first engine stopped mid-stream (${settledFirst} of ${opts.restartN})`,
      );
      const second = engine('restart', input);
      await second.start();
      // every input reaches the output at least once (at-least-once: a few may come twice)
      await reader.untilDistinct(opts.restartN);
      await second.stop();
      await reader.close();
      assert.deepEqual(new Set(reader.records.map((r) => r.value)), new Set(sent));
    },
  );

  test(
    'queue: two engines in one group split the messages; topic: two engines both get all',
    { timeout: TEST_TIMEOUT },
    async () => {
      const qin = channel();
      await tb.prepare(qin);
      const qout = await tb.reader(`${qin}.out`, 'topic');
      const a = engine('q1', qin);
      const b = engine('q2', qin);
      await a.start();
      await b.start();
      // produce until both have a share (a Kafka group may still be rebalancing at first)
      let sent = 0;
      while ((a.snapshot().processed === 0 || b.snapshot().processed === 0) && sent < 5000) {
        await tb.produce(qin, values(`q${sent}`, 100));
        sent += 100;
        await Promise.race([a.waitForSettled(1), b.waitForSettled(1)]);
        await qout.until(sent);
      }
      await qout.until(sent);
      const [pa, pb] = [a.snapshot().processed, b.snapshot().processed];
      await a.stop();
      await b.stop();
      await qout.close();
      assert.ok(pa > 0 && pb > 0, `both members got a share (${pa} / ${pb})`);
      assert.equal(new Set(qout.records.map((r) => r.value)).size, sent, 'every message handled');

      const tin = channel();
      await tb.prepare(tin);
      const t1 = engine('t1', tin, {}, fixture('relay'), 'topic');
      const t2 = engine('t2', tin, {}, fixture('relay'), 'topic');
      await t1.start();
      await t2.start();
      await tb.produce(tin, values('t', 300), 'topic');
      await t1.waitForSettled(300);
      await t2.waitForSettled(300);
      await t1.stop();
      await t2.stop();
      assert.equal(t1.snapshot().processed, 300);
      assert.equal(t2.snapshot().processed, 300);
    },
  );

  test(
    "CloudEvents binary mode: attributes come in and go out in this broker's binding (fizzbuzz, world A)",
    { timeout: TEST_TIMEOUT },
    async () => {
      const input = channel();
      channels.push('rust'); // fizzbuzz publishes to topic `rust`; this run's output is told apart by its payload
      await tb.prepare(input);
      const reader = await tb.reader('rust', 'topic');
      const e = engine('ce', input, {}, examples.fizzbuzz);
      await e.start();
      const p = tb.cePrefix;
      const ce = {
        [`${p}specversion`]: '1.0',
        [`${p}id`]: `id-${runId}`,
        [`${p}source`]: '/wasmsg/test',
        [`${p}type`]: 'test.fizz',
        [`${p}region`]: 'eu',
      };
      await tb.produce(input, [`fizz ${runId}`], 'queue', ce);
      await e.waitForSettled(1);
      const mine = (): ReadRecord | undefined => reader.records.find((r) => r.value === `buzz ${runId}`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no output on topic rust')), 30_000);
        const check = setInterval(() => {
          if (mine() !== undefined) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      await e.stop();
      await reader.close();
      const h = mine()!.headers;
      assert.equal(h[`${p}id`], `id-${runId}-buzz`, 'the id came in through the binding (fizzbuzz appends -buzz)');
      assert.equal(h[`${p}type`], 'test.fizz');
      assert.equal(h[`${p}source`], '/wasmsg/test');
      assert.equal(h[`${p}specversion`], '1.0');
      assert.equal(h[`${p}region`], 'eu', 'extensions pass through');
    },
  );

  test(
    'a synthesised CloudEvents id is unique on its source: two runs on one channel never give two events the same id (fizzbuzz, world A)',
    { timeout: TEST_TIMEOUT },
    async () => {
      // CloudEvents 1.0: "source + id MUST be unique for each distinct event"; the host synthesises
      // both for a record without attributes (SPEC.md, Event mapping)
      const input = channel();
      channels.push('rust');
      await tb.prepare(input);
      const reader = await tb.reader('rust', 'topic');
      const sent = [`fizz ${runId} first`, `fizz ${runId} second`];
      for (const value of sent) {
        const e = engine('ids', input, {}, examples.fizzbuzz); // one id: a restart (MQTT: its session resumed)
        await e.start();
        await tb.produce(input, [value]);
        await e.waitForSettled(1);
        await e.stop();
      }
      const outputOf = (value: string): ReadRecord | undefined =>
        reader.records.find((r) => r.value === value.replace('fizz', 'buzz'));
      // each until() waits for one more record on the topic (other runs' records may be among them)
      for (let n = 1; sent.some((v) => outputOf(v) === undefined); n++) await reader.until(n, 30_000);
      await reader.close();
      // (a redelivered input may come out twice: its ids may be equal, CloudEvents allows it)
      const events = sent.map((v) => {
        const h = outputOf(v)!.headers;
        return { value: v, source: h[`${tb.cePrefix}source`], id: h[`${tb.cePrefix}id`] };
      });
      assert.equal(events[0]!.source, events[1]!.source, 'one channel, one source');
      assert.notEqual(events[0]!.id, events[1]!.id, `two events, one id: ${JSON.stringify(events)}`);
    },
  );
}
