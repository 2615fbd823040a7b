import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { inspectComponent, loadComponent } from '../../src/component/load.js';
import { WorldId } from '../../src/component/worlds.js';
import { ComponentFormatError, ErrorCode, WasmsgError, WorldError } from '../../src/errors.js';
import { cacheDir, examples, fixture } from '../helpers.js';

describe('recognising components', () => {
  const cases = [
    { file: examples.noop, world: WorldId.seed, wasi: false },
    { file: examples.enrich, world: WorldId.seed, wasi: false },
    { file: examples.fizzbuzz, world: WorldId.seed, wasi: true },
    { file: examples.echo, world: WorldId.core, wasi: false },
    { file: examples.shout, world: WorldId.core, wasi: true },
  ];
  for (const { file, world, wasi } of cases) {
    test(`${file.split('/').pop()} is ${world}`, async () => {
      const info = await inspectComponent(file, { cacheDir });
      assert.equal(info.world, world);
      assert.equal(info.wasi, wasi);
      assert.equal(info.size, readFileSync(file).length);
      assert.match(info.hash, /^[0-9a-f]{64}$/);
    });
  }
});

describe('refusing what is not a runnable component, with a typed error and a stable code', () => {
  const cases: Array<{ name: string; cls: typeof WasmsgError; code: string; message: RegExp }> = [
    {
      name: 'core-module',
      cls: ComponentFormatError,
      code: ErrorCode.coreModule,
      message: /core WebAssembly module, not a component/,
    },
    {
      name: 'truncated',
      cls: ComponentFormatError,
      code: ErrorCode.truncated,
      message: /truncated: section \d+ at byte \d+ is incomplete/,
    },
    { name: 'garbage', cls: ComponentFormatError, code: ErrorCode.notWasm, message: /not a WebAssembly binary/ },
    { name: 'malformed', cls: ComponentFormatError, code: ErrorCode.malformed, message: /malformed component/ },
    {
      name: 'wrong-export',
      cls: WorldError,
      code: ErrorCode.missingExport,
      message: /exports no wasi:messaging handler; exports found: wasi:messaging\/telemetry@0\.1\.0-draft/,
    },
    {
      name: 'unknown-import',
      cls: WorldError,
      code: ErrorCode.unsupportedImport,
      message: /imports wasi:messaging\/telemetry@0\.1\.0-draft, which this host does not provide/,
    },
  ];
  for (const { name, cls, code, message } of cases) {
    test(name, async () => {
      await assert.rejects(loadComponent(fixture(name), { cacheDir }), (err: unknown) => {
        assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        assert.ok(err.message.includes(`${name}.wasm`), 'the message names the file');
        return true;
      });
    });
  }

  test('a missing file', async () => {
    await assert.rejects(loadComponent('/nonexistent/x.wasm', { cacheDir }), { code: ErrorCode.fileNotFound });
  });

  test('a directory is refused as one (E_BAD_INPUT), by the loader as by the CLI, not as a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-dir-'));
    for (const load of [loadComponent, inspectComponent]) {
      await assert.rejects(load(dir, { cacheDir }), (err: unknown) => {
        assert.ok(err instanceof ComponentFormatError);
        assert.equal(err.code, ErrorCode.badInput);
        assert.equal(err.message, `${dir}: is a directory (EISDIR), not a component file: name the .wasm inside it`);
        return true;
      });
    }
  });

  test('an empty file is not wasm, a cut preamble is truncated', async () => {
    await assert.rejects(loadComponent(new Uint8Array(0), { cacheDir }), { code: ErrorCode.notWasm });
    await assert.rejects(loadComponent(Uint8Array.from([0, 0x61, 0x73]), { cacheDir }), { code: ErrorCode.truncated });
  });

  test('errors survive serialisation with their class and code', async () => {
    const { errorFromJSON } = await import('../../src/errors.js');
    const err = await loadComponent(fixture('core-module'), { cacheDir }).catch((e: unknown) => e as WasmsgError);
    const copy = errorFromJSON(JSON.parse(JSON.stringify(err)));
    assert.ok(copy instanceof ComponentFormatError);
    assert.equal(copy.code, ErrorCode.coreModule);
    assert.equal(copy.message, (err as WasmsgError).message);
  });
});

