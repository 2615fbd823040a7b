import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { ErrorCode, WasmsgError } from '../../src/errors.js';
import type { SubscribeSpec } from '../../src/brokers/adapter.js';
import { createBroker } from '../../src/brokers/connect.js';
import { at, cacheDir, captureStderr, examples, fixture, within } from '../helpers.js';
import { type KafkaMock, type TestBroker, kafkaBroker, runId, startKafkaMock } from './clients.js';
import { brokerEngine, brokerSuite } from './suite.js';

const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** One `wasmsg run` process: a member of the consumer group, as a user would start it. */
interface Member {
  readonly child: ChildProcess;
  /** Resolves once it consumes (joined the group with partitions assigned). */
  readonly running: Promise<void>;
  /** Its final stats (`--json`), once it exits after SIGTERM. */
  readonly result: Promise<Record<string, number>>;
  stderr(): string;
}

function member(config: string): Member {
  const child = spawn(process.execPath, [at('dist/src/cli/main.js'), 'run', '--config', config, '--json'], {
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const running = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('running, consuming')) resolve();
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`engine process exited (${code ?? signal}) before running: ${err}`)),
    );
  });
  const result = new Promise<Record<string, number>>((resolve, reject) =>
    child.once('exit', (code, signal) => {
      try {
        resolve(JSON.parse(out) as Record<string, number>);
      } catch {
        reject(new Error(`engine process exited (${code ?? signal}) without stats: ${err}`));
      }
    }),
  );
  // a member killed on purpose never prints stats: only a caller that awaits `result` sees that
  result.catch(() => {});
  running.catch(() => {});
  return { child, running, result, stderr: () => err };
}

function processSuite(): void {
  describe('integration: kafka, engine processes in one consumer group', { concurrency: 1 }, () => {
    let mock: KafkaMock;
    let tb: TestBroker;
    const members: Member[] = [];
    before(async () => {
      mock = await startKafkaMock([]);
      tb = await kafkaBroker(mock);
    });
    after(async () => {
      for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
      await tb.close();
      await mock.stop();
    });

    test(
      'two processes split the partitions; one leaves gracefully, one is killed: the rebalances lose nothing',
      { timeout: 240_000 },
      async () => {
        const topic = `wasmsg.${runId}.kafka.procs`;
        await tb.prepare(topic);
        const reader = await tb.reader(`${topic}.out`, 'topic');
        const config = join(mkdtempSync(join(tmpdir(), 'wasmsg-kafka-')), 'engine.json');
        writeFileSync(
          config,
          JSON.stringify({
            brokers: [{ name: 'default', url: tb.url, options: tb.adapterOptions('procs') }],
            components: [
              {
                path: fixture('relay'),
                subscriptions: [{ broker: 'default', channel: topic, kind: 'queue', group: `procs-${runId}` }],
              },
            ],
            workers: 1,
          }),
        );
        const start = (): Member => {
          const m = member(config);
          members.push(m);
          return m;
        };
        try {
          // 1. A and B in one group: each gets a share of the 4 partitions
          const a = start();
          await a.running;
          const b = start();
          await b.running; // B's join is a rebalance A takes part in: both hold partitions now
          await tb.produce(topic, values('one', 2000));
          await reader.untilDistinct(2000, 90_000);

          // 2. A leaves with messages in flight (SIGTERM: stop intake, drain, commit, leave)
          await tb.produce(topic, values('two', 4000));
          await reader.untilDistinct(2300, 90_000);
          a.child.kill('SIGTERM');
          const ra = await a.result;
          await reader.untilDistinct(6000, 90_000);
          assert.ok(
            ra['processed']! > 0 && ra['processed']! < 6000,
            `A handled a share, not everything (${ra['processed']} of 6000)`,
          );

          // 3. C joins; B is killed with messages in flight (no leave, no commit of what it had
          // in hand): after its session times out, C takes every partition from the last commits
          const c = start();
          await c.running;
          await tb.produce(topic, values('three', 4000));
          await reader.untilDistinct(6300, 90_000);
          b.child.kill('SIGKILL');
          await reader.untilDistinct(10_000, 120_000);
          c.child.kill('SIGTERM');
          const rc = await c.result;
          assert.ok(rc['processed']! > 0, `C handled a share (${rc['processed']})`);
          assert.deepEqual(
            new Set(reader.records.map((r) => r.value)),
            new Set([...values('one', 2000), ...values('two', 4000), ...values('three', 4000)]),
            'every message reached the output',
          );
        } finally {
          await reader.close();
        }
      },
    );
  });
}

