import assert from 'node:assert/strict';
import { test } from 'node:test';
import { syntheticPayload } from '../../src/brokers/synthetic.js';

/** The format as documented: `fizz <i> ` for every third message, else `msg <i> `, then dots, cut at size. */
function expected(i: number, size: number): string {
  return `${i % 3 === 0 ? 'fizz' : 'msg'} ${i} ${'.'.repeat(size)}`.slice(0, size);
}

test('synthetic payloads: fizz/msg, the sequence number, dots; in sequence (carries included) and out of it', () => {
  const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
  // in sequence across every carry up to 100 000 (the digits are incremented, not recomputed)
  for (let i = 0; i <= 100_001; i++) assert.equal(text(syntheticPayload(i, 24)), expected(i, 24), `payload ${i}`);
  // out of sequence, repeated, and sizes that cut the prefix
  for (const i of [7, 7, 3, 999, 1000, 12_345_678_901, 42])
    for (const size of [0, 1, 3, 6, 12, 40]) assert.equal(text(syntheticPayload(i, size)), expected(i, size));
});