describe('transpile cache', () => {
  test('transpiles once per content hash, then hits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-cache-'));
    const events: string[] = [];
    const onCacheEvent = (e: { kind: string }): void => void events.push(e.kind);
    await loadComponent(examples.noop, { cacheDir: dir, onCacheEvent });
    await loadComponent(examples.noop, { cacheDir: dir, onCacheEvent });
    // same bytes under another name: same entry
    await loadComponent(new Uint8Array(readFileSync(examples.noop)), { cacheDir: dir, onCacheEvent });
    assert.deepEqual(events, ['miss', 'hit', 'hit']);
    assert.equal(readdirSync(dir).length, 1);
  });

  test('a corrupt entry is detected and rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-cache-'));
    const first = await loadComponent(examples.echo, { cacheDir: dir });
    const entry = join(dir, readdirSync(dir)[0]!);
    writeFileSync(join(entry, 'component.core.wasm'), 'not what was cached');
    const events: Array<{ kind: string; why?: string }> = [];
    const again = await loadComponent(examples.echo, { cacheDir: dir, onCacheEvent: (e) => void events.push(e) });
    assert.equal(events[0]?.kind, 'corrupt');
    assert.match(events[0]?.why ?? '', /component\.core\.wasm does not match its hash/);
    assert.equal(again.hash, first.hash);
    const third: string[] = [];
    await loadComponent(examples.echo, { cacheDir: dir, onCacheEvent: (e) => void third.push(e.kind) });
    assert.deepEqual(third, ['hit'], 'the rebuilt entry is good');
  });

  test('a changed world description in the manifest is detected and rebuilt (the world is recognised from it)', async () => {
    // before: only the files' hashes were checked, so this was a hit, and the valid component
    // was refused (E_MISSING_EXPORT) on every load until the cache was cleared by hand
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-cache-'));
    await loadComponent(examples.noop, { cacheDir: dir });
    const file = join(dir, readdirSync(dir)[0]!, 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8')) as { wit: string };
    assert.match(m.wit, /handler@0\.1\.0-draft/);
    m.wit = m.wit.replace('handler@0.1.0-draft', 'handlex@0.1.0-draft');
    writeFileSync(file, JSON.stringify(m));
    const events: Array<{ kind: string; why?: string }> = [];
    const again = await loadComponent(examples.noop, { cacheDir: dir, onCacheEvent: (e) => void events.push(e) });
    assert.equal(again.world, WorldId.seed);
    assert.deepEqual(
      events.map((e) => `${e.kind}: ${e.why}`),
      ['corrupt: the world description in the manifest does not match its hash'],
    );
  });

  test('a garbled manifest is detected and rebuilt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-cache-'));
    await loadComponent(examples.noop, { cacheDir: dir });
    writeFileSync(join(dir, readdirSync(dir)[0]!, 'manifest.json'), '{"version": 1, "key": ');
    const events: string[] = [];
    await loadComponent(examples.noop, { cacheDir: dir, onCacheEvent: (e) => void events.push(e.kind) });
    assert.deepEqual(events, ['corrupt']);
  });
});

describe('transpile cache: loads at once', () => {
  test('loads of one component at once into a cold cache all succeed and leave one good entry', async () => {
    // before: each writer removed the entry directory before renaming its own into place, so
    // writers racing on a cold cache failed with ENOTEMPTY (a plain Node error, no code of
    // ours) from the removal or the rename — two engines of one program starting together
    for (let round = 0; round < 3; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'wasmsg-cache-'));
      const loads = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) =>
          loadComponent(i % 2 === 0 ? examples.echo : examples.noop, { cacheDir: dir }),
        ),
      );
      const failed = loads.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      assert.deepEqual(failed, [], `round ${round}`);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('.tmp-') || n.includes('.old-')),
        [],
        'no leftovers',
      );
      assert.equal(readdirSync(dir).length, 2);
      const events: string[] = [];
      await loadComponent(examples.echo, { cacheDir: dir, onCacheEvent: (e) => void events.push(e.kind) });
      assert.deepEqual(events, ['hit']);
    }
  });
});
