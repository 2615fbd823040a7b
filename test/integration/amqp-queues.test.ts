import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { AmqpAdapter, type AmqpAdapterOptions } from '../../src/brokers/amqp.js';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, examples, within } from '../helpers.js';

/**
 * AMQP input queues beyond the broker suite (RabbitMQ on 5672, as the integration tests use): a
 * queue made with arguments of its own, a queue deleted under a running consumer, and what a
 * paused consumer holds.
 */
const URL = process.env['WASMSG_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

function noopEngine(queue: string): Engine {
  return new Engine({
    brokers: [{ name: 'default', url: URL }],
    components: [{ path: examples.noop, subscriptions: [{ broker: 'default', channel: queue, kind: 'queue' }] }],
    workers: 1,
    cacheDir,
  });
}

describe('integration: amqp input queues', () => {
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;
  const queues: string[] = [];
  const name = (what: string): string => {
    const q = `wasmsg-${what}-${randomBytes(4).toString('hex')}`;
    queues.push(q);
    return q;
  };
  const send = async (queue: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
  };
  before(async () => {
    conn = await amqp.connect(URL);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    await conn.close();
  });

  test('a queue declared with arguments of its own (a quorum queue, a TTL) is consumed, not redeclared', async () => {
    // before: the consumer declared it again without them, which the server refuses
    // (PRECONDITION_FAILED, inequivalent arg): the start failed
    const quorum = name('quorum');
    const ttl = name('ttl');
    await ch.assertQueue(quorum, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue(ttl, { durable: true, arguments: { 'x-message-ttl': 600_000 } });
    for (const queue of [quorum, ttl]) {
      const engine = noopEngine(queue);
      await engine.start();
      try {
        await send(queue, 5);
        await within(engine.waitForSettled(5), 10_000, `5 messages of ${queue}`);
      } finally {
        await engine.stop();
      }
    }
  });

  test('a queue deleted under a running consumer: consumed again once it is back', async () => {
    const queue = name('deleted');
    const engine = noopEngine(queue);
    await engine.start();
    try {
      await send(queue, 3);
      await within(engine.waitForSettled(3), 10_000, 'the first 3');
      // the server cancels the consumer; before: nothing consumed the queue again
      await ch.deleteQueue(queue);
      await ch.assertQueue(queue, { durable: true });
      await send(queue, 3);
      await within(engine.waitForSettled(6), 15_000, 'the 3 sent after the queue was made again');
      assert.equal(engine.snapshot().processed, 6);
    } finally {
      await engine.stop();
    }
  });

  /**
   * A consumer paused from the start (nothing acked) over `n` messages of `bytes`: how many
   * deliveries the server handed it, once nothing is in transit (the queue's ready messages and
   * those delivered make `n`; past the first delivery, which is alone: see PrefetchSizer).
   */
  const heldWhilePaused = async (n: number, bytes: number, options: Record<string, unknown>): Promise<number> => {
    const queue = name('held');
    await ch.assertQueue(queue, { durable: true });
    const value = Buffer.alloc(bytes, 7);
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, value);
    await ch.waitForConfirms();
    const adapter = new AmqpAdapter({ name: 'default', url: `${URL}/${queue}`, ...options } as AmqpAdapterOptions);
    await adapter.connect();
    const delivered: BrokerRecord[] = [];
    try {
      const consumer = await adapter.subscribe({ channel: queue, kind: 'queue' }, (rs) => delivered.push(...rs));
      consumer.pause();
      const held = (): number => (consumer as unknown as { deliveries: { size: number } }).deliveries.size;
      await within(
        (async () => {
          for (;;) {
            const got = delivered.length + held();
            if (got >= 2 || got === n) {
              const ready = (await ch.checkQueue(queue)).messageCount;
              if (ready + delivered.length + held() === n) return;
            }
            await new Promise((r) => setTimeout(r, 20));
          }
        })(),
        20_000,
        `the deliveries of ${queue} arrived`,
      );
      return delivered.length + held();
    } finally {
      await adapter.close();
    }
  };

  test('a paused consumer holds about prefetchBytes of unacked deliveries, not prefetch × their size', async () => {
    // before: prefetch 1024 whatever the size: all 200 of 256 KiB (50 MiB) held, with 8 MiB asked for
    const budget = 8 << 20;
    const held = await heldWhilePaused(200, 256 * 1024, { prefetchBytes: budget });
    assert.ok(held * 256 * 1024 <= budget * 1.25 + 256 * 1024, `held ${held} deliveries of 256 KiB`);
    assert.ok(held >= 16, `held ${held}: the count follows the size, it does not stay at 1`);
    // small messages keep the count of before (1024: throughput), a fixed `prefetch` stays fixed
    assert.equal(await heldWhilePaused(1500, 100, {}), 1025, 'the first consumer (1), then 1024');
    assert.equal(await heldWhilePaused(200, 256 * 1024, { prefetch: 5 }), 5);
  });

  test('a topic subscriber keeps its queue while its prefetch count changes (a consumer made before the old one is cancelled)', async () => {
    // an exclusive auto-delete queue is deleted with its last consumer: cancelled first, the
    // topic's queue and what it held would be gone
    const exchange = name('topic');
    await ch.assertExchange(exchange, 'fanout', { durable: true });
    const adapter = new AmqpAdapter({ name: 'default', url: URL });
    await adapter.connect();
    const got: BrokerRecord[] = [];
    try {
      const consumer = await adapter.subscribe({ channel: exchange, kind: 'topic' }, (rs) => {
        for (const r of rs) {
          got.push(r);
          consumer.settle(r, 'ack');
        }
      });
      for (let i = 0; i < 300; i++) ch.publish(exchange, '', Buffer.from(`m${i}`));
      await ch.waitForConfirms();
      await within(
        (async () => {
          while (got.length < 300) await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        `300 messages (got ${got.length})`,
      );
      assert.deepEqual(
        got.map((r) => Buffer.from(r.value).toString()),
        Array.from({ length: 300 }, (_, i) => `m${i}`),
        'all, in order',
      );
      assert.ok((consumer as unknown as { prefetchCount: number }).prefetchCount > 1, 'the count changed');
    } finally {
      await adapter.close();
      await ch.deleteExchange(exchange).catch(() => {});
    }
  });
});
