import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { packageEntry } from '../../src/cli/toolchain.js';
import { at, cacheDir } from '../helpers.js';

/**
 * `wasmsg new <dir> --world a|b|c --lang wat|c|js` builds and runs out of the box: for every
 * world and language that can be built here, scaffold, `node build.mjs`, then `wasmsg call` on
 * the test message — the data comes back upper-cased on topic `out`. JavaScript builds take
 * ~10–25 s each (ComponentizeJS), so one world runs in JS (C, the one no example covers).
 * The cases run two at a time: each is a chain of child processes (scaffold, build, call), mostly
 * on one core, and each has its own directory (the transpile cache is safe to share).
 */

const bin = at('dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-new-'));
const hasClang = spawnSync('clang', ['--version']).status === 0;

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, WASMSG_CACHE_DIR: cacheDir } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// the JavaScript build first: the longest, it overlaps the others
const cases: Array<[string, string]> = [
  ['c', 'js'],
  ['a', 'wat'],
  ['b', 'wat'],
  ['c', 'wat'],
  ['a', 'c'],
  ['b', 'c'],
  ['c', 'c'],
];

describe('wasmsg new', { concurrency: 2 }, () => {
  for (const [world, lang] of cases) {
    test(
      `--world ${world} --lang ${lang}: builds, and wasmsg call runs it`,
      { skip: lang === 'c' && !hasClang ? 'no clang' : false, timeout: 120_000 },
      async () => {
        const name = `w${world}-${lang}`;
        const made = await run(process.execPath, [bin, 'new', name, '--world', world, '--lang', lang], tmp);
        assert.equal(made.status, 0, made.stderr);
        const dir = join(tmp, name);
        assert.deepEqual(
          readdirSync(dir).sort(),
          ['README.md', 'build.mjs', 'message.json', `${name}.${lang}`, 'package.json', 'wit'].sort(),
        );
        const built = await run(process.execPath, ['build.mjs'], dir);
        assert.equal(built.status, 0, built.stderr);
        const call = await run(
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
          const empty = await run(process.execPath, [bin, 'call', `${name}.wasm`, '--data', '', '--json'], dir);
          assert.equal(empty.status, 3);
          assert.deepEqual((JSON.parse(empty.stdout) as { result: unknown }).result, {
            error: { tag: 'other', val: 'empty message' },
          });
        }
      },
    );
  }

  test('refuses a directory that is not empty', async () => {
    const r = await run(process.execPath, [bin, 'new', at('examples')], tmp);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exists and is not empty/);
    assert.equal((await run(process.execPath, [bin, 'new', 'x', '--lang', 'rust'], tmp)).status, 2);
  });
});

describe('wasmsg new: the next steps it prints work as printed', () => {
  test('a directory with a space is quoted; npm run call works without wasmsg on PATH (a clone)', async () => {
    // before: `cd My Handler && …` (two words), and `npm run call` failed with `wasmsg: not found`
    const made = await run(process.execPath, [bin, 'new', 'My Handler'], tmp);
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stdout, /\n {2}cd 'My Handler' && node build\.mjs && /);
    const dir = join(tmp, 'My Handler');
    assert.equal((await run(process.execPath, ['build.mjs'], dir)).status, 0);
    const path = (process.env['PATH'] ?? '').split(':').filter((p) => !existsSync(join(p, 'wasmsg')));
    const npm = spawnSync('npm', ['run', '--silent', 'call'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PATH: path.join(':'), WASMSG_CACHE_DIR: cacheDir },
    });
    assert.equal(npm.status, 0, npm.stderr);
    assert.match(npm.stdout, /data: \{"HELLO": "WASMSG"\}/);
  });
});

describe('wasmsg new: a mistake in the WAT', () => {
  test('build.mjs says file:line:col: what is wrong (1-based), exit 1, no stack trace', async () => {
    // before: a stack trace and wasm-tools' debug dump of its error, 0-based, without the file
    assert.equal((await run(process.execPath, [bin, 'new', 'typo'], tmp)).status, 0);
    const dir = join(tmp, 'typo');
    const file = join(dir, 'typo.wat');
    const lines = readFileSync(file, 'utf8').split('\n');
    const line = lines.findIndex((l) => l.includes('i32.const 0'));
    const col = lines[line]!.indexOf('i32.const 0');
    lines[line] = lines[line]!.replace('i32.const 0', 'i32.konst 0');
    writeFileSync(file, lines.join('\n'));
    const built = await run(process.execPath, ['build.mjs'], dir);
    assert.equal(built.status, 1);
    assert.equal(built.stderr.trim(), `typo.wat:${line + 1}:${col + 1}: unknown operator or unexpected token`);
  });
});

describe('toolchain: ComponentizeJS from the project first', () => {
  test("packageEntry finds a package in the project's node_modules (or above), by its exports' import entry", () => {
    // before: only wasmsg's own installation was searched, so a JS project whose README said
    // `npm install --save-dev @bytecodealliance/componentize-js` still failed with wasmsg installed
    // elsewhere. A stand-in package (its manifest only: a second ComponentizeJS install does not exist here)
    const project = mkdtempSync(join(tmpdir(), 'wasmsg-project-'));
    const pkg = join(project, 'node_modules', '@bytecodealliance', 'componentize-js');
    mkdirSync(join(pkg, 'src'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ exports: { import: './src/componentize.js' } }));
    mkdirSync(join(project, 'src'));
    assert.equal(
      packageEntry(join(project, 'src'), '@bytecodealliance/componentize-js'),
      pathToFileURL(join(pkg, 'src', 'componentize.js')).href,
    );
    assert.equal(packageEntry(tmpdir(), '@bytecodealliance/not-installed-anywhere'), undefined);
  });
});
