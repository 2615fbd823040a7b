import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Engine, ErrorCode, OptionError, createBroker } from '../../src/index.js';
import { cacheDir, examples } from '../helpers.js';
import { redisBroker, runId } from './clients.js';

// The package's own entry (src/index.ts), as a program importing wasmsg reaches it: before, the
// docs said a program could make an adapter itself (`new RedisAdapter({...})`), but the package
// exported no adapter and no way to make one, so `new Engine(options, [adapter])` could take the
// embedded broker only.
describe('createBroker, from the package entry', () => {
  const stream = `${runId}-create-broker`;
  const broker = redisBroker();
  after(async () => {
    const b = await broker;
    await b.cleanup([stream]);
    await b.close();
  });

  test('refuses a bad option with an OptionError naming it', async () => {
    const b = await broker;
    await assert.rejects(
      createBroker({ name: 'r', url: `${b.url}/${stream}`, options: { claimIdleMs: -5 } }),
      (err: unknown) =>
        err instanceof OptionError && err.code === ErrorCode.badOption && /claimIdleMs/.test(err.message),
    );
  });

  test('makes an adapter the engine consumes through: every message acknowledged on the broker', async () => {
    const b = await broker;
    const adapter = await createBroker({ name: 'r', url: `${b.url}/${stream}`, options: { consumer: 'c1' } });
    const group = `${stream}-g`;
    const engine = new Engine(
      {
        components: [{ path: examples.noop, subscriptions: [{ broker: 'r', channel: stream, group }] }],
        workers: 1,
        cacheDir,
      },
      [adapter],
    );
    await engine.start();
    try {
      await b.produce(stream, ['a', 'b', 'c']);
      await engine.waitForSettled(3);
      assert.equal(engine.snapshot().acked, 3);
    } finally {
      await engine.stop();
      await adapter.close();
    }
    // acknowledged on the server: the group holds nothing pending
    const client = new Redis(b.url);
    try {
      const [pending] = (await client.xpending(stream, group)) as [number, ...unknown[]];
      assert.equal(pending, 0);
    } finally {
      client.disconnect();
    }
  });
});
