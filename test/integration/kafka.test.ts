import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { at, cacheDir, fixture } from '../helpers.js';
import { type KafkaMock, kafkaBroker, runId, startKafkaMock } from './clients.js';
import { brokerSuite } from './suite.js';

describe('integration: kafka (librdkafka mock cluster)', () => {
  let mock: KafkaMock;
  before(async () => {
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
  });
  brokerSuite(() => kafkaBroker(mock), { n: 10_000, restartN: 2000 });
});

describe('integration: kafka, two engine processes in one consumer group', () => {
  test('they split the partitions, and when one leaves the rebalance loses nothing', { timeout: 180_000 }, async () => {
    const mock = await startKafkaMock([]);
    const tb = await kafkaBroker(mock);
    const topic = `wasmsg.${runId}.kafka.procs`;
    await tb.prepare(topic);
    const reader = await tb.reader(`${topic}.out`, 'topic');
    const spawnEngine = (): {
      child: ChildProcess;
      result: Promise<Record<string, number>>;
      running: Promise<void>;
    } => {
      const child = spawn(
        process.execPath,
        [
          at('dist/src/cli/main.js'),
          'run',
          fixture('relay'),
          '--from',
          `${tb.url}/${topic}`,
          '--group',
          `procs-${runId}`,
          '--workers',
          '1',
          '--json',
        ],
        {
          env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const running = new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('wasmsg: running')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`engine process exited (${code}) before running: ${err}`)));
      });
      const result = new Promise<Record<string, number>>((resolve) =>
        child.once('exit', () => resolve(JSON.parse(out) as Record<string, number>)),
      );
      return { child, result, running };
    };
    const distinct = (): number => new Set(reader.records.map((r) => r.value)).size;
    const until = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${distinct()} of ${n} outputs`)), 90_000);
        const check = setInterval(() => {
          if (distinct() >= n) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
    try {
      const first = spawnEngine();
      await first.running;
      // The second member's join waits for the group to rebalance, which the first member
      // notices on its heartbeats: produce meanwhile; the group splits the partitions when it can.
      const second = spawnEngine();
      await tb.produce(
        topic,
        Array.from({ length: 2000 }, (_, i) => `a-${i}`),
      );
      await until(2000);
      await second.running;
      first.child.kill('SIGTERM'); // graceful: stop intake, drain, commit, leave the group
      const r1 = await first.result;
      await tb.produce(
        topic,
        Array.from({ length: 2000 }, (_, i) => `b-${i}`),
      );
      await until(4000);
      second.child.kill('SIGTERM');
      const r2 = await second.result;
      assert.ok(
        r1['processed']! > 0 && r2['processed']! > 0,
        `both processes had partitions (${r1['processed']} / ${r2['processed']})`,
      );
      assert.equal(distinct(), 4000, 'every message reached the output');
    } finally {
      await reader.close();
      await tb.close();
      await mock.stop();
    }
  });
});