/** A mock cluster of the suite's own, started before its tests and stopped after them (`mock`, `tb` once started). */
function ownMock(): { readonly mock: KafkaMock; readonly tb: TestBroker } {
  const own = {} as { mock: KafkaMock; tb: TestBroker };
  before(async () => {
    own.mock = await startKafkaMock([]);
    own.tb = await kafkaBroker(own.mock);
  });
  after(async () => {
    await own.tb.close();
    await own.mock.stop();
  });
  return own;
}

/** Queue subscriptions to two topics in one engine; its own mock cluster. */
function groupsSuite(): void {
  describe('integration: kafka, two topics in one engine', { concurrency: 1 }, () => {
    const own = ownMock();

    const engineFor = (channels: string[], group?: string): Engine =>
      new Engine({
        brokers: [{ name: 'default', url: own.tb.url, options: own.tb.adapterOptions('groups') }],
        components: channels.map((channel, i) => ({
          path: examples.noop,
          name: `noop-${i}`, // one file twice: a name each (names are unique)
          subscriptions: [
            { broker: 'default', channel, kind: 'queue' as const, ...(group === undefined ? {} : { group }) },
          ],
        })),
        workers: 1,
        cacheDir,
      });
    const twoTopics = (a: string, b: string, group?: string): Engine => engineFor([a, b], group);

    test('without a group each topic is consumed in full (a group per topic)', { timeout: 120_000 }, async () => {
      // before: both in the group `wasmsg`, whose leader assigned only its own topic's partitions
      // (half of them to the other member, which dropped them): one topic was never consumed
      const [a, b] = [`wasmsg.${runId}.kafka.two-a`, `wasmsg.${runId}.kafka.two-b`];
      await own.tb.prepare(a);
      await own.tb.prepare(b);
      const engine = twoTopics(a, b);
      try {
        await engine.start();
        await own.tb.produce(a, values('a', 200));
        await own.tb.produce(b, values('b', 200));
        await within(engine.waitForSettled(400), 60_000, 'both topics consumed');
        assert.equal(engine.snapshot().processed, 400);
      } finally {
        await engine.stop();
      }
    });

    test(
      "a start on the default group of a topic the old default group 'wasmsg' committed offsets for says so, and how to keep them",
      { timeout: 180_000 },
      async () => {
        // before: nothing said that the new default group (wasmsg.<topic>) read the topic again
        // from the beginning, past everything the old deployment (group 'wasmsg') had handled
        const [old, fresh] = [`wasmsg.${runId}.kafka.old-a`, `wasmsg.${runId}.kafka.old-b`];
        await own.tb.prepare(old);
        await own.tb.prepare(fresh);
        await own.tb.produce(old, values('before', 20));
        // the deployment of the old default: its group was 'wasmsg'
        const before = engineFor([old], 'wasmsg');
        try {
          await before.start();
          await within(before.waitForSettled(20), 60_000, 'the old deployment consumed');
        } finally {
          await before.stop(); // commits
        }
        await own.tb.produce(old, values('after', 10));
        await own.tb.produce(fresh, values('b', 5));
        const { lines, release } = captureStderr();
        const upgraded = engineFor([old, fresh]);
        try {
          await upgraded.start();
          await within(upgraded.waitForSettled(35), 60_000, 'the upgraded deployment consumed');
          assert.equal(upgraded.snapshot().processed, 35, 'its new group read both topics from the beginning');
        } finally {
          release();
          await upgraded.stop();
        }
        // other suites run at the same time and log to this stderr too: this engine's topics only
        const about = (topic: string): string[] => lines.filter((l) => l.includes(`subscription to '${topic}'`));
        assert.equal(about(old).length, 1, `one warning for the topic the old group read: ${lines.join('')}`);
        const w = JSON.parse(about(old)[0]!) as { level: number; component: string; msg: string };
        assert.equal(w.level, 40, 'a warning');
        assert.equal(w.component, 'kafka');
        assert.match(
          w.msg,
          new RegExp(`consumer group 'wasmsg\\.${old.replace(/\./g, '\\.')}'.*reads the topic from the beginning`),
        );
        assert.match(w.msg, /'wasmsg' has committed offsets for \d of its partitions/);
        assert.match(w.msg, /group: wasmsg \(--group wasmsg/);
        assert.deepEqual(about(fresh), [], 'none for a topic the old group never read');

        // what the warning says: `group: wasmsg` resumes from the old offsets
        await own.tb.produce(old, values('later', 3));
        const resumed = engineFor([old], 'wasmsg');
        try {
          await resumed.start();
          await within(resumed.waitForSettled(13), 60_000, 'the old group resumed');
          assert.equal(resumed.snapshot().processed, 13, 'only what came after its last commit');
        } finally {
          await resumed.stop();
        }
      },
    );

    test('one group given to two topics is refused at start, naming the group', async () => {
      const engine = twoTopics(`wasmsg.${runId}.kafka.g-a`, `wasmsg.${runId}.kafka.g-b`, `shared-${runId}`);
      await assert.rejects(engine.start(), (e: unknown) => {
        assert.ok(e instanceof WasmsgError, String(e));
        assert.equal(e.code, ErrorCode.badOption);
        assert.match(e.message, new RegExp(`consumer group 'shared-${runId}'`));
        return true;
      });
    });

    test('a group is free for another topic once its consumer closed', { timeout: 120_000 }, async () => {
      // before: the adapter remembered a group's first topic for good, so a consumer closed and
      // the same group subscribed to another topic was refused
      const [a, b] = [`wasmsg.${runId}.kafka.re-a`, `wasmsg.${runId}.kafka.re-b`];
      await own.tb.prepare(a);
      await own.tb.prepare(b);
      const group = `re-${runId}`;
      const adapter = await createBroker({ name: 'k', url: own.tb.url, options: own.tb.adapterOptions('re') });
      const spec = (channel: string): SubscribeSpec => ({ channel, kind: 'queue', group });
      try {
        const first = await adapter.subscribe(spec(a), () => {});
        await assert.rejects(
          adapter.subscribe(spec(b), () => {}),
          /consumer group 're-/,
          'refused while in use',
        );
        await first.close();
        const received: string[] = [];
        const second = await adapter.subscribe(spec(b), (records) => {
          for (const r of records) received.push(Buffer.from(r.value).toString());
          for (const r of records) second.settle(r, 'ack');
        });
        await own.tb.produce(b, values('b', 10));
        await within(
          (async () => {
            while (received.length < 10) await new Promise((r) => setImmediate(r));
          })(),
          60_000,
          'the second topic consumed in the same group',
        );
        await assert.rejects(
          adapter.subscribe(spec(a), () => {}),
          /consumer group 're-/,
          'and now the first topic is refused',
        );
        await second.close();
      } finally {
        await adapter.close();
      }
    });
  });
}

/** A consumer kafkajs gives up on; its own mock cluster, whose next SyncGroup it makes fail. */
function crashSuite(): void {
  describe('integration: kafka, a consumer kafkajs gives up on', { concurrency: 1 }, () => {
    const own = ownMock();

    test(
      'a consumer that kafkajs gives up on (a non-retriable SyncGroup error) is restarted, nothing lost',
      { timeout: 120_000 },
      async () => {
        const topic = `wasmsg.${runId}.kafka.crash`;
        await own.tb.prepare(topic);
        const reader = await own.tb.reader(`${topic}.out`, 'topic');
        // the next SyncGroup (api key 14) is answered INVALID_REQUEST (42): kafkajs crashes without
        // restarting (the error is not retriable), as it does when the mock syncs a late follower
        assert.equal(await own.mock.command('error 14 42 1'), 'OK');
        const { lines: warnings, release } = captureStderr();
        const e = brokerEngine(own.tb, 'crash', topic, { group: `crash-${runId}`, extra: { workers: 1 } });
        try {
          await e.start();
          await own.tb.produce(topic, values('c', 1000));
          await e.waitForSettled(1000);
          await reader.untilDistinct(1000);
        } finally {
          release();
          await e.stop();
          await reader.close();
        }
        // this consumer's restart: the other suites run at the same time and log to this stderr too
        const restarted = new RegExp(`consumer of ${topic.replace(/\./g, '\\.')} stopped after: .*restarting it`);
        assert.ok(
          warnings.some((w) => restarted.test(w)),
          `the restart was reported: ${warnings.join('')}`,
        );
        assert.equal(reader.distinct(), 1000);
      },
    );
  });
}

/**
 * The broker suite, the process suite and the crash suite run at the same time, each against its
 * own mock cluster (own groups, topics and processes): most of their time is spent waiting on the
 * mock (a group's first join ~3 s, a rebalance ~sessionTimeout, a consumer's disconnect up to a
 * fetch's max wait), so one suite's waits overlap the others' instead of adding up. The tests
 * inside each suite still run one after another (`concurrency: 1`: a suite's tests would
 * otherwise inherit `true`, and the broker suite's engines share one consumer group).
 */
describe('integration: kafka', { concurrency: true }, () => {
  describe('integration: kafka (librdkafka mock cluster)', { concurrency: 1 }, () => {
    let mock: KafkaMock;
    before(async () => {
      mock = await startKafkaMock([]);
    });
    after(async () => {
      await mock.stop();
    });
    brokerSuite(() => kafkaBroker(mock), { n: 10_000, restartN: 2000, seq: true });
  });
  processSuite();
  crashSuite();
  groupsSuite();
});
