import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { at, cacheDir } from '../helpers.js';

/**
 * The package as another project gets it (issue 10 item 6): `npm pack`, installed from the
 * tarball into a project of its own, then every `ts` block of the README is type-checked there
 * with tsc (strict) and run with node; the examples and WIT resolve through the package's
 * exports; the source maps point at sources the package ships; LICENSE is there. One pack and one
 * install for the file (~20–40 s: the install may fetch dependencies missing from npm's cache).
 */

const work = mkdtempSync(join(tmpdir(), 'wasmsg-pack-'));
const project = join(work, 'project');
const installed = join(project, 'node_modules', 'wasmsg');
const snippets = [...readFileSync(at('README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
}

before(() => {
  const tarball = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', work], at('.'))
    .trim()
    .split('\n')
    .pop()!;
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, tarball)], project);
});

describe('the packed package, from another project', { timeout: 300_000 }, () => {
  test('every ts block of the README type-checks (tsc --strict) against the installed package', () => {
    assert.ok(snippets.length >= 3, 'the README has its library snippets');
    snippets.forEach((code, i) => writeFileSync(join(project, `snippet${i}.ts`), code));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          outDir: 'out',
          types: ['node'],
          typeRoots: [at('node_modules/@types')],
        },
        include: ['snippet*.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [at('node_modules/typescript/bin/tsc'), '-p', project], {
      encoding: 'utf8',
    });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });

  test('and runs: the examples resolve through the exports (wasmsg/examples/*)', () => {
    snippets.forEach((_, i) => {
      const r = spawnSync(process.execPath, [join(project, 'out', `snippet${i}.js`)], {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `snippet ${i}: ${r.stderr}`);
    });
  });

  test('examples, WIT, toolchain and package.json are exported; LICENSE ships', () => {
    const script = `
      import { fileURLToPath } from 'node:url';
      import { existsSync } from 'node:fs';
      const files = ['wasmsg/examples/echo-wat/echo.wasm', 'wasmsg/examples/wasmsg.yaml', 'wasmsg/wit/messaging-c/messaging.wit', 'wasmsg/package.json'];
      for (const f of files) if (!existsSync(fileURLToPath(import.meta.resolve(f)))) throw new Error(f);
      const tools = await import('wasmsg/toolchain');
      if (typeof tools.componentNew !== 'function') throw new Error('toolchain');
      console.log('ok');`;
    writeFileSync(join(project, 'resolve.mjs'), script);
    const r = spawnSync(process.execPath, ['resolve.mjs'], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(installed, 'LICENSE')));
    assert.match(readFileSync(join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  });

  test('the installed bin runs through its #! line', () => {
    // executed itself, not through node, as a shell runs it
    const r = spawnSync(join(project, 'node_modules', '.bin', 'wasmsg'), ['--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      (JSON.parse(readFileSync(at('package.json'), 'utf8')) as { version: string }).version,
    );
  });

  test('every source map points at sources the package ships', () => {
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.map')) maps.push(p);
      }
    };
    walk(join(installed, 'dist'));
    assert.ok(maps.length > 10);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] };
      for (const s of sources) {
        const file = join(dirname(map), s);
        assert.ok(existsSync(file), `${relative(installed, map)} → ${s}: not in the package`);
      }
    }
  });
});
