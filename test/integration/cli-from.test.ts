import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { at, cacheDir, examples, fixture } from '../helpers.js';
import {
  type KafkaMock,
  type TestBroker,
  amqpBroker,
  kafkaBroker,
  mqttBroker,
  natsBroker,
  redisBroker,
  runId,
  startKafkaMock,
} from './clients.js';

/**
 * `wasmsg run <component> --from <url> ...` as the README writes it, one child process per test,
 * against the real servers (Kafka: librdkafka's mock): the input is produced with the broker's
 * own npm client, `--limit N` makes the CLI exit once N messages are settled, and its `--json`
 * stats and (relay fixture) the outputs read back show they were processed.
 */

const N = 5;
/** Longer than this and the CLI is stuck: fail with its stderr instead of hanging. */
const EXIT_MS = 30_000;
const TEST_TIMEOUT = 60_000;

const values = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

interface Cli {
  readonly child: ChildProcess;
  /** Resolves at the CLI's `wasmsg: running` line (consuming); rejects if it exits before. */
  readonly running: Promise<void>;
  /** Resolves with the exit code once it exits by itself; rejects after `ms` naming its stderr. */
  exit(ms?: number): Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** SIGTERM by PID if still running (SIGKILL if that does not end it in 10 s); waits for the exit. */
  stop(): Promise<void>;
}

const children: Cli[] = [];

function wasmsgRun(args: string[]): Cli {
  const child = spawn(process.execPath, [at('dist/src/cli/main.js'), 'run', ...args], {
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const running = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', () => {
      if (err.includes('running, consuming')) resolve();
    });
    void closed.then(({ code, signal }) =>
      reject(new Error(`wasmsg run ${args.join(' ')} exited (${code ?? signal}) before running: ${err.trim()}`)),
    );
  });
  running.catch(() => {}); // a test that expects the exit does not await it
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const cli: Cli = {
    child,
    running,
    exit: (ms = EXIT_MS) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`wasmsg run ${args.join(' ')} still running after ${ms} ms: ${err.trim()}`)),
          ms,
        );
        void closed.then(({ code }) => {
          clearTimeout(timer);
          resolve(code);
        });
      }),
    stdout: () => out,
    stderr: () => err,
    stop: async () => {
      if (!alive()) return;
      process.kill(child.pid!, 'SIGTERM');
      const kill = setTimeout(() => {
        if (alive()) process.kill(child.pid!, 'SIGKILL');
      }, 10_000);
      await closed;
      clearTimeout(kill);
    },
  };
  children.push(cli);
  return cli;
}

after(async () => {
  for (const c of children) await c.stop();
});

/** `base` (a server URL, maybe with a trailing slash) with `path` appended. */
const withPath = (base: string, path: string): string => `${base.replace(/\/$/, '')}/${path}`;

/** The CLI's `--json` stats once it exited 0 by itself (`--limit`). */
async function statsOf(c: Cli): Promise<Record<string, number>> {
  const code = await c.exit();
  assert.equal(code, 0, `exit code 0; stderr: ${c.stderr()}`);
  return JSON.parse(c.stdout()) as Record<string, number>;
}

/**
 * The relay fixture on `input` through the CLI (`--from url`, `group`: the README's arguments):
 * N messages produced, processed, forwarded to `<input>.out` and read back by the broker's own
 * client; the CLI exits 0 by itself after N (`--limit`). The input is produced once the CLI
 * consumes (its `running` line) and the reader reads, or with `produceFirst` before the CLI
 * starts (Kafka: the mock answers a fetch that found nothing only after its max wait, 5 s,
 * even when data arrives meanwhile).
 */
async function relayThroughCli(
  tb: TestBroker,
  url: string,
  input: string,
  group: string[],
  produceFirst = false,
): Promise<void> {
  const sent = values(`${input}-m`, N);
  if (produceFirst) await tb.produce(input, sent);
  const c = wasmsgRun([fixture('relay'), '--from', url, ...group, '--limit', String(N), '--json', '--workers', '1']);
  const reading = tb.reader(`${input}.out`, 'topic');
  try {
    await Promise.all([c.running, reading]);
    if (!produceFirst) await tb.produce(input, sent);
    const s = await statsOf(c);
    assert.deepEqual([s['processed'], s['acked'], s['published'], s['failed']], [N, N, N, 0], c.stdout());
    const reader = await reading;
    await reader.until(N, 15_000);
    assert.deepEqual(new Set(reader.records.map((r) => r.value)), new Set(sent));
  } finally {
    await c.stop();
    await (await reading.catch(() => undefined))?.close();
  }
}

