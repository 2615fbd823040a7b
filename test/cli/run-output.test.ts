import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { progressMode, statsLine, statsToJSON } from '../../src/cli/run-output.js';
import type { EngineStats } from '../../src/engine/stats.js';
import { at, cacheDir, examples, fixture } from '../helpers.js';

/** Issue 10 item 4: a run says what it waits on, prints stats off a TTY, a busy-window rate, named fields, p99 ≤ max. */

const bin = at('dist/src/cli/main.js');
const env = { ...process.env, WASMSG_CACHE_DIR: cacheDir };

describe('run output (issue 10 item 4)', () => {
  test('no input: says what it consumes and how to feed it; off a TTY a stats line every --stats-interval s', async () => {
    const child = spawn(process.execPath, [bin, 'run', examples.noop, '--workers', '1', '--stats-interval', '1'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const statsLines = (): number => stderr.split('\n').filter((l) => l.includes('"stats"')).length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stats lines: ${stderr}`)), 30_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (statsLines() >= 2) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /waiting for messages on channel input of the embedded broker .*feed it with --generate N, or consume a real broker with --from <url>/,
    );
    const stats = stderr
      .split('\n')
      .filter((l) => l.includes('"stats"'))
      .map((l) => JSON.parse(l) as { msg: string; stats: Record<string, number> });
    assert.match(stats[0]!.msg, /^received 0 {2}handled ok 0 {2}settled 0 .* msgs\/s overall/);
    assert.equal(stats[0]!.stats['received'], 0);
    assert.match(stdout, /^received 0 {2}handled ok 0 {2}settled 0/);
  });

  test('--generate: the busy-window rate next to the overall one; named fields; p99 <= max', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'run', examples.noop, '--generate', '2000', '--workers', '1', '--json'],
      {
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, number> & { latencyMs: Record<string, number> };
    assert.ok(s['busyMs']! > 0 && s['busyMs']! <= s['elapsedMs']! + 2, JSON.stringify(s));
    assert.ok(s['busyMsgsPerSec']! >= s['msgsPerSec']! * 0.98, JSON.stringify(s));
    assert.ok(s.latencyMs['p99']! <= s.latencyMs['max']!);
    const text = spawnSync(process.execPath, [bin, 'run', examples.noop, '--generate', '2000', '--workers', '1'], {
      env,
      encoding: 'utf8',
    });
    assert.match(
      text.stdout,
      /^received 2000 {2}handled ok 2000 {2}settled 2000 .* msgs\/s busy \(\d+\.\d s from first received to last settled\), \d+ msgs\/s overall/,
    );
  });

  test('percentiles are clamped to the max (hdr-histogram rounds a percentile up to its bucket)', () => {
    const s = {
      received: 1,
      processed: 1,
      acked: 1,
      failed: 0,
      retried: 0,
      deadLettered: 0,
      published: 0,
      inFlightBatches: 0,
      batches: 1,
      buffered: 0,
      bufferedBytes: 0,
      elapsedMs: 10,
      msgsPerSec: 100,
      latencyMs: { p50: 857.6, p90: 857.6, p99: 857.6, max: 857.11 },
      workerUs: { decode: 0, call: 0, encode: 0 },
      workerBusyMs: 0,
      handlerUs: { p50: 0, p90: 0, p99: 0, max: 0 },
    } satisfies EngineStats;
    assert.deepEqual(statsToJSON(s)['latencyMs'], { p50: 857.11, p90: 857.11, p99: 857.11, max: 857.11 });
    assert.match(statsLine(s, { ms: 5, msgsPerSec: 200 }), /200 msgs\/s busy \(0\.0 s .*\), 100 msgs\/s overall/);
  });

  test('--stats-interval on a TTY: stats lines every S s instead of the bar (or of the line each second); 0: the bar alone', () => {
    // before: a TTY ignored the flag without a word (a bar with a limit, a line each second without)
    const mode = (tty: boolean, limit: number | undefined, statsInterval: number | undefined): unknown =>
      progressMode({ tty, limit, statsInterval });
    assert.deepEqual(mode(true, 100, undefined), { kind: 'bar', total: 100 });
    assert.deepEqual(mode(true, undefined, undefined), { kind: 'lines', everyMs: 1000, fields: false });
    assert.deepEqual(mode(true, 100, 3), { kind: 'lines', everyMs: 3000, fields: false });
    assert.deepEqual(mode(true, undefined, 3), { kind: 'lines', everyMs: 3000, fields: false });
    assert.deepEqual(mode(true, 100, 0), { kind: 'bar', total: 100 });
    assert.deepEqual(mode(true, undefined, 0), { kind: 'none' });
    assert.deepEqual(mode(false, 100, undefined), { kind: 'lines', everyMs: 5000, fields: true });
    assert.deepEqual(mode(false, undefined, 2), { kind: 'lines', everyMs: 2000, fields: true });
    assert.deepEqual(mode(false, 100, 0), { kind: 'none' });
  });

  /**
   * `wasmsg run …` on a pseudo-terminal (stderr and stdout a TTY); the shell's pid is wasmsg's
   * (exec). util-linux's script(1) makes the terminal: Debian's bsdutils, an essential package, so
   * every machine the README's setup runs on has it (not skipped without it: the test fails).
   */
  function onTty(...args: string[]): ReturnType<typeof spawn> {
    const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
    assert.equal(
      script.status,
      0,
      `script(1) (util-linux; Debian's bsdutils) makes the pseudo-terminal: ${script.error}`,
    );
    const quote = (a: string): string => `'${a.replaceAll("'", `'\\''`)}'`;
    const command = `echo wasmsg-pid $$; exec ${[process.execPath, bin, 'run', ...args].map(quote).join(' ')}`;
    const ttyEnv: NodeJS.ProcessEnv = { ...env };
    delete ttyEnv['WASMSG_LOG_FORMAT'];
    return spawn('script', ['-qfec', command, '/dev/null'], { env: ttyEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /**
   * `wasmsg run …` on a pseudo-terminal, nothing to consume, until `lines` stats lines were
   * written; then SIGINT (while `script`, and so wasmsg, still runs: its pid is not reused). The
   * output, and the stats lines' times of day (ms).
   */
  async function statsOnTty(lines: number, ...args: string[]): Promise<{ out: string; times: number[] }> {
    const child = onTty(examples.noop, '--workers', '1', ...args);
    let out = '';
    let pid: number | undefined;
    const times = (): number[] =>
      [...out.matchAll(/^(\d\d):(\d\d):(\d\d)\.(\d{3}) INFO {2}\[run\] received 0 {2}handled ok 0/gm)].map(
        ([, h, m, s, ms]) => ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000 + Number(ms),
      );
    const closed = new Promise<number | null>((r) => child.once('close', r)); // (all its output read)
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fewer than ${lines} stats lines: ${out}`)), 30_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          pid ??= Number(/wasmsg-pid (\d+)/.exec(out)?.[1] ?? Number.NaN) || undefined;
          if (times().length >= lines) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      process.kill(pid!, 'SIGINT');
      assert.equal(await closed, 0, out);
    } finally {
      if (child.exitCode === null && pid !== undefined) process.kill(pid, 'SIGKILL');
    }
    return { out, times: times() };
  }

  test('on a TTY, --stats-interval with a limit: stats lines, no progress bar', async () => {
    // before: the bar alone (a limit on a TTY), the flag ignored
    const { out } = await statsOnTty(1, '--limit', '10', '--stats-interval', '1');
    assert.doesNotMatch(out, /\d+\/10 \| \d+ msgs\/s \| eta/, 'no progress bar');
  });

  test('on a TTY, --stats-interval 2 without a limit: a stats line every 2 s, not each second', async () => {
    const { out, times } = await statsOnTty(2, '--stats-interval', '2');
    const [a, b] = times;
    // a timer never fires early: 2 s apart (a day's wrap aside); before, 1 s
    const gap = (b! - a! + 86_400_000) % 86_400_000;
    assert.ok(gap >= 1500, `stats lines ${gap} ms apart: ${out}`);
  });
});

