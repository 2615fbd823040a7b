import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { withChannel } from '../../src/bench/channels.js';
import { type BenchOptions, expand } from '../../src/bench/matrix.js';
import { runBench } from '../../src/bench/runner.js';
import { channelFromUrl } from '../../src/brokers/connect.js';
import { natsOptions } from '../../src/brokers/nats.js';
import { redisClientUrl } from '../../src/brokers/redis.js';
import { listParser } from '../../src/cli/bench.js';
import type { BenchReport, RunResult } from '../../src/bench/types.js';
import { OptionError, WasmsgError } from '../../src/errors.js';
import { ENGINE_V8_FLAGS } from '../../src/heap-tuning.js';
import { type KafkaMock, startKafkaMock } from '../integration/clients.js';
import { at, cacheDir, fixture } from '../helpers.js';
import { chromium, element } from './browser.js';

/**
 * `wasmsg bench` end to end: real brokers (the integration tests' servers and the Kafka mock),
 * the bundled components, each run in its own process; small counts (the numbers are not
 * judged here — timing goals live in PERF.md — only that each run measured what it says).
 */

const run = promisify(execFile);
const bin = at('dist/src/cli/main.js');

function bench(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return benchWith({}, ...args);
}

/** `bench` in another working directory, or with more environment variables. */
async function benchWith(
  opts: { cwd?: string; env?: Record<string, string> },
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, 'bench', '--cache-dir', cacheDir, ...args], {
      maxBuffer: 1 << 26,
      timeout: 240_000,
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      ...(opts.env === undefined ? {} : { env: { ...process.env, ...opts.env } }),
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const base = (v: string, d: string): string => process.env[v] ?? d;
const brokerUrls = {
  redis: `${base('WASMSG_TEST_REDIS_URL', 'redis://127.0.0.1:6379')}/wasmsg-bench-test`,
  nats: `${base('WASMSG_TEST_NATS_URL', 'nats://127.0.0.1:4222')}/wasmsg-bench-test`,
  amqp: `${base('WASMSG_TEST_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672')}/wasmsg-bench-test`,
  mqtt: `${base('WASMSG_TEST_MQTT_URL', 'mqtt://127.0.0.1:1883')}/wasmsg-bench-test`,
};

/** Every run measured what it was asked: all its messages after the warm-up, a latency for each. */
function assertMeasured(r: RunResult, warmup: number): void {
  assert.equal(r.error, undefined, `${r.label} (${r.side}) failed: ${r.error}`);
  assert.equal(r.measured, r.params.messages - warmup, r.label);
  assert.equal(r.latencyMs.count, r.measured, `${r.label}: one latency per measured message`);
  assert.ok(r.msgsPerSec > 0 && r.elapsedMs > 0, r.label);
  // absent only when the second half settled at one instant (one batch): no rate to give
  const half = r.secondHalfMsgsPerSec;
  assert.ok(half === undefined || (Number.isFinite(half) && half > 0), `${r.label}: second half ${half} msgs/s`);
  assert.ok(r.latencyMs.p50 <= r.latencyMs.p99 && r.latencyMs.p99 <= r.latencyMs.max, r.label);
  assert.ok(r.latencyMs.percentiles.length >= 3, `${r.label}: a percentile curve to plot`);
  assert.ok(r.peakRssMb > 10, r.label);
  assert.ok(r.cpuMs.process > 0, r.label);
  assert.deepEqual(r.nodeFlags, ENGINE_V8_FLAGS, `${r.label}: the run's process had the engine's V8 flags`);
  if (r.side === 'engine') {
    // counted per batch: batches in flight when the warm-up ended may fall on either side of it
    assert.ok(r.handlerUs !== null && r.handlerUs.count > 0 && r.handlerUs.p50 > 0, `${r.label}: handler time`);
  } else assert.equal(r.handlerUs, null);
}

describe('wasmsg bench: the matrix', () => {
  const opts: BenchOptions = {
    brokers: ['memory', 'redis://127.0.0.1:6379/s'],
    messages: 1000,
    sizes: [100],
    keys: [0],
    workers: [1, 2],
    batch: [256],
    ordering: ['none', 'partition'],
    workUs: [0],
    rates: [],
    baseline: true,
  };
  test('every point once, labels naming what varies, one bare run per broker and workload', () => {
    const jobs = expand(opts);
    const engine = jobs.filter((j) => j.side === 'engine');
    assert.equal(engine.length, 2 * 2 * 2);
    assert.equal(jobs.filter((j) => j.side === 'bare').length, 2);
    assert.equal(new Set(jobs.map((j) => j.label)).size, jobs.length, 'labels are unique');
    assert.ok(engine.some((j) => j.label === 'memory · 2 workers · ordering partition'));
    // the bare run comes right before the first engine run of its broker
    assert.equal(jobs[0]!.side, 'bare');
    assert.equal(jobs[0]!.params.broker, 'memory');
  });
  for (const [what, change, message] of [
    ['a broker without a channel', { brokers: ['redis://127.0.0.1:6379'] }, /names no channel/],
    ['an unknown scheme', { brokers: ['kafak://h:9092/t'] }, /not memory or a broker URL/],
    ['core NATS', { brokers: ['nats-core://h:4222/t'] }, /at most once/],
    ['a component with --work', { component: 'x.wasm', workUs: [100] }, /either a component or --work/],
    ['a payload too small for its send time', { sizes: [4] }, /last 8 bytes/],
    ['a warm-up as long as the run', { warmup: 1000 }, /--warmup/],
    ['an unknown ordering', { ordering: ['sorted' as 'none'] }, /not one of none, partition, key/],
    // a value given twice: two runs under one label, which the report could not tell apart
    ['a broker given twice', { brokers: ['memory', 'redis://h/s', 'memory'] }, /^--brokers: 'memory' is given twice/],
    ['memory:// beside memory', { brokers: ['memory', 'memory://x'] }, /^--brokers: two values both name 'memory'/],
    [
      'two URLs differing in their password alone',
      { brokers: ['redis://u:p1@h/s', 'redis://u:p2@h/s'] },
      /^--brokers: two values both name 'redis:\/\/u:\*\*\*@h\/s'(?!.*p[12]@)/,
    ],
    ['a size given twice', { sizes: [100, 100] }, /^--size: '100' is given twice/],
    ['a key count given twice', { keys: [0, 8, 0] }, /^--keys: '0' is given twice/],
    ['a worker count given twice', { workers: [2, 2] }, /^--workers: '2' is given twice/],
    ['a batch given twice', { batch: [64, 64] }, /^--batch: '64' is given twice/],
    ['an ordering given twice', { ordering: ['none', 'key', 'none'] }, /^--ordering: 'none' is given twice/],
    ['a work given twice', { workUs: [0, 0] }, /^--work: '0' is given twice/],
    ['a rate given twice', { rates: [500, 500] }, /^--rate: '500' is given twice/],
  ] as const) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => expand({ ...opts, ...change }),
        (e: unknown) => e instanceof OptionError && message.test(e.message),
      );
    });
  }
});