describe('wasmsg run --from kafka://h1,h2,h3/topic (librdkafka mock, several bootstrap hosts)', () => {
  let mock: KafkaMock | undefined;
  let tb: TestBroker | undefined;
  before(async () => {
    mock = await startKafkaMock([]);
    tb = await kafkaBroker(mock);
  });
  after(async () => {
    await tb?.close();
    await mock?.stop();
  });
  // ~6 s: the CLI's group join (~3 s), then its stop waits for the fetch in flight (kafkajs leaves
  // the group after it), which the mock holds for the adapter's max wait (500 ms; kafkajs's own
  // default, 5 s, made this test take ~13 s)
  test('--group g: N messages relayed, then exits 0 (--limit)', { timeout: TEST_TIMEOUT }, async () => {
    assert.ok(mock!.bootstrap.includes(','), `the mock has several brokers: ${mock!.bootstrap}`);
    const topic = `wasmsg.${runId}.cli.kafka`;
    await tb!.prepare(topic);
    await relayThroughCli(tb!, `kafka://${mock!.bootstrap}/${topic}`, topic, ['--group', 'g'], true);
  });
});

describe('wasmsg run --from nats:// and nats-core://', () => {
  let tb: TestBroker | undefined;
  const subjects: string[] = [];
  before(async () => {
    tb = await natsBroker();
  });
  after(async () => {
    await tb?.cleanup(subjects);
    await tb?.close();
  });
  test('nats://h/subject --group g (JetStream): N messages relayed', { timeout: TEST_TIMEOUT }, async () => {
    const subject = `wasmsg.${runId}.cli.nats`;
    subjects.push(subject, `${subject}.out`);
    await tb!.prepare(subject);
    await relayThroughCli(tb!, withPath(tb!.url, subject), subject, ['--group', 'g']);
  });
  test('nats-core://h/subject (core NATS, no group): N messages relayed', { timeout: TEST_TIMEOUT }, async () => {
    const subject = `wasmsg.${runId}.cli.nats-core`;
    subjects.push(subject, `${subject}.out`);
    // the test's producer publishes through JetStream (acknowledged: the server has it); the
    // CLI's core subscriber gets every message published on the subject all the same
    await tb!.prepare(subject);
    const url = withPath(tb!.url.replace(/^nats:/, 'nats-core:'), subject);
    await relayThroughCli(tb!, url, subject, []);
  });
});

describe('wasmsg run --from redis://', () => {
  let tb: TestBroker | undefined;
  const streams: string[] = [];
  before(async () => {
    tb = await redisBroker();
  });
  after(async () => {
    await tb?.cleanup(streams);
    await tb?.close();
  });

  test(
    'redis://h:6379/stream --group g: the path is the stream (not a database number)',
    { timeout: TEST_TIMEOUT },
    async () => {
      const stream = `wasmsg.${runId}.cli.redis`;
      streams.push(stream, `${stream}.out`);
      await relayThroughCli(tb!, withPath(tb!.url, stream), stream, ['--group', 'g']);
    },
  );

  test('redis://h:6379/stream?db=1: the stream of database 1', { timeout: TEST_TIMEOUT }, async () => {
    const stream = `wasmsg.${runId}.cli.redis-db`;
    const db0 = new Redis(tb!.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const db1 = new Redis(tb!.url, { lazyConnect: true, maxRetriesPerRequest: 1, db: 1 });
    await db0.connect();
    await db1.connect();
    const c = wasmsgRun([
      fixture('relay'),
      '--from',
      `${withPath(tb!.url, stream)}?db=1`,
      '--group',
      'g',
      '--limit',
      String(N),
      '--json',
      '--workers',
      '1',
    ]);
    try {
      await c.running;
      const sent = values(`${stream}-m`, N);
      for (const v of sent) await db1.xadd(stream, '*', 'data', v);
      const s = await statsOf(c);
      assert.deepEqual([s['processed'], s['acked'], s['published']], [N, N, N], c.stdout());
      // the outputs were confirmed (XADD replies) before the CLI acked and exited: all there now
      const out = await db1.xrange(`${stream}.out`, '-', '+');
      assert.deepEqual(new Set(out.map(([, fields]) => fields[fields.indexOf('data') + 1])), new Set(sent));
      assert.equal(await db0.exists(stream, `${stream}.out`), 0, 'nothing in database 0');
    } finally {
      await c.stop();
      await db1.del(stream, `${stream}.out`);
      db0.disconnect();
      db1.disconnect();
    }
  });

  test('?db=x: exits 1 with one line naming the URL', { timeout: TEST_TIMEOUT }, async () => {
    const url = withPath(tb!.url, `wasmsg.${runId}.cli.redis-bad?db=x`);
    const c = wasmsgRun([fixture('relay'), '--from', url, '--group', 'g']);
    assert.equal(await c.exit(), 1, c.stderr());
    assert.equal(c.stdout(), '');
    assert.match(
      c.stderr().trim(),
      /^wasmsg: redis URL '[^']+cli\.redis-bad\?db=x': db must be a database number \(\?db=N\), got 'x' \[E_BAD_OPTION\]$/,
    );
  });
});

