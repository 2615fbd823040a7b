import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrokerRecord, Consumer } from '../../src/brokers/adapter.js';
import { BrokerError, MemoryBroker } from '../../src/brokers/memory.js';
import { generate } from '../../src/brokers/synthetic.js';
import { ErrorCode } from '../../src/errors.js';
import { decode, text } from '../helpers.js';

/** Subscribes and collects deliveries; resolves `until(n)` once n records have arrived. */
async function collector(broker: MemoryBroker, spec: Parameters<MemoryBroker['subscribe']>[0]) {
  const got: BrokerRecord[] = [];
  let want = Infinity;
  let wake: () => void = () => {};
  const consumer: Consumer = await broker.subscribe(spec, (batch) => {
    got.push(...batch);
    if (got.length >= want) wake();
  });
  return {
    consumer,
    got,
    until: (n: number) =>
      new Promise<void>((resolve) => {
        want = n;
        wake = resolve;
        if (got.length >= n) resolve();
      }),
  };
}

describe('memory broker', () => {
  test("a batch takes a share of every partition with records, in each partition's order (not the first partition first)", async () => {
    const b = new MemoryBroker({ partitions: 4, maxBatch: 40 });
    for (let p = 0; p < 4; p++)
      for (let i = 0; i < 100; i++) b.produce('c', { partition: p, value: text(`${p}:${i}`) });
    const batches: Array<readonly BrokerRecord[]> = [];
    let wake: () => void = () => {};
    const done = new Promise<void>((r) => (wake = r));
    await b.subscribe({ channel: 'c', kind: 'queue', group: 'g' }, (batch) => {
      batches.push(batch);
      if (batches.reduce((n, x) => n + x.length, 0) >= 400) wake();
    });
    await done;
    const perPartition = (batch: readonly BrokerRecord[]) =>
      [0, 1, 2, 3].map((p) => batch.filter((r) => r.partition === p).length);
    assert.deepEqual(perPartition(batches[0]!), [10, 10, 10, 10], 'the first batch: 10 from each partition');
    const seen = new Map<number, number>();
    for (const r of batches.flat()) {
      const i = Number(decode(r.value).split(':')[1]);
      assert.equal(i, seen.get(r.partition) ?? 0, `partition ${r.partition} in order`);
      seen.set(r.partition, i + 1);
    }
  });

  test('queue: two consumers in one group split the partitions; topic: each subscriber gets everything', async () => {
    const b = new MemoryBroker({ partitions: 4 });
    const q1 = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    const q2 = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    const t1 = await collector(b, { channel: 'c', kind: 'topic' });
    const t2 = await collector(b, { channel: 'c', kind: 'topic' });
    for (let i = 0; i < 400; i++) b.produce('c', { key: `k${i}`, value: text(String(i)) });
    await Promise.all([t1.until(400), t2.until(400), new Promise<void>((r) => setImmediate(r))]);
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(q1.got.length + q2.got.length, 400);
    assert.ok(q1.got.length > 0 && q2.got.length > 0);
    const p1 = new Set(q1.got.map((r) => r.partition));
    assert.ok(
      q2.got.every((r) => !p1.has(r.partition)),
      'no partition is read by both members',
    );
    assert.equal(t1.got.length, 400);
    assert.equal(t2.got.length, 400);
  });

  test('a key always lands on the same partition; offsets grow per partition', () => {
    const b = new MemoryBroker({ partitions: 8 });
    const a = b.produce('c', { key: 'same', value: text('1') });
    const c = b.produce('c', { key: 'same', value: text('2') });
    assert.equal(a.partition, c.partition);
    assert.equal(Number(c.offset), Number(a.offset) + 1);
  });

  test('nack → redelivered; ack → committed up to the contiguous watermark', async () => {
    const b = new MemoryBroker({ partitions: 1 });
    const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    for (const v of ['a', 'b', 'c']) b.produce('c', { value: text(v) });
    await q.until(3);
    q.consumer.settle(q.got[2]!, 'ack');
    assert.deepEqual(b.committed('c', 'g'), [0], 'c acked but a, b not: nothing committable');
    q.consumer.settle(q.got[0]!, 'ack');
    assert.deepEqual(b.committed('c', 'g'), [1]);
    q.consumer.settle(q.got[1]!, 'nack');
    await q.until(4);
    assert.equal(decode(q.got[3]!.value), 'b');
    q.consumer.settle(q.got[3]!, 'ack');
    assert.deepEqual(b.committed('c', 'g'), [3]);
  });

  test('onRecordDropped: a record is reported once, only when every group committed past it', async () => {
    const b = new MemoryBroker({ partitions: 1 });
    const dropped: string[] = [];
    b.onRecordDropped((r) => dropped.push(decode(r.value)));
    const g1 = await collector(b, { channel: 'c', kind: 'queue', group: 'g1' });
    const g2 = await collector(b, { channel: 'c', kind: 'queue', group: 'g2' });
    for (const v of ['a', 'b', 'c']) b.produce('c', { value: text(v) });
    await Promise.all([g1.until(3), g2.until(3)]);
    g1.consumer.settle(g1.got[0]!, 'ack');
    g1.consumer.settle(g1.got[1]!, 'ack');
    assert.deepEqual(dropped, [], 'g2 has not acked anything: nothing may be reused');
    g2.consumer.settle(g2.got[1]!, 'ack');
    assert.deepEqual(dropped, [], "g2's 'a' is still unacked");
    g2.consumer.settle(g2.got[0]!, 'ack');
    assert.deepEqual(dropped, ['a', 'b']);
    g1.consumer.settle(g1.got[2]!, 'ack');
    g2.consumer.settle(g2.got[2]!, 'ack');
    assert.deepEqual(dropped, ['a', 'b', 'c'], 'each once');
  });

  test('a producer that outruns retention gets a clear error; produceWhenSpace waits instead', async () => {
    const b = new MemoryBroker({ partitions: 1, retention: 10 });
    const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    q.consumer.pause();
    for (let i = 0; i < 10; i++) b.produce('c', { value: text(String(i)) });
    assert.throws(
      () => b.produce('c', { value: text('11') }),
      (e: unknown) =>
        e instanceof BrokerError && e.code === ErrorCode.retention && /retention.*outran its consumers/.test(e.message),
    );
    const waiting = b.produceWhenSpace('c', { value: text('late') });
    q.consumer.resume();
    await q.until(10);
    q.consumer.settle(q.got[0]!, 'ack');
    await waiting;
    await q.until(11);
    assert.equal(decode(q.got[10]!.value), 'late');
  });

  test("a topic subscriber's group goes with it: the channel, read by no one again, keeps its newest records", async () => {
    const b = new MemoryBroker({ partitions: 1, retention: 10 });
    const t = await collector(b, { channel: 'c', kind: 'topic' });
    b.produce('c', { value: text('0') });
    await t.until(1);
    t.consumer.pause(); // what it was given and did not ack held the group's offsets back
    b.produce('c', { value: text('1') });
    await t.consumer.close();
    // before: its group stayed, at offset 0, and the 10th record unread by it was refused
    for (let i = 2; i < 100; i++) b.produce('c', { value: text(String(i)) });
    assert.deepEqual(
      b.read('c').map((r) => decode(r.value)),
      Array.from({ length: 10 }, (_, i) => String(90 + i)),
    );
    // a waiting producer is not left waiting either
    await b.produceWhenSpace('c', { value: text('late') });
  });

  test('a keyless record goes to the next partition with room when its turn is full; a keyed one waits for its own', async () => {
    const b = new MemoryBroker({ partitions: 2 });
    const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    q.consumer.pause();
    const lead = 2;
    // partition 0 full (2 unread), partition 1 empty
    for (let i = 0; i < 2; i++) b.produce('c', { partition: 0, value: text(`p0-${i}`) });
    const placed = [0, 1, 2].map((i) => b.tryProduce('c', { value: text(`k-${i}`) }, lead));
    assert.deepEqual(
      placed.map((r) => r?.partition),
      [1, 1, undefined],
      'two keyless records went to partition 1 (whatever their turn); with both full, the third is refused',
    );
    const keyed = b.tryProduce('c', { partition: 0, value: text('pinned') }, lead);
    assert.equal(keyed, undefined, 'a record for partition 0 is refused while 0 is full');
    // both full: a keyless record waits for room in either; acking in partition 1 frees it there
    const waiting = b.produceWhenSpace('c', { value: text('late') }, lead);
    q.consumer.resume();
    await q.until(4);
    q.consumer.settle(
      q.got.find((r) => r.partition === 1)!,
      'ack',
    );
    const late = await waiting;
    assert.equal(late.partition, 1, 'it went where room was made');
    await q.until(5);
    assert.deepEqual(
      q.got.map((r) => decode(r.value)).sort(),
      ['k-0', 'k-1', 'late', 'p0-0', 'p0-1'],
      'each record delivered once',
    );
  });

  test('many producers waiting for room: each record produced once, in its partition, no listener warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const b = new MemoryBroker({ partitions: 2, retention: 3 });
      const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
      q.consumer.pause();
      for (let p = 0; p < 2; p++)
        for (let i = 0; i < 3; i++) b.produce('c', { partition: p, value: text(`f${p}-${i}`) });
      // 40 producers blocked at once (an open-loop producer's sends; a broker-wide event with a
      // listener each warned past 10)
      const waiting = Array.from({ length: 40 }, (_, i) =>
        b.produceWhenSpace('c', { partition: i % 2, value: text(`w${i % 2}-${i}`) }),
      );
      q.consumer.resume();
      for (let acked = 0; acked < 46;) {
        await q.until(acked + 1);
        for (const r of q.got.slice(acked)) q.consumer.settle(r, 'ack');
        acked = q.got.length;
      }
      await Promise.all(waiting);
      const values = q.got.map((r) => decode(r.value));
      assert.equal(values.length, 46, 'no record twice');
      assert.equal(new Set(values).size, 46, 'each record once');
      for (const r of q.got)
        assert.equal(decode(r.value).charAt(1), String(r.partition), 'in the partition it asked for');
      await new Promise<void>((r) => setImmediate(r)); // warnings are emitted on a later tick
      assert.deepEqual(
        warnings.map((w) => w.message),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('the synthetic generator keeps at most `lead` records ahead of its slowest reader, then follows the acks', async () => {
    const b = new MemoryBroker({ partitions: 1 });
    const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    const done = generate(b, 'c', { count: 100, size: 16, lead: 10 });
    await q.until(10);
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
    assert.equal(b.read('c').length, 10, 'nothing acked: the generator waits at its lead (the retention is 100 000)');
    for (const r of q.got.slice(0, 5)) q.consumer.settle(r, 'ack');
    await q.until(15);
    assert.equal(b.read('c').length, 10, 'five acked, five more produced');
    // ack whatever has arrived, wait for the next delivery, until all 100 are here
    for (let acked = 5; acked < 100;) {
      for (const r of q.got.slice(acked)) q.consumer.settle(r, 'ack');
      acked = q.got.length;
      if (acked < 100) await q.until(acked + 1);
    }
    await done;
    assert.deepEqual(
      q.got.map((r) => Number(/\d+/.exec(decode(r.value))![0])),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  test("the synthetic generator's timestamps: read once per many records, and again after every wait for room", async () => {
    const b = new MemoryBroker({ partitions: 1 });
    const q = await collector(b, { channel: 'c', kind: 'queue', group: 'g' });
    const from = Date.now();
    const done = generate(b, 'c', { count: 100, size: 16, lead: 10 });
    // acked 10 at a time, each 20 ms after it arrived: the generator waits 9 times for room
    for (let acked = 0; acked < 100; acked += 10) {
      await q.until(acked + 10);
      await new Promise<void>((r) => setTimeout(r, 20));
      for (const r of q.got.slice(acked, acked + 10)) q.consumer.settle(r, 'ack');
    }
    await done;
    const to = Date.now();
    const stamps = q.got.map((r) => r.timestamp);
    for (let i = 1; i < stamps.length; i++)
      assert.ok(stamps[i]! >= stamps[i - 1]!, `record ${i} stamped before ${i - 1}`);
    assert.ok(
      stamps[0]! >= from && stamps[99]! <= to,
      `stamps within the run (${from}–${to}): ${stamps[0]}, ${stamps[99]}`,
    );
    // 100 records are fewer than the records between two clock reads: only the reads after the waits move it
    assert.ok(
      stamps[99]! - stamps[0]! >= 9 * 20 - 10,
      `the last record is stamped ${stamps[99]! - stamps[0]!} ms after the first`,
    );
  });

  test('pause stops deliveries until resume', async () => {
    const b = new MemoryBroker({ partitions: 1 });
    const q = await collector(b, { channel: 'c', kind: 'queue' });
    q.consumer.pause();
    b.produce('c', { value: text('x') });
    await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(q.got.length, 0);
    q.consumer.resume();
    await q.until(1);
  });
});
