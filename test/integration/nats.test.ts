import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect } from 'nats';
import { Engine } from '../../src/engine/engine.js';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { NatsAdapter } from '../../src/brokers/nats.js';
import { cacheDir, decode, examples, within } from '../helpers.js';
import { type TestBroker, natsBroker, runId } from './clients.js';
import { brokerEngine, brokerSuite } from './suite.js';

describe('integration: nats', () => brokerSuite(natsBroker, { n: 10_000, restartN: 2000, seq: true }));

describe('integration: nats, a quiet stream', () => {
  let tb: TestBroker;
  before(async () => {
    tb = await natsBroker();
  });
  after(async () => {
    await tb.close();
  });

  test(
    'a message is handed over when it arrives, not when the pull expires; stop ends the pull',
    { timeout: 60_000 },
    async () => {
      const subject = `wasmsg.${runId}.nats.quiet`;
      await tb.prepare(subject);
      // a pull that waits 10 minutes: the message must still reach the handler at once, and stop()
      // must not wait the pull out (the test runner's timeout would fail either)
      const e = brokerEngine(tb, 'quiet', subject, {
        group: `quiet-${runId}`,
        adapter: { fetchExpiresMs: 600_000 },
        extra: { workers: 1 },
      });
      try {
        await e.start();
        await tb.produce(subject, ['one']);
        await e.waitForSettled(1);
        await tb.produce(subject, ['two']);
        await e.waitForSettled(2);
      } finally {
        await e.stop();
        await tb.cleanup([subject, `${subject}.out`]);
      }
      assert.equal(e.snapshot().acked, 2);
    },
  );
});

describe('integration: nats, messages given back at a stop', () => {
  test(
    'messages given back (nack) while a pull is open are not redelivered into it: the next consumer gets them all at once, not after ackWaitMs',
    { timeout: 60_000 },
    async () => {
      const tb = await natsBroker();
      const subject = `wasmsg.${runId}.nats.giveback`;
      const u = new URL(tb.url);
      const nc = await natsConnect({ servers: `${u.hostname}:${u.port || 4222}`, reconnect: false });
      // a pull of 1024 that gets 1100 − 1024 = 76 messages stays open (60 s): as the engine's last pull
      // does when a run is stopped; an ack wait of 10 minutes, so a message left in that pull cannot
      // come back within the test
      const a = new NatsAdapter({
        name: 'default',
        url: tb.url,
        batch: 1024,
        fetchExpiresMs: 60_000,
        ackWaitMs: 600_000,
      });
      try {
        await tb.prepare(subject);
        await tb.produce(
          subject,
          Array.from({ length: 1100 }, (_, i) => `m${i}`),
        );
        await a.connect();
        const got: BrokerRecord[] = [];
        let all!: () => void;
        const arrived = new Promise<void>((r) => (all = r));
        const c = await a.subscribe({ channel: subject, kind: 'queue', group: 'giveback' }, (records) => {
          got.push(...records);
          if (got.length >= 1100) all();
        });
        await within(arrived, 20_000, 'the 1100 messages');
        // what engine.stop() does: pause, give back what was not handled, close
        c.pause();
        for (const r of got) c.settle(r, 'nack');
        await c.close();
        await a.close();
        const stream = await (await nc.jetstreamManager()).streams.find(subject);
        const again = await nc.jetstream().consumers.get(stream, 'giveback');
        const seqs = new Set<number>();
        for await (const m of await again.fetch({ max_messages: 1100, expires: 5000 })) {
          seqs.add(m.seq);
          m.ack();
        }
        // nats-server 2.9 may still put one message into the stopped pull (its subscriber gone,
        // which it finds out delivering); before, ≈ 600 of the 1100 went round in it and were lost there
        assert.ok(seqs.size >= 1099, `given back: 1100; fetched again at once: ${seqs.size}`);
      } finally {
        await a.close().catch(() => {});
        await nc.close();
        await tb.cleanup([subject]);
        await tb.close();
      }
    },
  );
});

describe('integration: core NATS, the events synthesised', () => {
  test(
    'a synthesised CloudEvents id is unique on its source: two runs on one subject never give two events the same id (fizzbuzz, world A)',
    { timeout: 60_000 },
    async () => {
      const base = process.env['WASMSG_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
      const u = new URL(base);
      const nc = await natsConnect({ servers: `${u.hostname}:${u.port || 4222}`, reconnect: false });
      const subject = `wasmsg.${runId}.core.ids`;
      const events: Array<{ value: string; id: string | undefined; source: string | undefined }> = [];
      let seen: () => void = () => {};
      // fizzbuzz publishes to `rust`: this run's outputs are told apart by their payload
      const sub = nc.subscribe('rust', {
        callback: (_err, m) => {
          const value = decode(m.data);
          if (!value.startsWith(`buzz ${runId} `)) return;
          events.push({ value, id: m.headers?.get('ce-id'), source: m.headers?.get('ce-source') });
          seen();
        },
      });
      try {
        for (const value of [`fizz ${runId} first`, `fizz ${runId} second`]) {
          const e = new Engine({
            brokers: [{ name: 'default', url: `nats-core://${u.host}` }],
            components: [
              { path: examples.fizzbuzz, subscriptions: [{ broker: 'default', channel: subject, kind: 'topic' }] },
            ],
            workers: 1,
            cacheDir,
          });
          await e.start();
          const published = new Promise<void>((resolve) => (seen = resolve));
          nc.publish(subject, new TextEncoder().encode(value));
          await e.waitForSettled(1);
          await within(published, 10_000, `the output of '${value}'`);
          await e.stop();
        }
      } finally {
        sub.unsubscribe();
        await nc.drain();
      }
      assert.deepEqual(
        events.map((e) => e.value),
        [`buzz ${runId} first`, `buzz ${runId} second`],
      );
      assert.equal(events[0]!.source, events[1]!.source, 'one subject, one source');
      assert.notEqual(events[0]!.id, events[1]!.id, `two events, one id: ${JSON.stringify(events)}`);
    },
  );
});