describe('wasmsg bench: broker lists and run channels', () => {
  test('a comma inside a URL (Kafka host list, query) does not split it', () => {
    assert.deepEqual(listParser('kafka://h1:9092,h2:9092/t,redis://h/s?x=a,b,memory,nats://h:4222/n'), [
      'kafka://h1:9092,h2:9092/t',
      'redis://h/s?x=a,b',
      'memory',
      'nats://h:4222/n',
    ]);
    assert.deepEqual(listParser('none, partition,key'), ['none', 'partition', 'key']);
  });
  test("the bare NATS client and the clean-up take the URL's credentials, as the adapter does", () => {
    assert.deepEqual(natsOptions('nats://alice:s%40cret@127.0.0.1:4223/subj'), {
      servers: '127.0.0.1:4223',
      user: 'alice',
      pass: 's@cret',
    });
    assert.deepEqual(natsOptions('nats://127.0.0.1/subj'), { servers: '127.0.0.1:4222' });
  });
  test("a run's URL names its channel: the whole MQTT topic, AMQP's queue in its vhost, the query kept", () => {
    for (const [url, channel, want] of [
      ['mqtt://h:1883/a/b', 'a/b-r1', 'mqtt://h:1883/a/b-r1'],
      ['amqp://u:p@h:5672/vh/q', 'q-r1', 'amqp://u:p@h:5672/vh/q-r1'],
      ['redis://h:6379/s?db=2', 's-r1', 'redis://h:6379/s-r1?db=2'],
      ['kafka://a:1,b:2/t', 't-r1', 'kafka://a:1,b:2/t-r1'],
    ] as const) {
      const got = withChannel(url, channel);
      assert.equal(got, want);
      assert.equal(channelFromUrl(got), channel, 'the adapter reads the same channel back');
    }
  });
});

