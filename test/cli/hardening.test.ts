import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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

test('run --limit above --generate says what it waits for instead of waiting silently; SIGTERM then ends it cleanly', async () => {
  const child = spawn(
    process.execPath,
    [
      at('dist/src/cli/main.js'),
      'run',
      at('examples/noop-wat/noop.wasm'),
      '--generate',
      '10',
      '--limit',
      '20',
      '--json',
    ],
    { env: { ...process.env, WASMSG_CACHE_DIR: cacheDir } },
  );
  let stderr = '';
  let signalled = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!signalled && /waits for 10 more/.test(stderr)) {
      signalled = true;
      child.kill('SIGTERM');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.match(stderr, /--limit 20 is more than --generate 10: after the generated messages the run waits for 10 more/);
  // the wait for the limit does not outlive the engine it waited on
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /E_ENGINE_STATE|WasmsgError/);
});

test('run stopped by SIGTERM prints its stats after the batch in flight drained and settled', async () => {
  // a handler that never returns: SIGTERM comes while its batch is in flight; the graceful stop
  // waits for it (the handler timeout ends it: a failed attempt, dead-lettered) — the stats must
  // count that, not be read before it
  const child = spawn(
    process.execPath,
    [
      at('dist/src/cli/main.js'),
      'run',
      fixture('loop'),
      '--generate',
      '1',
      '--handler-timeout',
      '800',
      '--max-attempts',
      '1',
      '--json',
    ],
    { env: { ...process.env, WASMSG_CACHE_DIR: cacheDir } },
  );
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let signalled = false;
  child.stderr.on('data', (d: Buffer) => {
    if (!signalled && /running/.test(d.toString())) {
      signalled = true;
      setTimeout(() => child.kill('SIGTERM'), 100);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  const stats = JSON.parse(stdout.trim().split('\n').pop()!) as { failed: number; deadLettered: number };
  assert.equal(stats.failed, 1);
  assert.equal(stats.deadLettered, 1);
});
