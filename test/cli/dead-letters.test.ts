import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { at, cacheDir, examples, fixture } from '../helpers.js';

/** Issue 10 item 3: failures are visible (reason and position), kept (--dead-letters), and can fail the run. */

const bin = at('dist/src/cli/main.js');
function wasmsg(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-dead-'));

describe('dead letters (issue 10 item 3)', () => {
  test('trap.wasm --generate 20: the reason with component and position, rate-limited; exit 0 without the flag', () => {
    const r = wasmsg(['run', fixture('trap'), '--generate', '20', '--workers', '1']);
    assert.equal(r.status, 0, r.stderr);
    const logs = jsonLines(r.stderr);
    const dead = logs.filter((l) => String(l['msg']) === 'dead-lettered after 3 attempts');
    assert.ok(dead.length >= 1 && dead.length <= 5, `${dead.length} lines (5 a reason, then a count)`);
    for (const l of dead) {
      assert.equal(l['component'], 'trap');
      assert.equal(l['broker'], 'default');
      assert.equal(l['channel'], 'input');
      assert.equal(typeof l['partition'], 'number');
      assert.match(String(l['offset']), /^\d+$/);
      assert.match(String(l['reason']), /unreachable/);
    }
    const more = logs.filter((l) => typeof l['suppressed'] === 'number');
    assert.equal(dead.length + more.reduce((n, l) => n + (l['suppressed'] as number), 0), 20);
    assert.ok(
      logs.some((l) => l['deadLettered'] === 20),
      'a summary line',
    );
  });

  test('--fail-on-dead-letter exits 4; --dead-letters keeps them (payload base64, headers, error, position)', () => {
    const file = join(tmp, 'dead.jsonl');
    const r = wasmsg([
      'run',
      fixture('trap'),
      '--generate',
      '20',
      '--workers',
      '1',
      '--max-attempts',
      '1',
      '--dead-letters',
      file,
      '--fail-on-dead-letter',
    ]);
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stdout, /dead-lettered 20/);
    const rows = jsonLines(readFileSync(file, 'utf8'));
    assert.equal(rows.length, 20);
    const payloads = new Set(rows.map((d) => Buffer.from(String(d['payload']), 'base64').toString('utf8')));
    assert.equal(payloads.size, 20);
    for (const d of rows) {
      assert.match(String(d['error']), /unreachable/);
      assert.deepEqual(d['headers'], {});
      assert.equal(d['attempts'], 1);
      assert.equal(d['channel'], 'input');
    }
  });

  test('--fail-on-dead-letter with nothing dead-lettered exits 0', () => {
    const r = wasmsg(['run', examples.noop, '--generate', '20', '--workers', '1', '--fail-on-dead-letter']);
    assert.equal(r.status, 0, r.stderr);
  });

  test('two components on one channel: a dead letter names the component that failed it', () => {
    const config = join(tmp, 'fan-out.yaml');
    writeFileSync(
      config,
      [
        'components:',
        `  - path: ${examples.noop}`,
        '    name: audit',
        '    subscriptions: [{ channel: orders, group: audit }]',
        `  - path: ${fixture('trap')}`,
        '    name: enrich',
        '    subscriptions: [{ channel: orders, group: enrich }]',
        '',
      ].join('\n'),
    );
    const file = join(tmp, 'fan-out.jsonl');
    const r = wasmsg([
      'run',
      '--config',
      config,
      '--generate',
      '3',
      '--limit',
      '6',
      '--max-attempts',
      '1',
      '--dead-letters',
      file,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const rows = jsonLines(readFileSync(file, 'utf8'));
    assert.equal(rows.length, 3);
    // before: the first component reading the channel (audit, which never fails) was named
    for (const d of rows) assert.equal(d['component'], 'enrich');
    const dead = jsonLines(r.stderr).filter((l) => String(l['msg']).startsWith('dead-lettered after'));
    assert.ok(dead.length > 0 && dead.every((l) => l['component'] === 'enrich'), r.stderr);
  });

  test('--dead-letters to a file that cannot be written: a usage error before anything runs', () => {
    const r = wasmsg([
      'run',
      fixture('trap'),
      '--generate',
      '5',
      '--dead-letters',
      join(tmp, 'no', 'such', 'dir.jsonl'),
    ]);
    // before: the run went through, then failed at the end with its dead letters and summary lost
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--dead-letters .*cannot write it: ENOENT/);
    assert.equal(r.stdout, '');
  });
});
