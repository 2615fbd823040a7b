import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { componentEmbed, componentNew, componentWit } from '@bytecodealliance/jco-transpile/wasm-tools';
import { detectWorld, parseWorldItems, WorldId } from '../src/component/worlds.js';
import { at } from './helpers.js';

const A = readFileSync(at('wit/messaging-0.1.0-draft/messaging.wit'), 'utf8');
const B = readFileSync(at('wit/messaging-0.2.0-draft/messaging.wit'), 'utf8');

const worlds = [
  { wit: A, world: 'messaging', id: WorldId.seed },
  { wit: B, world: 'messaging-core', id: WorldId.core },
  { wit: B, world: 'messaging-request-reply', id: WorldId.requestReply },
] as const;

for (const { wit, world, id } of worlds) {
  test(`jco's wasm-tools parses the WIT of ${id} and a component of it is recognised`, async () => {
    // `dummy` makes wasm-tools generate a core module that imports and exports everything in
    // the world: a real component of that world, as any toolchain would produce it.
    const component = await componentNew(await componentEmbed({ witSource: wit, world, dummy: true }));
    const { imports, exports } = parseWorldItems(await componentWit(component));
    assert.equal(detectWorld(imports, exports, 'dummy').id, id);
  });
}

test('world A has the exact interfaces and names of SPEC.md', async () => {
  const component = await componentNew(await componentEmbed({ witSource: A, world: 'messaging', dummy: true }));
  const wit = await componentWit(component);
  const { imports, exports } = parseWorldItems(wit);
  assert.deepEqual(
    new Set(imports),
    new Set([
      'wasi:messaging/messaging-types@0.1.0-draft',
      'wasi:messaging/producer@0.1.0-draft',
      'wasi:messaging/consumer@0.1.0-draft',
    ]),
  );
  assert.deepEqual(exports, ['wasi:messaging/handler@0.1.0-draft']);
});

test('world B request-reply imports request-reply and exports incoming-handler', async () => {
  const component = await componentNew(
    await componentEmbed({ witSource: B, world: 'messaging-request-reply', dummy: true }),
  );
  const { imports, exports } = parseWorldItems(await componentWit(component));
  assert.ok(imports.includes('wasi:messaging/request-reply@0.2.0-draft'));
  assert.deepEqual(exports, ['wasi:messaging/incoming-handler@0.2.0-draft']);
});
