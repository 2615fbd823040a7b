import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { createBroker } from '../../src/brokers/connect.js';
import { type TestBroker, natsBroker, runId } from './clients.js';
import { brokerEngine, brokerSuite } from './suite.js';

describe('integration: nats', () => brokerSuite(natsBroker, { n: 10_000, restartN: 2000 }));

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

  test('a JetStream record carries its stream sequence as an integer too (seq)', { timeout: 60_000 }, async () => {
    const subject = `wasmsg.${runId}.nats.seq`;
    await tb.prepare(subject);
    await tb.produce(subject, ['a', 'b', 'c', 'd', 'e']);
    const adapter = await createBroker({ name: 'n', url: tb.url, options: tb.adapterOptions('seq') });
    await adapter.connect();
    const got: BrokerRecord[] = [];
    let wake: () => void = () => {};
    const all = new Promise<void>((r) => (wake = r));
    const consumer = await adapter.subscribe({ channel: subject, kind: 'queue', group: `seq-${runId}` }, (records) => {
      got.push(...records);
      for (const r of records) consumer.settle(r, 'ack');
      if (got.length >= 5) wake();
    });
    try {
      await all;
      for (const r of got) {
        const seq = (r as BrokerRecord & { seq?: number }).seq;
        assert.equal(typeof seq, 'number', `offset ${r.offset}: an integer seq`);
        assert.equal(seq, Number(r.offset), 'the same position as the offset string');
      }
    } finally {
      await consumer.close();
      await adapter.close();
      await tb.cleanup([subject]);
    }
  });
});
