import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BrokerError, MemoryBroker } from '../../src/brokers/memory.js';
import { ErrorCode, OptionError } from '../../src/errors.js';

/**
 * Issue 12, finding 4 (the embedded broker's part): retention counts bytes as well as records,
 * so outputs of a channel nobody reads — or one big record after another — cannot grow the
 * host's memory past `retentionBytes` per partition.
 */

const MiB = 1024 * 1024;
const bytes = (n: number): Uint8Array => new Uint8Array(n);

describe('fault: memory broker retention in bytes', () => {
  test('a channel nobody reads keeps at most retentionBytes (50 MB outputs with a retention of 5 records)', async () => {
    const b = new MemoryBroker({ retention: 5, retentionBytes: 64 * MiB });
    for (let i = 0; i < 6; i++)
      await b.publish([{ kind: 'topic', channel: 'unread', headers: {}, value: bytes(50 * MiB) }]);
    assert.equal(b.read('unread').length, 1, 'one 50 MB record fits in 64 MiB, two do not');
    assert.ok(b.retainedBytes('unread') <= 64 * MiB);
    for (let i = 0; i < 100; i++) b.produce('unread', { value: bytes(1024) });
    assert.equal(b.read('unread').length, 5, 'and never more than `retention` records');
  });

  test('with a group behind, a producer past retentionBytes is refused (E_RETENTION); produceWhenSpace waits', async () => {
    const b = new MemoryBroker({ retentionBytes: 10_000 });
    const got: number[] = [];
    const c = await b.subscribe({ channel: 'c', kind: 'queue', group: 'g' }, (records) => {
      for (const r of records) got.push(Number(r.offset));
    });
    c.pause();
    for (let i = 0; i < 9; i++) b.produce('c', { value: bytes(1000) });
    assert.throws(
      () => b.produce('c', { value: bytes(1001) }),
      (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.retention && /retentionBytes/.test(e.message),
    );
    await assert.rejects(
      b.publish([{ kind: 'queue', channel: 'c', headers: {}, value: bytes(2000) }]),
      (e: unknown) => e instanceof BrokerError && e.code === ErrorCode.retention,
      'publish rejects (never throws)',
    );
    const waiting = b.produceWhenSpace('c', { value: bytes(5000) });
    c.resume();
    while (got.length < 9) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++)
      c.settle(
        { channel: 'c', partition: 0, offset: String(i), key: null, headers: {}, value: bytes(0), timestamp: 0 },
        'ack',
      );
    const placed = await waiting;
    assert.equal(placed.offset, '9');
  });

  test('a record larger than retentionBytes is refused at once, also by produceWhenSpace', async () => {
    const b = new MemoryBroker({ retentionBytes: 1000 });
    await b.subscribe({ channel: 'c', kind: 'queue' }, () => {});
    assert.throws(() => b.produce('c', { value: bytes(1001) }), /larger than its retentionBytes/);
    await assert.rejects(b.produceWhenSpace('c', { value: bytes(1001) }), /larger than its retentionBytes/);
    assert.throws(() => b.produce('nobody', { value: bytes(999), headers: { 'x-big': 'x'.repeat(10) } }), BrokerError);
  });

  test('options are bounded, with the field named', () => {
    // (the embedded broker's options are checked by the schema every adapter's are checked by,
    // brokers/adapter-options.ts; before, by its own code: "memory broker 'default': retentionBytes
    // must be an integer from 1 to …")
    for (const [field, value, said] of [
      ['retentionBytes', 0, 'must be at least 1 byte'],
      ['retention', -1, 'must be at least 1 record'],
      ['partitions', 1e9, 'must be from 1 to 65536 partitions'],
      ['maxBatch', 1.5, 'must be a whole number of records'],
      ['retentionBytes', '64MB', 'must be a number, got the string "64MB"'],
    ] as const) {
      assert.throws(
        () => new MemoryBroker({ [field]: value } as never),
        (e: unknown) =>
          e instanceof OptionError &&
          e.code === ErrorCode.badOption &&
          e.context['option'] === `brokers.default.options.${field}` &&
          e.message === `broker 'default': brokers.default.options.${field}: ${said}`,
      );
    }
  });
});
