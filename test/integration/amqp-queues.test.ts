import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, examples, within } from '../helpers.js';

/**
 * AMQP input queues beyond the broker suite (RabbitMQ on 5672, as the integration tests use): a
 * queue made with arguments of its own, and a queue deleted under a running consumer.
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
});
