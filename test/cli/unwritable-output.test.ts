import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { at, cacheDir, examples, fixture } from '../helpers.js';

/**
 * A closed stdout or stderr (`| head -3`, `| grep -q`, `2>&1 | grep -q running`): the command
 * stops writing there, silently, and ends as it would have (its own exit code, no stack trace); a
 * `run` keeps settling its messages. The pipe is closed by the parent before the child writes
 * (its read end destroyed right after the spawn; the child takes tens of ms to start Node).
 * A stream that fails otherwise: /dev/full (every write fails with ENOSPC).
 */

const bin = at('dist/src/cli/main.js');
const env = { ...process.env, WASMSG_CACHE_DIR: cacheDir };

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node args` with the `closed` stream's read end closed at once; the other is collected. */
function withClosed(closed: 'stdout' | 'stderr', args: string[]): Promise<Ended> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child[closed].destroy();
  let stdout = '';
  let stderr = '';
  if (closed !== 'stdout') child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  if (closed !== 'stderr') child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const crashed = /EPIPE|Unhandled 'error' event|\n\s+at /;

describe('a closed stdout: every command ends as it would have, without a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsg-unwritable-'));
  const cases: Array<[string, string[], number]> = [
    ['--help', ['--help'], 0],
    ['bench --help', ['bench', '--help'], 0],
    ['--version', ['--version'], 0],
    ['inspect', ['inspect', examples.echo], 0],
    ['inspect --json', ['inspect', examples.echo, '--json'], 0],
    ['validate --json', ['validate', at('examples/wasmsg.yaml'), '--json'], 0],
    ['call --json', ['call', examples.echo, '--data', 'hi', '--json'], 0],
    ['call --json, the handler returns err: still exit 3', ['call', fixture('err'), '--data', 'x', '--json'], 3],
    ['run --json', ['run', examples.noop, '--generate', '100', '--workers', '1', '--json'], 0],
    ['bench --json', ['bench', '--messages', '200', '--workers', '1', '--json'], 0],
    ['new', ['new', join(dir, 'made'), '--world', 'b', '--lang', 'wat'], 0],
  ];
  for (const [name, args, expected] of cases) {
    test(name, async () => {
      const r = await withClosed('stdout', [bin, ...args]);
      assert.doesNotMatch(r.stderr, crashed);
      assert.equal(r.code, expected, r.stderr);
    });
  }
  test('new made its project all the same', () => {
    assert.ok(existsSync(join(dir, 'made', 'build.mjs')));
  });
});

describe('a closed stderr', () => {
  test('a usage error still exits 2, a bad input 1', async () => {
    assert.equal((await withClosed('stderr', [bin, 'run', examples.noop, '--workers', 'abc'])).code, 2);
    assert.equal((await withClosed('stderr', [bin, 'inspect', at('no-such.wasm')])).code, 1);
  });

  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  const stream = `wasmsg-unwritable-${process.pid}`;
  after(async () => {
    if (redis.status === 'ready') await redis.del(stream, `${stream}.dead`);
    redis.disconnect();
  });

  test('run: `2>&1 | grep -q running` closes stderr; every message is still settled, exit 0', async () => {
    await redis.connect();
    const n = 20;
    // log-inject writes a guest stdout line (a log line on stderr, from a worker thread) for every
    // message, then returns err: with --max-attempts 1 each is dead-lettered, then acked
    const args = [
      ...[bin, 'run', fixture('log-inject'), '--from', `redis://127.0.0.1:6379/${stream}`, '--group', 'g'],
      ...['--limit', String(n), '--max-attempts', '1', '--dead-letter', `${stream}.dead`, '--workers', '1', '--json'],
    ];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    // as grep -q: read until the line, then go
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('running, consuming')) resolve();
      });
      void closed.then(() => reject(new Error(`exited before running: ${seen}`)));
    });
    child.stderr.destroy();
    const p = redis.pipeline();
    for (let i = 0; i < n; i++) p.xadd(stream, '*', 'data', `m-${i}`);
    await p.exec();
    assert.equal(await closed, 0);
    const stats = JSON.parse(stdout) as Record<string, number>;
    assert.equal(stats['received'], n);
    assert.equal(stats['deadLettered'], n);
    assert.equal(stats['acked'], n);
    assert.equal(await redis.xlen(`${stream}.dead`), n);
  });
});

describe('outliveUnwritableOutput: a worker thread piped into a closed stderr', () => {
  test("the worker's later lines are not kept in memory", async () => {
    // the worker starts after the pipe closed (piped then) and writes 2 MB: none of it may stay
    // buffered in its paused stderr stream
    const module = pathToFileURL(at('dist/src/cli/unwritable-output.js')).href;
    const script = `
      import { Worker } from 'node:worker_threads';
      import { writeSync } from 'node:fs';
      import { outliveUnwritableOutput } from ${JSON.stringify(module)};
      outliveUnwritableOutput();
      process.stderr.write('first\\n', () => {
        const w = new Worker("for (let i = 0; i < 2000; i++) process.stderr.write('x'.repeat(999) + '\\\\n')", { eval: true });
        w.on('exit', () => writeSync(1, String(w.stderr.readableLength)));
      });`;
    const r = await withClosed('stderr', ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0);
    assert.ok(Number(r.stdout) < 64 * 1024, `${r.stdout} bytes buffered`);
  });
});

describe('a stdout or stderr on a full disk (/dev/full: ENOSPC)', () => {
  /** Runs `wasmsg args` with `full` going to /dev/full; the other is collected. */
  async function onFull(full: 'stdout' | 'stderr', args: string[]): Promise<Ended> {
    const fd = openSync('/dev/full', 'w');
    try {
      const stdio: Array<'ignore' | 'pipe' | number> = [
        'ignore',
        full === 'stdout' ? fd : 'pipe',
        full === 'stderr' ? fd : 'pipe',
      ];
      const child = spawn(process.execPath, [bin, ...args], { env, stdio });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      return await new Promise((resolve) =>
        child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
      );
    } finally {
      closeSync(fd);
    }
  }

  test('stdout: one line saying the output was lost, exit 1, no stack trace', async () => {
    for (const args of [['--version'], ['inspect', examples.echo, '--json']]) {
      const r = await onFull('stdout', args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, 'wasmsg: cannot write the output: ENOSPC: no space left on device, write\n');
    }
    // a command that failed keeps its own code
    const failed = await onFull('stdout', ['call', fixture('err'), '--data', 'x', '--json']);
    assert.equal(failed.code, 3, failed.stderr);
  });

  test('run: stderr (its logs) on a full disk; every message is settled, exit 0', async () => {
    const r = await onFull('stderr', ['run', examples.noop, '--generate', '2000', '--workers', '1', '--json']);
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as Record<string, number>)['acked'], 2000);
  });
});
