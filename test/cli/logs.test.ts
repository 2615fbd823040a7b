import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { RateLimiter, configureLogging, logFormat, prettyLine } from '../../src/log.js';
import { at, cacheDir, fixture } from '../helpers.js';

/** Issue 11 item 3: one logger (pino), JSON lines off a TTY, --log-level, guest lines tagged and rate-limited. */

const bin = at('dist/src/cli/main.js');
function wasmsg(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs (issue 11 item 3)', () => {
  test('off a TTY every stderr line of run is a JSON object; guest lines carry component and stream', () => {
    const r = wasmsg(['run', fixture('log-inject'), '--generate', '2', '--workers', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stderr);
    assert.ok(
      lines.some((l) => l['component'] === 'run' && /running, consuming default\/input/.test(String(l['msg']))),
    );
    const guest = lines.filter((l) => l['component'] === 'log-inject' && l['reason'] === undefined);
    assert.ok(guest.length > 0);
    for (const l of guest) assert.equal(l['stream'], 'stdout');
  });

  test('--log-level warn drops info lines (the guest lines, the running line)', () => {
    const r = wasmsg([
      'run',
      fixture('log-inject'),
      '--generate',
      '2',
      '--workers',
      '1',
      '--json',
      '--log-level',
      'warn',
    ]);
    assert.equal(r.status, 0, r.stderr);
    for (const l of jsonLines(r.stderr)) assert.ok((l['level'] as number) >= 40, JSON.stringify(l));
    assert.equal(wasmsg(['run', fixture('log-inject'), '--log-level', 'loud']).status, 2);
    const call = wasmsg(['call', fixture('log-inject'), '--data', 'x', '--log-level', 'silent']);
    assert.equal(call.stderr, '');
    assert.match(wasmsg(['call', fixture('log-inject'), '--data', 'x']).stderr, /"stream":"stdout"/);
  });

  test('guest lines are rate-limited per component and stream, the rest counted', () => {
    // 300 messages x 3 attempts x 2 lines in well under a few seconds: at most 100 a second shown
    const r = wasmsg(['run', fixture('log-inject'), '--generate', '300', '--workers', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = jsonLines(r.stderr).filter((l) => l['component'] === 'log-inject' && l['stream'] === 'stdout');
    const shown = lines.filter((l) => l['suppressed'] === undefined).length;
    assert.ok(shown < 1800, `shown ${shown}`);
    const notes = lines.filter((l) => typeof l['suppressed'] === 'number');
    assert.ok(notes.length > 0, 'a suppressed count');
    for (const n of notes)
      assert.match(String(n['msg']), /^\d+ more stdout lines not shown \(over 100 a second from one thread\)$/);
    // every line is shown or counted: before, the last window's count (an idle worker's timer
    // never ran) was lost, or came with a later batch
    const suppressed = notes.reduce((sum, n) => sum + (n['suppressed'] as number), 0);
    assert.equal(shown + suppressed, 1800, `shown ${shown}, counted ${suppressed}`);
  });

  test('RateLimiter: a burst per key per interval, the rest reported once per window', () => {
    let t = 0;
    const reports: Array<[string, number]> = [];
    const rl = new RateLimiter(
      2,
      1000,
      (k, n) => reports.push([k, n]),
      () => t,
    );
    assert.deepEqual(
      [rl.allow('a'), rl.allow('a'), rl.allow('a'), rl.allow('a'), rl.allow('b')],
      [true, true, false, false, true],
    );
    t = 1000;
    assert.equal(rl.allow('a'), true);
    assert.deepEqual(reports, [['a', 2]]);
    rl.allow('a');
    rl.allow('a');
    rl.flush();
    assert.deepEqual(reports, [
      ['a', 2],
      ['a', 1],
    ]);
    // tick: where timers do not run (an idle worker), the windows that ended are reported
    reports.length = 0;
    t = 5000;
    rl.allow('c');
    rl.allow('c');
    rl.allow('c');
    rl.tick();
    assert.deepEqual(reports, [], 'its window has not ended');
    t = 6000;
    rl.tick();
    assert.deepEqual(reports, [['c', 1]]);
  });

  test('the format and level chosen in the main thread reach the worker threads (their stderr is no TTY)', () => {
    const saved = [process.env['WASMSG_LOG_FORMAT'], process.env['WASMSG_LOG_LEVEL']];
    try {
      delete process.env['WASMSG_LOG_FORMAT'];
      configureLogging({});
      assert.equal(process.env['WASMSG_LOG_FORMAT'], logFormat());
      assert.equal(process.env['WASMSG_LOG_LEVEL'], 'info');
    } finally {
      for (const [k, v] of [
        ['WASMSG_LOG_FORMAT', saved[0]],
        ['WASMSG_LOG_LEVEL', saved[1]],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  test('the TTY format is one readable, escaped line', () => {
    const line = prettyLine({ level: 40, time: 0, component: 'kafka', msg: 'lost\u001b[2J', url: 'kafka://h:9092' });
    assert.equal(line, '00:00:00.000 WARN  [kafka] lost\\x1b[2J url=kafka://h:9092');
    assert.match(prettyLine({ level: 30, time: 0, msg: 'x', reason: 'a b' }), /reason="a b"$/);
  });
});
