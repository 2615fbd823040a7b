import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultCacheDir } from '../../src/component/cache.js';
import { at } from '../helpers.js';

/** The project's scripts (issue 10 items 9, 10, 11): set-up, reproducible examples, the generated config reference. */

const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-scripts-'));

describe('npm test sets itself up (item 11)', () => {
  test('pretest runs setup-debian.sh --if-needed; npm ci runs nothing extra', () => {
    const pkg = JSON.parse(readFileSync(at('package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['pretest'], 'bash scripts/setup-debian.sh --if-needed');
    for (const hook of ['preinstall', 'install', 'postinstall', 'preci']) assert.equal(pkg.scripts[hook], undefined);
  });

  test('with everything there: silent, exit 0, quick', () => {
    const started = performance.now();
    const r = spawnSync('bash', [at('scripts/setup-debian.sh'), '--if-needed'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
    assert.ok(performance.now() - started < 5000);
  });

  test('a missing package and no root: names it, says how, exit 1', () => {
    // a fake dpkg-query that knows no package, an `id` that is not root, no sudo
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'dpkg-query'), '#!/bin/sh\nexit 1\n');
    writeFileSync(join(bin, 'id'), '#!/bin/sh\necho 1000\n');
    writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexit 1\n');
    for (const f of ['dpkg-query', 'id', 'sudo']) chmodSync(join(bin, f), 0o755);
    const r = spawnSync('bash', [at('scripts/setup-debian.sh'), '--if-needed'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /missing Debian packages: clang lld /);
    assert.match(r.stderr, /needs root: run {3}sudo bash scripts\/setup-debian\.sh/);
  });
});

describe('npm run build:examples is reproducible (item 10)', () => {
  const outputs = (): Map<string, string> => {
    const hashes = new Map<string, string>();
    for (const dir of ['examples', 'test/fixtures']) {
      const walk = (d: string): void => {
        for (const e of readdirSync(at(d), { withFileTypes: true })) {
          const p = join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (e.name.endsWith('.wasm'))
            hashes.set(
              p,
              createHash('sha256')
                .update(readFileSync(at(p)))
                .digest('hex'),
            );
        }
      };
      walk(dir);
    }
    hashes.set('inputs', readFileSync(at('scripts/build-examples.inputs.json'), 'utf8'));
    return hashes;
  };

  test('every checked-in output is recorded as built from its current inputs', () => {
    const r = spawnSync(process.execPath, [at('scripts/build-examples.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  test('running it changes no file', (t) => {
    // outputs not yet recorded would be built and recorded: the test above names them
    if (spawnSync(process.execPath, [at('scripts/build-examples.mjs'), '--check']).status !== 0)
      return t.skip('--check fails');
    const before = outputs();
    const r = spawnSync(process.execPath, [at('scripts/build-examples.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(outputs(), before);
  });

  test('a WAT target rebuilt by force comes out byte for byte the same', () => {
    const before = outputs();
    const r = spawnSync(process.execPath, [at('scripts/build-examples.mjs'), '--force', 'echo-wat', 'batch-wat'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /examples\/echo-wat\/echo\.wasm: \d+ bytes, unchanged/);
    assert.deepEqual(outputs(), before);
  });
});

describe('docs/config.md (item 9)', () => {
  test('is generated from the schema and up to date', () => {
    const r = spawnSync(process.execPath, [at('scripts/config-doc.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const doc = readFileSync(at('docs/config.md'), 'utf8');
    for (const key of [
      '`components[].subscriptions[].group`',
      '`retries.maxAttempts`',
      '`deadLetter.channel`',
      '`workers`',
    ]) {
      assert.ok(doc.includes(key), key);
    }
  });
  test("cacheDir's default is the one the cache takes: $WASMSG_CACHE_DIR, else $XDG_CACHE_HOME/wasmsg, else ~/.cache/wasmsg", () => {
    // before: the doc and README left out $XDG_CACHE_HOME, which the cache follows when set
    const saved = { w: process.env['WASMSG_CACHE_DIR'], x: process.env['XDG_CACHE_HOME'] };
    try {
      process.env['WASMSG_CACHE_DIR'] = '';
      process.env['XDG_CACHE_HOME'] = join(tmp, 'xdg');
      assert.equal(defaultCacheDir(), join(tmp, 'xdg', 'wasmsg'));
    } finally {
      for (const [k, v] of [
        ['WASMSG_CACHE_DIR', saved.w],
        ['XDG_CACHE_HOME', saved.x],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    const said = '`$WASMSG_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmsg`, else `~/.cache/wasmsg`';
    assert.ok(readFileSync(at('docs/config.md'), 'utf8').includes(said), 'docs/config.md');
    assert.ok(readFileSync(at('README.md'), 'utf8').replace(/\s+/g, ' ').includes(said), 'README.md');
  });
});
