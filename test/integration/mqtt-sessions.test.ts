import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import { MqttAdapter, QOS0_HELD_LIMIT } from '../../src/brokers/mqtt.js';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, examples, within } from '../helpers.js';

/**
 * MQTT delivery beyond the broker suite (Mosquitto on 1883, as the integration tests use): what a
 * publisher's QoS 0 gives, and what a stopped run leaves in a shared subscription's group.
 */
const URL = process.env['WASMSG_TEST_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883';

function noopEngine(channel: string, adapter: Record<string, unknown> = {}): Engine {
  return new Engine({
    brokers: [{ name: 'default', url: URL, options: adapter }],
    components: [{ path: examples.noop, subscriptions: [{ broker: 'default', channel, kind: 'queue', group: 'g' }] }],
    workers: 1,
    cacheDir,
  });
}

async function publish(channel: string, n: number, qos: 0 | 1): Promise<void> {
  const c = await mqtt.connectAsync(URL, { protocolVersion: 5, clientId: `pub-${randomBytes(4).toString('hex')}` });
  try {
    for (let i = 0; i < n; i++) await c.publishAsync(channel, `m${i}`, { qos });
  } finally {
    await c.endAsync();
  }
}

describe('integration: mqtt sessions and QoS', () => {
  test('messages published at QoS 0 reach the handler (before: mqtt.js handed them to no one)', async () => {
    const channel = `wasmsg-qos0-${randomBytes(4).toString('hex')}`;
    const engine = noopEngine(channel);
    await engine.start();
    try {
      await publish(channel, 5, 0);
      await publish(channel, 5, 1);
      await within(engine.waitForSettled(10), 10_000, '10 messages settled');
      assert.equal(engine.snapshot().processed, 10);
    } finally {
      await engine.stop();
    }
  });

  test('a stopped run with a generated client id leaves no session in the shared group: the next run gets every message', async () => {
    const channel = `wasmsg-share-${randomBytes(4).toString('hex')}`;
    const first = noopEngine(channel);
    await first.start();
    await first.stop();
    const second = noopEngine(channel);
    await second.start();
    try {
      await publish(channel, 10, 1);
      // before: the first run's session stayed in `$share/g/…` and took every other message
      await within(second.waitForSettled(10), 10_000, 'all 10 messages at the second run');
      assert.equal(second.snapshot().processed, 10);
    } finally {
      await second.stop();
    }
  });

  test("a run with a client id of the user's stopped after its messages settled: the next run (its session resumed) gets none of them again", async () => {
    const channel = `wasmsg-resume-${randomBytes(4).toString('hex')}`;
    const clientId = `wasmsg-resume-${randomBytes(4).toString('hex')}`;
    const first = noopEngine(channel, { clientId });
    await first.start();
    await publish(channel, 5, 1);
    await within(first.waitForSettled(5), 10_000, '5 messages settled at the first run');
    await first.stop();
    const second = noopEngine(channel, { clientId });
    const seen: string[] = [];
    second.on('settled', ({ record }) => seen.push(new TextDecoder().decode(record.value)));
    await second.start();
    try {
      // a session redelivers what it holds before anything new: had a PUBACK been lost, its
      // message would settle here before `after`
      const c = await mqtt.connectAsync(URL, { protocolVersion: 5 });
      await c.publishAsync(channel, 'after', { qos: 1 });
      await c.endAsync();
      await within(
        new Promise<void>((resolve) => second.on('settled', () => seen.includes('after') && resolve())),
        10_000,
        "'after' settled at the second run",
      );
      // before: the consumer's client was destroyed at stop (mqtt.js's end(true)) before its
      // PUBACKs left, and every message of the first run's last moments was handled again
      assert.deepEqual(seen, ['after']);
    } finally {
      await second.stop();
    }
  });

  test('while paused, at most QOS0_HELD_LIMIT QoS 0 messages are held; the rest are dropped (QoS 1 ones never)', async () => {
    const channel = `wasmsg-qos0-held-${randomBytes(4).toString('hex')}`;
    const adapter = new MqttAdapter({ name: 'default', url: `${URL}/${channel}` });
    await adapter.connect();
    let delivered = 0;
    let qos1 = 0;
    const consumer = await adapter.subscribe({ channel, kind: 'topic' }, (records) => {
      delivered += records.length;
      for (const r of records) if (new TextDecoder().decode(r.value) === 'marker') qos1++;
    });
    try {
      consumer.pause();
      await publish(channel, QOS0_HELD_LIMIT + 100, 0);
      const c = await mqtt.connectAsync(URL, { protocolVersion: 5 });
      await c.publishAsync(channel, 'marker', { qos: 1 });
      await c.endAsync();
      // the marker, after every QoS 0 one, is held too (past the limit: QoS 1 is never dropped)
      const held = (): number => (consumer as unknown as { deliveries: { size: number } }).deliveries.size;
      await within(
        (async () => {
          while (held() < QOS0_HELD_LIMIT + 1) await new Promise((r) => setTimeout(r, 20));
        })(),
        20_000,
        'the messages arrived',
      );
      consumer.resume();
      // before: all of them were held (50 000 × 1 KiB: 184 MB in a review's run)
      assert.equal(delivered, QOS0_HELD_LIMIT + 1);
      assert.equal(qos1, 1);
    } finally {
      await adapter.close();
    }
  });
});
