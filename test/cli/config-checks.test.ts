import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { at, cacheDir, examples } from '../helpers.js';

/** What a config file, a flag or the environment says that the CLI refuses rather than ignoring or guessing. */

const bin = at('dist/src/cli/main.js');
function wasmsg(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-config-checks-'));
const file = (name: string, content: string): string => {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
};

describe('component names', () => {
  test('one file twice without names: validate and run refuse it, naming both components and the fix', () => {
    // before: validate said valid and run ran both as 'noop' (one name in metrics, logs, dead letters)
    const config = file(
      'same-file.yaml',
      `components:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: a }]\n  - path: ${examples.noop}\n    subscriptions: [{ channel: b }]\n`,
    );
    const said =
      /options\.components\[1\]\.name: components\[0\] and components\[1\] are both named 'noop', after their file .*give each a name of its own/;
    const v = wasmsg(['validate', config]);
    assert.equal(v.status, 1, v.stdout);
    assert.match(v.stderr, said);
    const r = wasmsg(['run', '--config', config, '--generate', '5', '--workers', '1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, said);
    const named = file(
      'same-file-named.yaml',
      `components:\n  - path: ${examples.noop}\n    name: a\n    subscriptions: [{ channel: a }]\n  - path: ${examples.noop}\n    name: b\n    subscriptions: [{ channel: b }]\n`,
    );
    assert.equal(wasmsg(['validate', named]).status, 0);
  });
});
