import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerRecord } from '../../src/brokers/adapter.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Payloads, keyOf, memorySink, produce, sentAtOf } from '../../src/bench/workload.js';

/**
 * The bench's producer into the embedded broker, alone: its sends run concurrently (up to 8 in
 * flight) and wait for room in the broker, so a message that waits must still be the one
 * produced when room comes — under a retention small enough that every send waits.
 */
describe('bench workload: producing into the embedded broker', () => {
  test('every message arrives once, with its own key and payload, while sends wait for room', async () => {
    const total = 5000;
    const keys = 7;
    const memory = new MemoryBroker({ name: 'default', partitions: 4, retention: 50 });
    const seen = new Map<number, BrokerRecord>();
    let waited = false;
    const consumer = await memory.subscribe({ channel: 'in', kind: 'queue', group: 'g' }, (records) => {
      // acked a macrotask later: the producer meets full partitions and waits for room
      setImmediate(() => {
        for (const r of records) {
          const at = sentAtOf(r.value);
          assert.ok(!seen.has(at), `message sent at ${at} arrived twice`);
          seen.set(at, r);
        }
        consumer.ackAll!(records);
      });
    });
    const produceWhenSpace = memory.produceWhenSpace.bind(memory);
    memory.produceWhenSpace = (...args) => ((waited = true), produceWhenSpace(...args));
    // every message stamped with its own send time (its index), so each is told apart
    const payloads = new Payloads(32, 0);
    const stamps: number[] = [];
    const make = payloads.make.bind(payloads);
    payloads.make = () => {
      stamps.push(stamps.length);
      return make(stamps.length - 1);
    };
    await produce(memorySink(memory, 'in'), { total, size: 32, keys, rate: 0, payloads });
    while (seen.size < total) await new Promise((r) => setImmediate(r));
    await consumer.close();
    assert.ok(waited, 'the producer waited for room (the case under test)');
    assert.equal(seen.size, total);
    for (let i = 0; i < total; i++) assert.equal(seen.get(i)?.key, keyOf(i, keys), `message ${i}'s key`);
  });

  test('at a fixed rate with a lead, a partition never holds more than the lead uncommitted, and nothing is lost', async () => {
    const total = 3000;
    const lead = 64;
    const memory = new MemoryBroker({ name: 'default', partitions: 2 });
    const seen = new Set<number>();
    let most = 0;
    let madeAhead = 0;
    let made = 0;
    let acked = 0;
    const consumer = await memory.subscribe({ channel: 'in', kind: 'queue', group: 'g' }, (records) => {
      // what the partitions hold uncommitted now (read() gives what no group has committed past)
      const held = [0, 0];
      for (const r of memory.read('in')) held[r.partition]!++;
      most = Math.max(most, ...held);
      madeAhead = Math.max(madeAhead, made - acked);
      // acked 5 ms later: slower than the producer, which must wait for room
      setTimeout(() => {
        for (const r of records) {
          const at = sentAtOf(r.value);
          assert.ok(!seen.has(at), `message sent at ${at} arrived twice`);
          seen.add(at);
        }
        consumer.ackAll!(records);
        acked += records.length;
      }, 5);
    });
    const payloads = new Payloads(32, 0);
    const make = payloads.make.bind(payloads);
    payloads.make = (sentAt) => (made++, make(sentAt));
    await produce(memorySink(memory, 'in', lead), { total, size: 32, keys: 0, rate: 100_000, payloads });
    while (seen.size < total) await new Promise((r) => setTimeout(r, 5));
    await consumer.close();
    assert.equal(seen.size, total);
    assert.equal(most, lead, 'a partition filled up to the lead (the case under test) and no further');
    // messages are made when they can be sent: at most the partitions' leads and one send ahead
    assert.ok(madeAhead <= 2 * lead + 500, `${madeAhead} payloads made ahead of the acks`);
  });
});
