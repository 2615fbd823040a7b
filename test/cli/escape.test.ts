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
