import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { Iface, WASI_INTERFACES, detectWorld } from '../../src/component/worlds.js';
import { WorldError } from '../../src/errors.js';
import { at, cacheDir, fixture } from '../helpers.js';

describe('unclear errors made clear (issue 12 finding 7)', () => {
  test('a WASI import the sandbox does not provide is refused at load, naming it', () => {
    assert.throws(
      () => detectWorld(['wasi:cli/bogus@0.2.3', 'wasi:cli/stdout@0.2.3'], [Iface.aHandler], 'x.wasm'),
      (err: unknown) =>
        err instanceof WorldError &&
        err.code === 'E_UNSUPPORTED_IMPORT' &&
        /imports wasi:cli\/bogus@0\.2\.3, which the WASI sandbox does not provide/.test(err.message),
    );
    assert.equal(detectWorld(['wasi:cli/stdout@0.2.3'], [Iface.aHandler], 'x.wasm').wasi, true);
  });

  test("the sandbox's interfaces are the ones preview2-shim provides", () => {
    const shim = Object.keys(new WASIShim().getImportObject() as Record<string, unknown>).sort();
    assert.deepEqual([...WASI_INTERFACES].sort(), shim);
  });

  const wasmsg = (...args: string[]) =>
    spawnSync(process.execPath, [at('dist/src/cli/main.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
    });

  test('inspect /dev/zero is refused at once instead of read until memory runs out', () => {
    const r = wasmsg('inspect', '/dev/zero');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /component \/dev\/zero: is a character device, not a regular file: name a component file \(\.wasm\) \[E_BAD_INPUT\]/,
    );
  });

  test("a multi-line error (wasm-tools') keeps its code on the one line printed", () => {
    const r = wasmsg('inspect', fixture('malformed'));
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /malformed component: .* \[E_MALFORMED\]$/m);
  });
});
