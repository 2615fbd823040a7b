import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { at, cacheDir } from '../helpers.js';

/**
 * `wasmsg new <dir> --world a|b|c --lang wat|c|js` builds and runs out of the box: for every
 * world and language that can be built here, scaffold, `node build.mjs`, then `wasmsg call` on
 * the test message — the data comes back upper-cased on topic `out`. JavaScript builds take
 * ~10–25 s each (ComponentizeJS), so one world runs in JS (C, the one no example covers).
 */

const bin = at('dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-new-'));
const hasClang = spawnSync('clang', ['--version']).status === 0;

function run(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, WASMSG_CACHE_DIR: cacheDir } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cases: Array<[string, string]> = [
  ['a', 'wat'],
  ['b', 'wat'],
  ['c', 'wat'],
  ['a', 'c'],
  ['b', 'c'],
  ['c', 'c'],
  ['c', 'js'],
];

describe('wasmsg new', () => {
  for (const [world, lang] of cases) {
    test(
      `--world ${world} --lang ${lang}: builds, and wasmsg call runs it`,
      { skip: lang === 'c' && !hasClang ? 'no clang' : false, timeout: 120_000 },
      () => {
        const name = `w${world}-${lang}`;
        const made = run(process.execPath, [bin, 'new', name, '--world', world, '--lang', lang], tmp);
        assert.equal(made.status, 0, made.stderr);
        const dir = join(tmp, name);
        assert.deepEqual(
          readdirSync(dir).sort(),
          ['README.md', 'build.mjs', 'message.json', `${name}.${lang}`, 'package.json', 'wit'].sort(),
        );
        const built = run(process.execPath, ['build.mjs'], dir);
        assert.equal(built.status, 0, built.stderr);
        const call = run(
          process.execPath,
          [bin, 'call', `${name}.wasm`, '--data-file', 'message.json', '--topic', 'in', '--json'],
          dir,
        );
        assert.equal(call.status, 0, call.stderr);
        const out = JSON.parse(call.stdout) as {
          world: string;
          result: unknown;
          outbox: Array<{ channel: string; data: string }>;
          binding: string;
        };
        assert.equal(out.result, 'ok');
        assert.equal(
          out.world,
          {
            a: 'wasi:messaging@0.1.0-draft/messaging',
            b: 'wasi:messaging@0.2.0-draft/messaging-core',
            c: 'wasi:messaging@0.2.0-draft/messaging',
          }[world],
        );
        assert.equal(out.binding, lang === 'js' ? 'jco' : 'direct');
        assert.deepEqual(
          out.outbox.map((o) => [o.channel, Buffer.from(o.data, 'base64').toString()]),
          [['out', '{"HELLO": "WASMSG"}\n']],
        );
        if (world !== 'c') {
          const empty = run(process.execPath, [bin, 'call', `${name}.wasm`, '--data', '', '--json'], dir);
          assert.equal(empty.status, 3);
          assert.deepEqual((JSON.parse(empty.stdout) as { result: unknown }).result, {
            error: { tag: 'other', val: 'empty message' },
          });
        }
      },
    );
  }

  test('refuses a directory that is not empty', () => {
    const r = run(process.execPath, [bin, 'new', at('examples')], tmp);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exists and is not empty/);
    assert.equal(run(process.execPath, [bin, 'new', 'x', '--lang', 'rust'], tmp).status, 2);
  });
});
