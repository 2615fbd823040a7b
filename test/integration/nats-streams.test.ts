import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { connect } from 'nats';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { runId } from './clients.js';

/**
 * NATS JetStream streams (issue 10 item 10): a subject no stream stores gets `WASMSG_<subject>`
 * created; `createStreams: false` refuses it, for input and output alike. Against the server of
 * the integration tests (WASMSG_TEST_NATS_URL, default nats://127.0.0.1:4222).
 */

const url = process.env['WASMSG_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

describe('NATS: auto-created streams, createStreams: false', () => {
  test('an unknown subject: created by default, refused with createStreams: false', async () => {
    const subject = `wasmsg.streams.${runId}`;
    const strict = new NatsAdapter({ name: 'n', url, createStreams: false });
    await strict.connect();
    try {
      await assert.rejects(
        strict.subscribe({ channel: subject, kind: 'queue', group: 'g' }, () => {}),
        /no JetStream stream stores subject 'wasmsg\.streams\..*' \(createStreams: false/,
      );
      await assert.rejects(
        strict.publish([{ kind: 'topic', channel: `${subject}.out`, headers: {}, value: new Uint8Array([1]) }]),
      );
    } finally {
      await strict.close();
    }
    const loose = new NatsAdapter({ name: 'n', url });
    await loose.connect();
    const nc = await connect({ servers: url.replace(/^nats:\/\//, '') });
    try {
      const consumer = await loose.subscribe({ channel: subject, kind: 'queue', group: 'g' }, () => {});
      await consumer.close();
      const jsm = await nc.jetstreamManager();
      const name = await jsm.streams.find(subject);
      assert.match(name, /^WASMSG_/);
      // an existing stream is enough for createStreams: false
      const again = new NatsAdapter({ name: 'n', url, createStreams: false });
      await again.connect();
      const c2 = await again.subscribe({ channel: subject, kind: 'queue', group: 'g' }, () => {});
      await c2.close();
      await again.close();
      await jsm.streams.delete(name);
    } finally {
      await loose.close();
      await nc.close();
    }
  });
});
