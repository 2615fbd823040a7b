import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
