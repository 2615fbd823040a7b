import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, captureStderr, examples } from '../helpers.js';

/**
 * Dead letters go to the input's broker by default. On MQTT and core NATS a message published to
 * a channel nobody reads at that moment is dropped by the broker, after confirming it (Mosquitto
 * PUBACKs a QoS 1 publish to a topic with no subscriber): a dead letter there is confirmed, its
 * input acked, and it is gone. The engine says so at start. (Before: nothing was said; with
 * err.wasm on Mosquitto, maxAttempts 1, a dead-letter reader connecting afterwards got nothing.)
 */

type Line = { level: number; component: string; msg: string; broker?: string };

/** Starts and stops an engine with these brokers (and a dead-letter broker), and returns the engine's warnings about dead letters. */
async function warningsAt(
  brokers: Array<{ name: string; url: string }>,
  subscribeTo: string,
  deadLetterBroker?: string,
): Promise<Line[]> {
  const channel = `wasmsg-dlq-warn-${randomBytes(4).toString('hex')}`;
  const { lines, release } = captureStderr();
  const engine = new Engine({
    workers: 1,
    cacheDir,
    brokers,
    components: [{ path: examples.noop, subscriptions: [{ broker: subscribeTo, channel }] }],
    deadLetter: { channel: `${channel}-dead`, ...(deadLetterBroker === undefined ? {} : { broker: deadLetterBroker }) },
  });
  try {
    await engine.start();
  } finally {
    release();
    await engine.stop();
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes(`${channel}-dead`))
    .map((l) => JSON.parse(l) as Line);
}

const mqtt = { name: 'mq', url: 'mqtt://127.0.0.1:1883/in' };
const natsCore = { name: 'core', url: 'nats-core://127.0.0.1:4222/in' };
const redis = { name: 'rd', url: 'redis://127.0.0.1:6379/in' };

test("dead letters on MQTT's own broker: one warning at start, naming the channel and deadLetter.broker", async () => {
  const w = await warningsAt([mqtt], 'mq');
  assert.equal(w.length, 1, JSON.stringify(w));
  assert.equal(w[0]!.level, 40, 'a warning');
  assert.equal(w[0]!.broker, 'mq');
  assert.match(w[0]!.msg, /an MQTT broker keeps no message for a topic no session subscribes to/);
  assert.match(w[0]!.msg, /set deadLetter\.broker to a broker that stores messages/);
});

test('dead letters on core NATS: the same warning', async () => {
  const w = await warningsAt([natsCore], 'core');
  assert.equal(w.length, 1, JSON.stringify(w));
  assert.match(w[0]!.msg, /core NATS keeps no message for a subject nobody subscribes to/);
});

test('MQTT input with deadLetter.broker on Redis (which keeps them): no warning', async () => {
  assert.deepEqual(await warningsAt([mqtt, redis], 'mq', 'rd'), []);
});

test('Redis input, its own broker for dead letters: no warning', async () => {
  assert.deepEqual(await warningsAt([redis], 'rd'), []);
});
