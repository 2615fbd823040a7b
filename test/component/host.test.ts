import assert from 'node:assert/strict';
import { test } from 'node:test';
import { worldAImports } from '../../src/component/host-a.js';
import { worldBImports } from '../../src/component/host-b.js';
import { HostState, MAX_SUBSCRIPTIONS } from '../../src/component/host-state.js';

// The host imports called as jco calls them, for the paths no example component exercises.

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
};

test('world A consumer: subscribe returns a token, unsubscribe takes it once; grants apply', () => {
  const state = new HostState({ brokers: ['default'], grants: { subscribe: ['orders.*'] } });
  const imports = worldAImports(state) as unknown as {
    'wasi:messaging/messaging-types': { Broker: { open(n: string): object } };
    'wasi:messaging/consumer': { subscribe(b: object, c: object): string; unsubscribe(b: object, t: string): void };
  };
  const broker = imports['wasi:messaging/messaging-types'].Broker.open('default');
  const { subscribe, unsubscribe } = imports['wasi:messaging/consumer'];
  const token = subscribe(broker, { tag: 'queue', val: 'orders.eu' });
  assert.equal(typeof token, 'string');
  assert.deepEqual(state.subscriptions.get(token), { broker: 'default', kind: 'queue', channel: 'orders.eu' });
  unsubscribe(broker, token);
  assert.equal(state.subscriptions.size, 0);
  assert.deepEqual(
    thrown(() => unsubscribe(broker, token)),
    { tag: 'other', val: `unknown subscription token '${token}' on broker 'default'` },
  );
  assert.deepEqual(
    thrown(() => subscribe(broker, { tag: 'topic', val: 'payments' })),
    {
      tag: 'permission-denied',
      val: "not granted subscribe to 'payments' on broker 'default'",
    },
  );
});

test('world B request-reply answers other("not supported ...") as a variant, never a JS error', () => {
  const host = worldBImports(new HostState({ brokers: ['default'] }));
  const rr = host.imports['wasi:messaging/request-reply'] as {
    request(): unknown;
    RequestOptions: new () => { setTimeoutMs(n: number): void };
  };
  const e = thrown(() => rr.request()) as { tag: string; val: string };
  assert.ok(!(e instanceof Error));
  assert.equal(e.tag, 'other');
  assert.match(e.val, /^not supported/);
  new rr.RequestOptions().setTimeoutMs(5);
});

test('a host failure inside an import becomes other("host error: ..."), not a throw into the guest', () => {
  const state = new HostState({ brokers: ['default'] });
  const imports = worldAImports(state) as unknown as {
    'wasi:messaging/producer': { publish(b: object, c: object, e: object): void };
  };
  // a null broker handle makes the import body fail with a TypeError inside the host
  const e = thrown(() =>
    imports['wasi:messaging/producer'].publish(null as unknown as object, { tag: 'topic', val: 't' }, {}),
  );
  assert.equal((e as { tag: string }).tag, 'other');
  assert.match((e as { val: string }).val, /^host error: /);
});

test('world A subscribe: an instance keeps at most MAX_SUBSCRIPTIONS tokens, the oldest dropped (a guest subscribing on every message grew without bound)', () => {
  const state = new HostState({ brokers: ['default'] });
  const tokens: string[] = [];
  for (let i = 0; i < MAX_SUBSCRIPTIONS + 10; i++) tokens.push(state.subscribe('default', 'queue', `c${i}`));
  assert.equal(state.subscriptions.size, MAX_SUBSCRIPTIONS);
  assert.equal(state.subscriptions.has(tokens[0]!), false);
  assert.equal(state.subscriptions.has(tokens[9]!), false);
  assert.equal(state.subscriptions.get(tokens[10]!)?.channel, 'c10');
  assert.equal(state.subscriptions.get(tokens.at(-1)!)?.channel, `c${MAX_SUBSCRIPTIONS + 9}`);
});