describe('run: a signal while a handler runs', () => {
  test('says what the stop waits for; a second signal (SIGTERM after SIGINT) stops at once', async () => {
    // before: a handler that never returns held the run for its handler timeout without a word
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        fixture('loop'),
        '--generate',
        '5',
        '--workers',
        '1',
        '--handler-timeout',
        '600000',
        '--stats-interval',
        '1',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on('exit', (code, signal) => r({ code, signal })),
    );
    const seen = (re: RegExp, what: string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${what}: not seen in ${stderr}`)), 30_000);
        const look = (): void => {
          if (!re.test(stderr)) return;
          clearTimeout(timer);
          child.stderr.off('data', on);
          resolve();
        };
        const on = (d: Buffer): void => {
          stderr += d.toString();
          look();
        };
        child.stderr.on('data', on);
        look();
      });
    // the first stats line (a second in): the 5 messages were taken, and their batch went to the
    // idle worker as they came (the loop never returns)
    try {
      await seen(/"received":5/, 'the messages taken');
      child.kill('SIGINT');
      await seen(/SIGINT: stopping once the batch being handled ends/, 'the stopping line');
      assert.match(stderr, /within the handler timeout, 600000 ms\); a second SIGINT or SIGTERM stops at once/);
      // the other kind (a supervisor's SIGTERM after a Ctrl-C): before, its listener was left and
      // only said the line again
      child.kill('SIGTERM');
      const end = await exited;
      assert.equal(end.signal, 'SIGTERM', `ended by the SIGTERM, not the 600 s timeout: ${JSON.stringify(end)}`);
    } finally {
      // (a failed assertion leaves no run behind for its 600 s)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