describe('wasmsg run --from amqp://', () => {
  let tb: TestBroker | undefined;
  const queues: string[] = [];
  before(async () => {
    tb = await amqpBroker();
  });
  after(async () => {
    await tb?.cleanup(queues);
    await tb?.close();
  });
  test('amqp://u:p@h:5672/queue (default vhost): N messages relayed', { timeout: TEST_TIMEOUT }, async () => {
    const queue = `wasmsg.${runId}.cli.amqp`;
    queues.push(queue, `${queue}.out`);
    await tb!.prepare(queue);
    await relayThroughCli(tb!, withPath(tb!.url, queue), queue, []);
  });
  test(
    'amqp://u:p@h:5672/%2F/queue (vhost "/" named in the path): N messages relayed',
    { timeout: TEST_TIMEOUT },
    async () => {
      const queue = `wasmsg.${runId}.cli.amqp-vhost`;
      queues.push(queue, `${queue}.out`);
      await tb!.prepare(queue);
      await relayThroughCli(tb!, withPath(tb!.url, `%2F/${queue}`), queue, []);
    },
  );
  test(
    "--limit: a world C component sees format 'amqp' (the CLI creates the adapter and hands it in)",
    { timeout: TEST_TIMEOUT },
    async () => {
      // batch-script's `f` sends the name of the format it sees to topic `format`
      const queue = `wasmsg.${runId}.cli.amqp-format`;
      queues.push(queue, 'format');
      await tb!.prepare(queue);
      const reading = tb!.reader('format', 'topic');
      const c = wasmsgRun([
        fixture('batch-script'),
        '--from',
        withPath(tb!.url, queue),
        '--limit',
        String(N),
        '--json',
        '--workers',
        '1',
      ]);
      try {
        await Promise.all([c.running, reading]);
        await tb!.produce(queue, values('f', N));
        const s = await statsOf(c);
        assert.deepEqual([s['processed'], s['acked'], s['failed']], [N, N, 0], c.stdout());
        const reader = await reading;
        await reader.until(N, 15_000);
        assert.deepEqual(
          reader.records.map((r) => r.value),
          Array.from({ length: N }, () => 'amqp'),
        );
      } finally {
        await c.stop();
        await (await reading.catch(() => undefined))?.close();
      }
    },
  );
  test('amqp://u:p@h:5672/<vhost>/queue: the vhost is the one connected to', { timeout: TEST_TIMEOUT }, async () => {
    // a vhost the server does not have: the connection is refused (not silently made to "/")
    const url = withPath(tb!.url, `wasmsg-none-${runId}/wasmsg.${runId}.cli.amqp-novhost`);
    const c = wasmsgRun([fixture('relay'), '--from', url]);
    assert.equal(await c.exit(), 1, c.stderr());
    assert.match(c.stderr(), new RegExp(`^wasmsg: cannot reach amqp://[^ ]*/wasmsg-none-${runId}/`));
  });
});

describe("wasmsg run --from 'mqtt://h:1883/topic/#'", () => {
  let tb: TestBroker | undefined;
  before(async () => {
    tb = await mqttBroker();
  });
  after(async () => {
    await tb?.close();
  });
  test(
    '--group g: messages on topics below the # wildcard are processed, then exits 0 (--limit)',
    { timeout: TEST_TIMEOUT },
    async () => {
      // relay's `<topic>.out` would match the wildcard too (and loop): the noop example instead
      const base = `wasmsg/${runId}/cli/mqtt`;
      const c = wasmsgRun([
        examples.noop,
        '--from',
        withPath(tb!.url, `${base}/#`),
        '--group',
        'g',
        '--limit',
        String(2 * N),
        '--json',
        '--workers',
        '1',
      ]);
      try {
        await c.running;
        await tb!.produce(`${base}/a`, values('a', N));
        await tb!.produce(`${base}/b/c`, values('bc', N));
        const s = await statsOf(c);
        assert.deepEqual([s['processed'], s['acked'], s['failed']], [2 * N, 2 * N, 0], c.stdout());
      } finally {
        await c.stop();
      }
    },
  );
});