/**
 * `wasmsg bench --json` on a Redis stream of its own (`wasmsg-bench-<tag>-<random>`), with a
 * backlog big enough to be still producing when a test signals it; and a client of that Redis.
 * `env`: more environment variables (a script preloaded into the run's process).
 */
function benchOnRedis(
  tag: string,
  output: 'pipe' | 'ignore',
  env: Record<string, string> = {},
): { base: string; redis: Redis; cli: ChildProcess } {
  const base = `wasmsg-bench-${tag}-${randomBytes(4).toString('hex')}`;
  const url = brokerUrls.redis.replace(/\/[^/]*$/, `/${base}`);
  const cli = spawn(
    process.execPath,
    [bin, 'bench', '--cache-dir', cacheDir, '--brokers', url, '--messages', '300000', '--json'],
    { stdio: ['ignore', output, output], env: { ...process.env, ...env } },
  );
  return { base, redis: new Redis(redisClientUrl(url)), cli };
}

/**
 * Once a bench run has made its stream (no event to wait on from here: Redis is asked until
 * then), the PID of the run's process, the CLI's child.
 */
async function runUnderWay(redis: Redis, base: string, cliPid: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  while ((await redis.keys(`${base}*`)).length === 0) {
    assert.ok(Date.now() < deadline, 'the run never made its stream');
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = Number(readFileSync(`/proc/${cliPid}/task/${cliPid}/children`, 'utf8').trim());
  assert.ok(pid > 0, "the run's process");
  return pid;
}

/**
 * SIGKILLs a bench run's process if it still runs. Only if that PID is still a run's process:
 * PIDs are reused within seconds here (pid_max 32768, a test run spawns thousands of threads),
 * and a kill of a reused PID (any thread: kill(2) signals its process) ended the test runner.
 */
function killRun(pid: number): void {
  if (!runAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** Whether `pid` is (still) a bench run's process, not gone nor reused by another. */
function runAlive(pid: number): boolean {
  try {
    return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('bench/child.js');
  } catch {
    return false;
  }
}

describe('wasmsg bench: the real brokers and the Kafka mock', () => {
  let mock: KafkaMock;
  before(async () => {
    mock = await startKafkaMock([]);
  });
  after(async () => {
    await mock.stop();
  });

  test('memory, Kafka, NATS, Redis, AMQP and MQTT: report.json, report.html and the table', async () => {
    const out = mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
    const brokers = ['memory', `kafka://${mock.bootstrap}/wasmsg-bench-test`, ...Object.values(brokerUrls)];
    const r = await bench(
      '--brokers',
      brokers.join(','),
      '--messages',
      '1500',
      '--warmup',
      '300',
      '--keys',
      '8',
      '--workers',
      '2',
      '--baseline',
      '--kafka-session-timeout',
      '6000',
      '--out',
      out,
      '--no-progress',
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as BenchReport;
    assert.equal(report.runs.length, brokers.length * 2);
    for (const run of report.runs) assertMeasured(run, 300);
    for (const scheme of ['memory', 'kafka', 'nats', 'redis', 'amqp', 'mqtt']) {
      const engine = report.runs.find((x) => x.params.scheme === scheme && x.side === 'engine');
      assert.ok(engine?.baseline !== undefined, `${scheme}: compared with its bare client`);
      const bare = report.runs.find((x) => x.params.scheme === scheme && x.side === 'bare')!;
      assert.equal(engine.baseline.ratio, engine.msgsPerSec / bare.msgsPerSec);
      if (engine.secondHalfMsgsPerSec !== undefined && bare.secondHalfMsgsPerSec !== undefined)
        assert.equal(engine.baseline.secondHalfRatio, engine.secondHalfMsgsPerSec / bare.secondHalfMsgsPerSec);
      else assert.equal(engine.baseline.secondHalfRatio, undefined);
    }
    // the report as a browser shows it: a latency line and a throughput bar per run
    const dom = await chromium([
      `--user-data-dir=${join(out, 'profile')}`,
      '--dump-dom',
      pathToFileURL(join(out, 'report.html')).href,
    ]);
    const lines = [...element(dom, 'svg', 'latency-plot').matchAll(/<path class="series[^"]*"[^>]*\bd="M[^"]+"/g)];
    assert.equal(lines.length, report.runs.length);
    for (const run of report.runs)
      assert.ok(dom.includes(run.label.replace(/&/g, '&amp;')), `the page names ${run.label}`);
    // the table: a row per run, the password hidden
    for (const run of report.runs) assert.ok(r.stdout.includes(run.label), run.label);
    assert.doesNotMatch(r.stdout + JSON.stringify(report), /guest:guest@/);
  });

  test("a component that dead-letters: its dead letters go to the run's own channel, dropped with it", async () => {
    const base = `wasmsg-bench-dl-${randomBytes(4).toString('hex')}`;
    const redisUrl = brokerUrls.redis.replace(/\/[^/]*$/, `/${base}`);
    const natsUrl = brokerUrls.nats.replace(/\/[^/]*$/, `/${base}`);
    const r = await bench(fixture('err'), '--brokers', `${redisUrl},${natsUrl}`, '--messages', '50', '--json');
    assert.equal(r.code, 1, r.stderr);
    for (const run of (JSON.parse(r.stdout) as BenchReport).runs)
      assert.match(run.error ?? '', /^50 of 50 messages were dead-lettered/, run.label);
    const redis = new Redis(redisClientUrl(redisUrl));
    try {
      assert.deepEqual(await redis.keys(`${base}*`), [], 'nothing of the run stays in Redis');
      // the broker's shared dead-letter stream got none of the run's messages
      const shared = await redis.xrange('wasmsg.dead-letter', '-', '+');
      assert.equal(shared.filter(([, fields]) => fields.some((f) => f.includes(base))).length, 0);
    } finally {
      redis.disconnect();
    }
    const nc = await natsConnect(natsOptions(natsUrl));
    try {
      const jsm = await nc.jetstreamManager();
      const left: string[] = [];
      for await (const s of jsm.streams.list())
        if ((s.config.subjects ?? []).some((x) => x.includes(base))) left.push(s.config.name);
      assert.deepEqual(left, [], 'no JetStream stream of the run stays');
    } finally {
      await nc.close();
    }
  });

  test('SIGTERM: the run under way is stopped, its process ended, its stream dropped; the report says so', async () => {
    const { base, redis, cli } = benchOnRedis('term', 'pipe');
    let stdout = '';
    cli.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = once(cli, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let runPid = 0;
    try {
      runPid = await runUnderWay(redis, base, cli.pid!);
      cli.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 143, 'exit 128 + SIGTERM');
      assert.ok(!runAlive(runPid), "the run's process is gone");
      assert.deepEqual(await redis.keys(`${base}*`), [], 'its stream is dropped');
      const run = (JSON.parse(stdout) as BenchReport).runs[0]!;
      assert.match(run.error ?? '', /^interrupted \(SIGTERM\)/);
    } finally {
      cli.kill('SIGKILL');
      killRun(runPid);
      await redis.del(...(await redis.keys(`${base}*`)), `${base}-none`);
      redis.disconnect();
    }
  });

  test("SIGKILL of the bench: the run's process drops its stream and ends, not go on alone", async () => {
    // before: the run's process, its IPC channel gone, went on producing and consuming alone
    // (reparented to PID 1), then crashed at its next progress message; its stream stayed
    const { base, redis, cli } = benchOnRedis('kill', 'ignore');
    let runPid = 0;
    try {
      runPid = await runUnderWay(redis, base, cli.pid!);
      cli.kill('SIGKILL');
      // not this process's child: nothing to wait on but its PID
      const gone = Date.now() + 30_000;
      while (runAlive(runPid)) {
        assert.ok(Date.now() < gone, "the run's process still runs 30 s after the bench was killed");
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(await redis.keys(`${base}*`), [], 'its stream is dropped');
    } finally {
      cli.kill('SIGKILL');
      killRun(runPid);
      const left = await redis.keys(`${base}*`);
      if (left.length > 0) await redis.del(...left);
      redis.disconnect();
    }
  });

  test("SIGKILL of the bench while the run's process is busy: its next progress message fails, and it still drops its stream", async () => {
    // The run's process learns that the bench is gone when its event loop reads the end of the
    // IPC channel (poll phase). A loop held past its 250 ms progress timer (a busy run on a loaded
    // machine) runs that timer first: the progress message is written to the dead bench's end
    // and fails (EPIPE) while process.connected still says true. Before: that failure was an
    // 'error' event on `process` with no listener, an uncaught exception ending the run's
    // process before it dropped its stream (the test above failed so in 11 of 20 runs on a
    // loaded machine). Made certain here by a script preloaded into the run's process alone:
    // on SIGUSR2 it holds the event loop from before the bench is killed until after it is gone.
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-busy-'));
    const held = join(dir, 'held.json');
    const preload = join(dir, 'hold.cjs');
    writeFileSync(
      preload,
      `if ((process.argv[1] || '').includes('bench/child.js')) {
  const { readFileSync, writeFileSync } = require('node:fs');
  // the parent's PID as the kernel has it now (the run's process is reparented once the bench is gone)
  const ppid = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ').pop().split(' ')[1]);
  process.on('SIGUSR2', () => {
    const bench = ppid();
    const start = Date.now();
    writeFileSync(${JSON.stringify(held + '.tmp')}, '');
    while ((ppid() === bench || Date.now() - start < 400) && Date.now() - start < 30000);
    const state = { benchGone: ppid() !== bench, heldMs: Date.now() - start, connected: process.connected };
    writeFileSync(${JSON.stringify(held)}, JSON.stringify(state));
    // a line of the run's now (the host's logger writes with process.stderr.write): to the gone bench too
    process.stderr.write('a log line of the run, the bench gone\\n');
  });
}
`,
    );
    const env = { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --require ${preload}` };
    const { base, redis, cli } = benchOnRedis('busy', 'ignore', env);
    let runPid = 0;
    const watcher = watch(dir);
    try {
      runPid = await runUnderWay(redis, base, cli.pid!);
      // the hold begun (its first file made), then the bench killed
      const holding = once(watcher, 'change', { signal: AbortSignal.timeout(30_000) });
      process.kill(runPid, 'SIGUSR2');
      await holding;
      cli.kill('SIGKILL');
      const gone = Date.now() + 30_000;
      while (runAlive(runPid)) {
        assert.ok(Date.now() < gone, "the run's process still runs 30 s after the bench was killed");
        await new Promise((r) => setTimeout(r, 50));
      }
      const state = JSON.parse(readFileSync(held, 'utf8')) as {
        benchGone: boolean;
        heldMs: number;
        connected: boolean;
      };
      // the case made: the bench gone, the progress timer due, the channel's end not yet read
      assert.ok(state.benchGone && state.heldMs >= 400 && state.connected, JSON.stringify(state));
      assert.deepEqual(await redis.keys(`${base}*`), [], 'its stream is dropped');
    } finally {
      watcher.close();
      cli.kill('SIGKILL');
      killRun(runPid);
      const left = await redis.keys(`${base}*`);
      if (left.length > 0) await redis.del(...left);
      redis.disconnect();
    }
  });

  test('the run stops once nothing settled for --stall-timeout, and says how far it got', async () => {
    // The librdkafka mock keeps ≈ 47,600 records a partition (PERF.md): of 250,000 over its 4
    // partitions, the oldest ≈ 59,500 are gone before the consumer starts.
    const r = await bench(
      '--brokers',
      `kafka://${mock.bootstrap}/wasmsg-bench-stall`,
      '--messages',
      '250000',
      '--warmup',
      '0',
      '--stall-timeout',
      '3',
      '--kafka-session-timeout',
      '6000',
      '--json',
    );
    assert.equal(r.code, 1, r.stderr);
    const run = (JSON.parse(r.stdout) as BenchReport).runs[0]!;
    const m = /^no message settled for 3 s after ([\d,]+) of 250,000: the broker dropped the rest/.exec(
      run.error ?? '',
    );
    assert.ok(m !== null, run.error);
    const got = Number(m[1]!.replace(/,/g, ''));
    assert.ok(got > 0 && got < 250_000, `${got} settled`);
  });
});

describe('wasmsg bench: modes', () => {
  test('fixed rate: never faster than the schedule; a handler slower than the rate shows as growing latency', async () => {
    // 1 worker spinning ≈2 ms a message holds ≈500 msgs/s; messages are due at 2000/s, so the
    // last ones wait ≈ (600/500 − 600/2000) s ≈ 0.9 s after their intended send time — a
    // closed-loop measure (time from the actual send, taken when the producer got round to it)
    // would not see that wait.
    const r = await bench(
      '--messages',
      '700',
      '--warmup',
      '100',
      '--rate',
      '2000',
      '--work',
      '2000',
      '--size',
      '64',
      '--workers',
      '1',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const run = (JSON.parse(r.stdout) as BenchReport).runs[0]!;
    assertMeasured(run, 100);
    assert.equal(run.params.mode, 'rate');
    assert.ok(run.msgsPerSec <= 2000 * 1.05, `${run.msgsPerSec} msgs/s: faster than the 2000/s schedule`);
    assert.ok(run.handlerUs!.p50 > 500, `handler ${run.handlerUs!.p50} µs: the spin work was done`);
    assert.ok(run.latencyMs.max > 300, `max latency ${run.latencyMs.max} ms: the backlog's wait was not counted`);
  });

  test('a dead broker: that run fails with the reason, the others run, exit code 1, the report is written', async () => {
    const out = mkdtempSync(join(tmpdir(), 'wasmsg-bench-'));
    const r = await bench(
      '--brokers',
      'redis://127.0.0.1:1/nothing-here,memory',
      '--messages',
      '1000',
      '--out',
      out,
      '--no-progress',
    );
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as BenchReport;
    assert.match(report.runs[0]!.error ?? '', /127\.0\.0\.1:1/);
    assertMeasured(report.runs[1]!, 200);
    assert.match(r.stdout, /redis:\/\/127\.0\.0\.1:1\/nothing-here \(engine\) failed: .*127\.0\.0\.1:1/);
  });

  test('a handler that fails its messages: the run says how many were dead-lettered (exit 1)', async () => {
    const r = await bench(fixture('err'), '--messages', '200', '--warmup', '0', '--json');
    assert.equal(r.code, 1, r.stderr);
    const run = (JSON.parse(r.stdout) as BenchReport).runs[0]!;
    assert.match(run.error ?? '', /^200 of 200 messages were dead-lettered/);
    assert.equal(run.measured, 200, 'with no warm-up every message is measured');
  });

  test("--baseline with a component of the user's: the bare client calls it too, and says why it failed", async () => {
    // the engine runs the component; a baseline that skipped it would compare a handler's work with none
    const r = await bench(fixture('err'), '--messages', '200', '--warmup', '0', '--baseline', '--json');
    assert.equal(r.code, 1, r.stderr);
    const runs = (JSON.parse(r.stdout) as BenchReport).runs;
    const bare = runs.find((x) => x.side === 'bare')!;
    assert.match(bare.error ?? '', /^handler failed: .*rejected by fixture/);
    assert.match(runs.find((x) => x.side === 'engine')!.error ?? '', /^200 of 200 messages were dead-lettered/);
  });

  test('a list value given twice is a usage error naming the option and the value, before any run (exit 2)', async () => {
    // before: `--workers 2,2` ran twice and reported two rows labelled `memory` alike
    for (const [flag, list, want] of [
      ['--brokers', 'memory,memory', /--brokers: 'memory' is given twice/],
      ['--workers', '2,2', /--workers: '2' is given twice/],
      ['--size', '100,100', /--size: '100' is given twice/],
    ] as const) {
      const r = await bench(flag, list, '--messages', '2000', '--no-progress');
      assert.equal(r.code, 2, `${flag} ${list}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /\[1\/\d+\]/, 'no run started');
      assert.equal(r.stdout, '', 'no table');
    }
  });

  test('a component path that is missing or no file: refused as every command refuses it, before any run (exit 1)', async () => {
    // before: each run's process found it missing, and each run failed with it in turn; then a
    // usage error of bench's own (exit 2), in words no other command used (issue10.test.ts has
    // each command's: one check, src/cli/files.ts)
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-cwd-'));
    const missing = await benchWith({ cwd: dir }, 'nope.wasm', '--workers', '1,2', '--messages', '2000');
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(
      missing.stderr,
      `wasmsg: component nope.wasm: no such file (resolved against the working directory ${dir}) [E_FILE_NOT_FOUND]\n`,
    );
    const notFile = await bench(dir, '--messages', '2000', '--no-progress');
    assert.equal(notFile.code, 1, notFile.stderr);
    assert.equal(
      notFile.stderr,
      `wasmsg: component ${dir}: is a directory (EISDIR), not a component file: name the .wasm inside it [E_BAD_INPUT]\n`,
    );
    for (const r of [missing, notFile]) {
      assert.doesNotMatch(r.stderr, /\[1\/\d+\]/, 'no run started');
      assert.equal(r.stdout, '', 'no table');
    }
  });

  /** A bench that failed before any run: no run started, no table, and no Redis key of `base` made. */
  const assertNothingStarted = async (r: { stderr: string; stdout: string }, base: string): Promise<void> => {
    assert.doesNotMatch(r.stderr, /\[1\/\d+\]/, 'no run started');
    assert.equal(r.stdout, '', 'no table');
    const redis = new Redis(redisClientUrl(brokerUrls.redis));
    try {
      assert.deepEqual(await redis.keys(`${base}*`), [], 'no channel made');
    } finally {
      redis.disconnect();
    }
  };

  test('a component that does not load fails the bench once, before any run (exit 1)', async () => {
    const base = `wasmsg-bench-bad-${randomBytes(4).toString('hex')}`;
    const url = brokerUrls.redis.replace(/\/[^/]*$/, `/${base}`);
    const r = await bench(fixture('core-module'), '--brokers', `memory,${url}`, '--messages', '2000', '--no-progress');
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.match(/is a core WebAssembly module, not a component/g)?.length, 1, r.stderr);
    await assertNothingStarted(r, base);
  });

  test('a component that passes inspection but does not instantiate fails the bench once, before any run (exit 1)', async () => {
    // start-trap: read, checked and transpiled (inspectComponent passes it), but its core start
    // function traps. Before: the up-front check passed it, and each of the six runs failed in turn
    const base = `wasmsg-bench-trap-${randomBytes(4).toString('hex')}`;
    const url = brokerUrls.redis.replace(/\/[^/]*$/, `/${base}`);
    const r = await bench(
      fixture('start-trap'),
      ...['--brokers', `memory,${url}`, '--workers', '1,2', '--baseline', '--messages', '2000', '--no-progress'],
    );
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr.match(/start-trap\.wasm: cannot instantiate: unreachable \[E_INSTANTIATE\]/g)?.length,
      1,
      r.stderr,
    );
    await assertNothingStarted(r, base);
  });

  test('a component whose start function loops fails the bench once, after instantiateTimeoutMs, before any run', async () => {
    const started: string[] = [];
    const bench = runBench(
      {
        component: fixture('start-loop'),
        brokers: ['memory'],
        messages: 2000,
        sizes: [100],
        keys: [0],
        workers: [1, 2],
        batch: [256],
        ordering: ['none'],
        workUs: [0],
        rates: [],
        baseline: true,
      },
      { cacheDir, command: 'test', instantiateTimeoutMs: 500 },
      { runStart: (job) => started.push(job.label) },
    );
    await assert.rejects(bench, (err: unknown) => {
      assert.ok(err instanceof WasmsgError, String(err));
      assert.equal(err.code, 'E_INSTANTIATE');
      assert.match(
        err.message,
        /start-loop\.wasm: not instantiated within 500 ms \(the engine's instantiateTimeoutMs, as a run's start would take\)/,
      );
      return true;
    });
    assert.deepEqual(started, [], 'no run started');
  });

  test('aborted (Ctrl-C) while the spin component is calibrated: no other --work value is calibrated, no run starts', async () => {
    // before: the calibration ran in the bench process, one --work value after another, and
    // looked at no signal: a Ctrl-C waited for every value's calibration (≈ 0.5 s each, longer
    // for a slow handler). Now the process calibrating is ended with the rest of the preparing
    const ac = new AbortController();
    const calibrated: number[] = [];
    const started: string[] = [];
    const report = await runBench(
      {
        brokers: ['memory'],
        messages: 2000,
        sizes: [100],
        keys: [0],
        workers: [1],
        batch: [256],
        ordering: ['none'],
        workUs: [100, 200, 300],
        rates: [],
        baseline: false,
      },
      { cacheDir, command: 'test', signal: ac.signal },
      {
        calibrated: (us) => {
          calibrated.push(us);
          ac.abort();
        },
        runStart: (job) => started.push(job.label),
      },
    );
    assert.deepEqual(calibrated, [100], 'calibrations after the abort');
    assert.deepEqual(started, [], 'no run started');
    assert.equal(report.runs.length, 0);
  });

  test('the bench process never loads the transpiler nor compiles WebAssembly: the component is prepared, and the spin component calibrated, in a process of its own', async () => {
    // before: the up-front check transpiled in the bench process (≈ 300 MB kept for the whole
    // bench with fizzbuzz-js), and then --work's calibration compiled the spin component there.
    // An ESM load hook preloaded into every process of the bench logs each process that loads
    // jco's transpiler (a fresh cache makes one transpile necessary); the preload logs each
    // process whose main thread compiles a WebAssembly module
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-loads-'));
    const log = join(dir, 'loads.log');
    const compiles = join(dir, 'compiles.log');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.includes('jco-transpile')) appendFileSync(${JSON.stringify(log)}, process.pid + ' ' + url + '\\n');
  return next(url, context);
}
`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});
const compile = WebAssembly.compile;
WebAssembly.compile = function (...args) {
  appendFileSync(${JSON.stringify(compiles)}, process.pid + '\\n');
  return compile.apply(this, args);
};
`,
    );
    const env = {
      ...process.env,
      NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${pathToFileURL(join(dir, 'register.mjs')).href}`,
    };
    // --work: the spin component, calibrated before the runs
    const args = ['bench', '--cache-dir', join(dir, 'cache'), '--messages', '200', '--work', '1', '--json'];
    const cli = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    cli.stdout!.resume();
    const [code] = (await once(cli, 'close')) as [number | null];
    assert.equal(code, 0, stderr);
    const lines = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    const loaders = new Set(lines.map((l) => Number(l.split(' ')[0])));
    assert.ok(loaders.size > 0, 'the hook saw the transpiler loaded (by the preparing process)');
    assert.ok(!loaders.has(cli.pid!), `the bench process (${cli.pid}) loaded the transpiler`);
    const compilers = new Set(readFileSync(compiles, 'utf8').trim().split('\n').map(Number));
    assert.ok(compilers.size > 0, 'the preload saw WebAssembly compiled (by the preparing process and the runs)');
    assert.ok(!compilers.has(cli.pid!), `the bench process (${cli.pid}) compiled WebAssembly`);
  });

  test('--out: a bench that writes no report leaves no directory it made; one the user had stays, a report is kept', async () => {
    // before: --out was made before the component was loaded, and a bench stopped by it left the
    // directory (and the parents it made) behind, empty
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-out-'));
    const missing = await bench(join(dir, 'nope.wasm'), '--messages', '200', '--out', join(dir, 'fresh'));
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(missing.stderr, `wasmsg: component ${join(dir, 'nope.wasm')}: no such file [E_FILE_NOT_FOUND]\n`);
    const bad = await bench(fixture('core-module'), '--messages', '200', '--no-progress', '--out', join(dir, 'a', 'b'));
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /is a core WebAssembly module/);
    const had = join(dir, 'had');
    mkdirSync(had);
    const badHad = await bench(fixture('core-module'), '--messages', '200', '--no-progress', '--out', had);
    assert.equal(badHad.code, 1, badHad.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['had'], 'no directory of the failed benches left, the one given kept');
    assert.deepEqual(readdirSync(had), []);
    const ok = await bench('--messages', '200', '--workers', '1', '--no-progress', '--out', join(dir, 'ok'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(readdirSync(join(dir, 'ok')).sort(), ['report.html', 'report.json']);
  });

  test("a run's process that crashed: the reason names its exit code or signal, and the line saying why", async () => {
    // Each made to end by a script preloaded (NODE_OPTIONS) into the run's process alone. Before:
    // `exited (3)`, `exited (SIGKILL)`, and for an uncaught error or an exhausted heap the last
    // three lines of stderr as they were: stack frames and `Node.js v20…`, native stack frames.
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-bench-crash-'));
    const inRun = "if ((process.argv[1] || '').includes('bench/child.js')) ";
    for (const [what, script, flags, want] of [
      [
        'an exit code, no stderr',
        'process.exit(3);',
        '',
        /^the run's process exited with code 3, writing nothing to stderr$/,
      ],
      [
        'SIGKILL (as the OOM killer sends it)',
        "process.kill(process.pid, 'SIGKILL');",
        '',
        /^the run's process was ended by SIGKILL \(the kernel's out-of-memory killer sends it, as does kill -9\), writing nothing to stderr$/,
      ],
      [
        'an uncaught error',
        "throw new TypeError('boom in the run');",
        '',
        /^the run's process exited with code 1: TypeError: boom in the run$/,
      ],
      [
        'its heap exhausted',
        'for (const keep = []; ; ) keep.push(new Array(1e5).fill(Math.random()));',
        '--max-old-space-size=64',
        /^the run's process was ended by SIGABRT: FATAL ERROR: .*JavaScript heap out of memory$/,
      ],
    ] as const) {
      const preload = join(dir, `${what.replace(/\W+/g, '-')}.cjs`);
      writeFileSync(preload, `${inRun}{ ${script} }\n`);
      const options = `${process.env['NODE_OPTIONS'] ?? ''} --require ${preload} ${flags}`;
      const r = await benchWith({ env: { NODE_OPTIONS: options } }, '--messages', '2000', '--json');
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      const run = (JSON.parse(r.stdout) as BenchReport).runs[0]!;
      assert.match(run.error ?? '', want, what);
    }
  });

  test('a bad flag is a usage error naming it (exit 2)', async () => {
    const r = await bench('--brokers', 'redis://127.0.0.1:6379', '--messages', '10');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--brokers: .*names no channel/);
  });
});
