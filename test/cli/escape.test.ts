import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { at, cacheDir, fixture } from '../helpers.js';

test("wasmsg call's text output escapes guest text: no control character, no forged wasmsg: line", () => {
  const r = spawnSync(process.execPath, [at('dist/src/cli/main.js'), 'call', fixture('log-inject')], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
  });
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(r.stdout, /[\r\u001b]/, 'no CR or ESC reaches the terminal');
  for (const line of r.stdout.split('\n')) assert.doesNotMatch(line, /^wasmsg:/, `forged line: ${line}`);
});

test('run --limit above --generate is a usage error (exit 2), not a wait forever', () => {
  const r = spawnSync(
    process.execPath,
    [at('dist/src/cli/main.js'), 'run', at('examples/noop-wat/noop.wasm'), '--generate', '10', '--limit', '20'],
    { encoding: 'utf8', env: { ...process.env, WASMSG_CACHE_DIR: cacheDir }, timeout: 30_000 },
  );
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--limit 20 is more than --generate 10/);
});
