import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ENGINE_V8_FLAGS, growingPercentFor } from '../../src/heap-tuning.js';
import { at, cacheDir } from '../helpers.js';

/** Issue 10 item 7: `npm start` shows the engine at its fastest; the JS example is `npm run start:js`. */

const pkg = JSON.parse(readFileSync(at('package.json'), 'utf8')) as { scripts: Record<string, string> };

/** Runs an npm script's command as written, with a smaller --generate (the test checks it works, not its speed). */
function runScript(name: string, count: number): { status: number | null; stdout: string; stderr: string } {
  const cmd = pkg.scripts[name]!;
  const args = cmd.split(' ');
  assert.equal(args[0], 'node');
  const i = args.indexOf('--generate');
  args[i + 1] = String(count);
  const r = spawnSync(process.execPath, [...args.slice(1), '--workers', '1'], {
    cwd: at('.'),
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm start (issue 10 item 7)', () => {
  test('start runs the no-op example on 200000 generated messages; start:js the JS fizzbuzz', () => {
    assert.match(
      pkg.scripts['start']!,
      /^node (--[a-z-]+(=\d+)? )*dist\/src\/cli\/main\.js run examples\/noop-wat\/noop\.wasm --generate 200000$/,
    );
    assert.match(pkg.scripts['start:js']!, /run examples\/fizzbuzz-js\/fizzbuzz\.wasm --generate \d+/);
  });

  test("wasmsg's #! line is a plain node one; the start scripts start node with the engine's V8 flags", () => {
    const bin = readFileSync(at('dist/src/cli/main.js'), 'utf8').split('\n', 1)[0];
    // flags on a #! line need `env -S`, which BusyBox's env (Alpine) lacks: the CLI sets what it
    // can at run time instead (src/heap-tuning.ts)
    assert.equal(bin, '#!/usr/bin/env node');
    const flags = ENGINE_V8_FLAGS.join(' ');
    for (const name of ['start', 'start:js']) assert.ok(pkg.scripts[name]!.startsWith(`node ${flags} dist/`), name);
  });

  test("without the flag, the CLI's main heap grows toward the 128 MB floor, never past it by its own factor", () => {
    const MB = 1024 * 1024;
    assert.equal(growingPercentFor(32 * MB), 300, '32 MB × 4 = 128 MB');
    assert.equal(growingPercentFor(64 * MB), 100, 'half the floor: × 2');
    assert.equal(growingPercentFor(65 * MB), 0, "past half the floor: V8's own factor");
    assert.equal(growingPercentFor(4 * MB), 900, 'a small heap: at most × 10');
    assert.equal(growingPercentFor(0), 900);
  });

  for (const [name, count] of [
    ['start', 2000],
    ['start:js', 50],
  ] as const) {
    test(`npm run ${name} works as written (smaller count)`, () => {
      const r = runScript(name, count);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^received ${count} {2}handled ok ${count} {2}settled ${count} `));
    });
  }
});
