import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { componentEmbed, componentNew, componentWit } from '@bytecodealliance/jco-transpile/wasm-tools';
import { detectWorld, parseWorldItems, WorldId } from '../src/component/worlds.js';
import { at } from './helpers.js';

const A = readFileSync(at('wit/messaging-0.1.0-draft/messaging.wit'), 'utf8');
const B = readFileSync(at('wit/messaging-0.2.0-draft/messaging.wit'), 'utf8');
const C = readFileSync(at('wit/messaging-c/messaging.wit'), 'utf8');
/** World C under its January 2024 label. */
const C010 = C.replaceAll('@0.2.0-draft', '@0.1.0');

const worlds = [
  { wit: A, world: 'messaging', id: WorldId.seed },
  { wit: B, world: 'messaging-core', id: WorldId.core },
  { wit: B, world: 'messaging-request-reply', id: WorldId.requestReply },
  { wit: C, world: 'messaging', id: WorldId.batch },
  { wit: C010, world: 'messaging', id: WorldId.batchV010 },
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

test('world C has the exact interfaces of SPEC.md, and its label is that of world B', async () => {
  const component = await componentNew(await componentEmbed({ witSource: C, world: 'messaging', dummy: true }));
  const { imports, exports } = parseWorldItems(await componentWit(component));
  assert.deepEqual(
    new Set(imports),
    new Set([
      'wasi:messaging/messaging-types@0.2.0-draft',
      'wasi:messaging/producer@0.2.0-draft',
      'wasi:messaging/consumer@0.2.0-draft',
    ]),
  );
  assert.deepEqual(exports, ['wasi:messaging/messaging-guest@0.2.0-draft']);
  assert.equal(detectWorld(imports, exports, 'dummy').family, 'c');
  // the same label, other interfaces: a world B component is still world B
  const b = await componentNew(await componentEmbed({ witSource: B, world: 'messaging-core', dummy: true }));
  const items = parseWorldItems(await componentWit(b));
  assert.equal(detectWorld(items.imports, items.exports, 'dummy').family, 'b');
});
