import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Outgoing,
  OUT_OF_BAND,
  columnBytes,
  readRequest,
  toInbound,
  writeRequest,
} from '../../src/codec/batch.js';
import { HDR_COUNT, HEADER_BYTES, Msg } from '../../src/codec/layout.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import type { MemoryRecord } from '../../src/brokers/memory-log.js';

/**
 * The request codec alone (main thread → worker, through a slot of shared memory): every field
 * of every message comes back as it went, whichever columns a batch needs (keys, headers, more
 * than one channel or broker) and wherever its payloads end up (packed tightly, congruent mod 8
 * for big ones, or in the msgpack when the slot has no room left).
 */

function slotOf(bytes: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(bytes));
}

function message(i: number, over: Partial<Outgoing['rec']> = {}, broker = 'default'): Outgoing {
  const value = new Uint8Array(10 + (i % 5));
  value.fill(i & 0xff);
  return {
    rec: {
      value,
      channel: 'in',
      partition: i % 4,
      offset: String(1000 + i),
      key: null,
      headers: {},
      timestamp: 1_700_000_000_000 + i + 0.5,
      ...over,
    },
    broker,
  };
}

function roundTrip(slot: Buffer, batch: Outgoing[], component = 0) {
  const lanes = batch.map((_, i) => (i % 3 === 0 ? -1 - i : 7));
  const written = writeRequest(slot, component, batch, (i) => lanes[i]!);
  const view = new Uint8Array(slot.buffer, slot.byteOffset, slot.length);
  const req = readRequest(view, written.length, written.inline);
  return { req, written, lanes };
}

function assertSame(batch: Outgoing[], req: ReturnType<typeof readRequest>, lanes: number[]): void {
  assert.equal(req.messages.length, batch.length);
  for (const [i, o] of batch.entries()) {
    const m = req.messages[i]!;
    const r = o.rec;
    assert.deepEqual([...m[Msg.payload]], [...r.value], `payload ${i}`);
    assert.equal(m[Msg.channel], r.channel);
    assert.equal(m[Msg.partition], r.partition);
    assert.equal(String(m[Msg.offset]), r.offset, `offset ${i}`);
    assert.equal(toInbound(m).offset, r.offset, `offset ${i} as the handler's message has it`);
    assert.equal(m[Msg.key], r.key);
    assert.deepEqual({ ...m[Msg.headers] }, { ...r.headers }, `headers ${i}`);
    assert.equal(m[Msg.timestamp], r.timestamp);
    assert.equal(m[Msg.lane], lanes[i]);
    assert.equal(m[Msg.broker], o.broker);
  }
}

describe('request codec (columns in the slot)', () => {
  test('a plain batch: no keys or headers, one channel and broker; the count is in the header', () => {
    const batch = Array.from({ length: 300 }, (_, i) => message(i));
    const slot = slotOf(1 << 20);
    const { req, written, lanes } = roundTrip(slot, batch, 3);
    assert.equal(written.inline, undefined);
    assert.equal(req.component, 3);
    assert.equal(new Int32Array(slot.buffer, 0, HEADER_BYTES / 4)[HDR_COUNT], 300);
    assertSame(batch, req, lanes);
    assert.ok(req.end > columnBytes(300) && req.end < 1 << 20);
  });

  test("an embedded broker's records cross as their integer position and stay one (the handler's message has the string)", () => {
    const broker = new MemoryBroker({ partitions: 2 });
    const made = Array.from({ length: 7 }, (_, i) => broker.produce('c', { value: new Uint8Array([i]) }));
    const batch = broker.read('c').map((rec) => ({ rec, broker: 'default' }));
    assert.equal(batch.length, 7);
    const { req, lanes } = roundTrip(slotOf(1 << 16), batch);
    assertSame(batch, req, lanes); // offset strings equal, although the slot held integers
    assert.deepEqual(
      req.messages.map((m) => m[Msg.offset]),
      batch.map((o) => (o.rec as MemoryRecord).seq),
      'integers in the worker: the bindings write their digits',
    );
    assert.deepEqual(new Set(batch.map((o) => o.rec.offset)), new Set(made.map((m) => m.offset)));
    // mixed in one batch with a broker's plain records (string offsets)
    const mixed = [...batch.slice(0, 3), message(1), message(2)];
    const again = roundTrip(slotOf(1 << 16), mixed);
    assertSame(mixed, again.req, again.lanes);
    // the record as JSON keeps its offset (it is a getter on the embedded broker's records)
    assert.equal(JSON.parse(JSON.stringify(batch[3]!.rec)).offset, batch[3]!.rec.offset);
  });

  test('keys, headers (some messages without, one with a __proto__ name), several channels and brokers', () => {
    const batch = Array.from({ length: 50 }, (_, i) =>
      message(
        i,
        {
          channel: i % 2 === 0 ? 'in' : 'orders/eu',
          key: i % 3 === 0 ? null : `k-${i}`,
          headers:
            i % 4 === 0 ? {} : i === 5 ? JSON.parse('{"__proto__":"x","a":"1"}') : { trace: `t${i}`, ce_id: `${i}` },
        },
        i % 5 === 0 ? 'kafka' : 'default',
      ),
    );
    const { req, lanes } = roundTrip(slotOf(1 << 20), batch);
    assertSame(batch, req, lanes);
    assert.equal(Object.keys(req.messages[5]![Msg.headers]).includes('__proto__'), true, '__proto__ kept as data');
  });

  test('a message without headers gets an empty object it cannot change another message through', () => {
    const { req } = roundTrip(slotOf(1 << 16), [message(1), message(2)]);
    const a = req.messages[0]![Msg.headers];
    assert.deepEqual({ ...a }, {});
    assert.throws(() => {
      'use strict';
      (a as Record<string, string>)['x'] = 'y';
    }, TypeError);
    assert.equal(req.messages[1]![Msg.headers]['x'], undefined);
  });

  test('big payloads land congruent mod 8 with their source; what does not fit the slot goes in the msgpack, inline', () => {
    const backing = new Uint8Array(400_000);
    for (let b = 0; b < backing.length; b++) backing[b] = (b * 13) & 0xff;
    const sizes = [OUT_OF_BAND - 1, OUT_OF_BAND, 5000, 100_000, 150_000];
    const batch = sizes.map((size, i) => message(i, { value: backing.subarray(i + 1, i + 1 + size) }));
    const slot = slotOf(200_000); // room for some: the 150 000-byte payload does not fit
    const { req, written, lanes } = roundTrip(slot, batch);
    assert.ok(written.inline !== undefined, 'the msgpack holding the big payload went inline');
    assertSame(batch, req, lanes);
    for (const [i, size] of sizes.entries()) {
      const p = req.messages[i]![Msg.payload];
      if (p.buffer !== slot.buffer || size < OUT_OF_BAND) continue;
      assert.equal((p.byteOffset - batch[i]!.rec.value.byteOffset) % 8, 0, `payload ${i} congruent mod 8`);
    }
  });

  test('the slot is written anew each batch: a smaller batch after a bigger one reads only its own', () => {
    const slot = slotOf(1 << 18);
    roundTrip(
      slot,
      Array.from({ length: 200 }, (_, i) => message(i, { key: `k${i}`, headers: { h: 'v' } })),
    );
    const small = [message(900), message(901)];
    const { req, lanes } = roundTrip(slot, small);
    assertSame(small, req, lanes);
  });
});
