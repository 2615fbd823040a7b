import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Watermark } from '../../src/brokers/watermark.js';

test('watermark: out-of-order acks commit only up to the first offset not acked', () => {
  const w = new Watermark(10);
  assert.equal(w.ack(12), 10);
  assert.equal(w.ack(11), 10);
  assert.equal(w.ack(10), 13);
  assert.equal(w.ack(5), 13, 'an offset below the watermark changes nothing');
});

test('watermark: a gap (compaction, transaction markers) is passed, not waited at', () => {
  const w = new Watermark(0);
  // delivered: 0, 1, then 1 000 000 (a compacted hole of ~1M offsets), then 1 000 001
  w.skip(2, 1_000_000);
  assert.equal(w.ack(1_000_000), 0, 'earlier records still unacked');
  assert.equal(w.ack(0), 1);
  assert.equal(w.ack(1), 1_000_001, 'the hole and the acked record after it are passed at once');
  assert.equal(w.pendingAbove, 0);
  assert.equal(w.ack(1_000_001), 1_000_002);
});

test('watermark: a gap right at the watermark moves it at once; empty and stale gaps are ignored', () => {
  const w = new Watermark(5);
  assert.equal(w.skip(5, 9), 9);
  assert.equal(w.skip(3, 7), 9, 'below the watermark');
  assert.equal(w.skip(12, 12), 9, 'empty');
  w.skip(10, 20);
  assert.equal(w.ack(9), 20);
});
