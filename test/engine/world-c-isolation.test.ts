import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, decode, fixture, text } from '../helpers.js';

describe('engine: world C batch that fails as a whole', () => {
  for (const ordering of ['none', 'partition'] as const) {
    test(`a poison message is found and dead-lettered alone; its batch's other messages succeed (ordering ${ordering})`, async () => {
      // batch-script: 't' traps the whole handler call; 'n' does nothing (follows the call's result)
      const memory = new MemoryBroker({ name: 'default', partitions: 2 });
      const engine = new Engine(
        {
          components: [{ path: fixture('batch-script'), subscriptions: [{ channel: 'in' }] }],
          workers: 1,
          cacheDir,
          ordering,
          retries: { maxAttempts: 2, backoffMs: 1 },
          batch: { maxMessages: 16, lingerMs: 0 },
        },
        [memory],
      );
      const order: string[] = [];
      engine.on('settled', (e) => order.push(`${e.record.partition}:${decode(e.record.value)}`));
      await engine.start();
      const done = engine.waitForSettled(12);
      for (let i = 0; i < 12; i++)
        memory.produce('in', { value: text(`${i === 5 ? 't' : 'n'}${i}`), partition: i % 2 });
      await done;
      const s = engine.snapshot();
      await engine.stop();
      assert.deepEqual(
        memory.read('wasmsg.dead-letter').map((r) => decode(r.value)),
        ['t5'],
      );
      assert.equal(s.processed, 11);
      assert.equal(s.acked, 12);
      if (ordering === 'partition') {
        const odd = order.filter((o) => o.startsWith('1:')).map((o) => Number(o.slice(3)));
        assert.deepEqual(odd, [1, 3, 5, 7, 9, 11], 'partition 1 settled in order, the poison in its place');
      }
    });
  }

  test('a slow but correct batch handler whose batch outlasts handlerTimeoutMs: the batch is cut, no message is blamed', async () => {
    // batch-spin: ≈ 1.5–3 ms a message here, so the first batch (32 messages, its cost unknown)
    // runs past 30 ms; before, its first message was blamed each time and the messages were
    // dead-lettered one after another (17 of 40)
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      {
        components: [{ path: fixture('batch-spin') }],
        workers: 1,
        cacheDir,
        handlerTimeoutMs: 30,
        ordering: 'none',
        retries: { maxAttempts: 2, backoffMs: 1, maxBackoffMs: 5 },
      },
      [memory],
    );
    let settledBatches = 0;
    engine.on('settledBatch', () => settledBatches++);
    for (let i = 0; i < 40; i++) memory.produce('in', { value: text(`m${i}`) });
    await engine.start();
    await engine.waitForSettled(40);
    const s = engine.snapshot();
    await engine.stop();
    assert.ok(s.batches > settledBatches, `a batch timed out (sent ${s.batches}, settled ${settledBatches})`);
    assert.equal(s.deadLettered, 0);
    assert.equal(s.failed, 0);
    assert.equal(s.processed, 40);
  });
});
