import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from '@bytecodealliance/jco-transpile/wasm-tools';
import { chooseBinding } from '../../src/component/direct/fit.js';
import { readCanonShape, readCoreShape } from '../../src/component/direct/wasm-parse.js';
import { at, examples, fixture, load } from '../helpers.js';

/**
 * The fit check decides between the direct binding and jco's glue. A core module of a
 * different shape must never get the direct binding: JS imports accept any arity, so a wrong
 * signature would not even fail at instantiation.
 */

const NOOP_WAT = readFileSync(at('examples/noop-wat/noop.wat'), 'utf8');
const component = readFileSync(examples.noop);

async function core(wat: string): Promise<Map<string, Uint8Array>> {
  return new Map([['component.core.wasm', await parse(wat)]]);
}

describe('direct binding fit check', () => {
  test('every WAT and C example and fixture fits; JS (WASI) components keep jco', async () => {
    for (const f of [
      examples.noop,
      examples.enrich,
      examples.echo,
      examples.spin,
      fixture('relay'),
      fixture('mirror-b'),
    ]) {
      assert.equal((await load(f)).binding.kind, 'direct', f);
    }
    const js = await load(examples.fizzbuzz);
    assert.deepEqual(js.binding, { kind: 'jco', why: 'it imports WASI (the sandbox is preview2-shim, through jco)' });
  });

  test('the core module as built fits', async () => {
    assert.equal(chooseBinding('a', false, component, await core(NOOP_WAT)).kind, 'direct');
  });

  test('a known import with the wrong core signature keeps jco, and says which', async () => {
    const wat = NOOP_WAT.replace(
      '(module',
      '(module (import "wasi:messaging/producer@0.1.0-draft" "publish" (func (param i32 i32 i32))) ',
    );
    const choice = chooseBinding('a', false, component, await core(wat));
    assert.equal(choice.kind, 'jco');
    assert.match(
      choice.why,
      /core import wasi:messaging\/producer@0.1.0-draft publish has signature \(i32,i32,i32->\), expected \(i32,i32->\)/,
    );
  });

  test('an unknown import, an imported memory or a wrong handler signature keeps jco', async () => {
    const cases: Array<[string, RegExp]> = [
      [NOOP_WAT.replace('(module', '(module (import "env" "log" (func (param i32)))'), /imports env log/],
      [NOOP_WAT.replace('(module', '(module (import "env" "t" (global i32))'), /imports global env#t/],
      [
        NOOP_WAT.replace('(param $event i32) (result i32)', '(param $event i32) (param i32) (result i32)').replace(
          '(i32.const 0))\n\n  (func (export "cabi_post',
          '(i32.const 0))\n\n  (func (export "cabi_post',
        ),
        /on-receive is \(i32,i32->i32\), expected \(i32->i32\)/,
      ],
      [NOOP_WAT.replace('(export "cabi_realloc")', ''), /does not export cabi_realloc/],
    ];
    for (const [wat, why] of cases) {
      const choice = chooseBinding('a', false, component, await core(wat));
      assert.equal(choice.kind, 'jco');
      assert.match(choice.why, why);
    }
  });

  test('the readers refuse what they do not know instead of guessing', async () => {
    assert.equal(readCoreShape(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1])), null, 'truncated section');
    assert.equal(readCanonShape(await parse(NOOP_WAT)), null, 'a core module is not a component');
    const canon = readCanonShape(component)!;
    assert.equal(canon.unfit, null);
    assert.deepEqual(canon.lifts, [{ memory: true, realloc: true, postReturn: true }]);
  });
});
