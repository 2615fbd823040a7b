import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEY_HEADER, KeyHeaderDrops, headersOut } from '../../src/brokers/key-header.js';
import { captureStderr } from '../helpers.js';

/**
 * key-header.ts without a server (the brokers' part: integration/key-header.test.ts,
 * faults/adapters.test.ts): the warning for an output's own `wasmsg-key` header is bounded.
 */

test("an output's own `wasmsg-key` is told once per channel, for a bounded number of channels (a handler may publish to endless ones)", () => {
  const why = 'NATS has no message key';
  const drops = new KeyHeaderDrops('b', { kind: 'nats', url: 'nats://127.0.0.1:4222', why }, 3);
  const rule = { prefix: 'ce-', keyHeader: drops };
  const record = (i: number): { channel: string; headers: Record<string, string>; key: string | null } => ({
    channel: `c${i % 5}`,
    headers: { [KEY_HEADER]: 'forged', ce_id: '1' },
    key: i % 2 === 0 ? null : 'k',
  });
  const { lines, release } = captureStderr();
  let out: Array<Record<string, string>>;
  try {
    out = Array.from({ length: 12 }, (_, i) => headersOut(record(i), rule));
  } finally {
    release();
  }
  const told = lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes("broker 'b'"))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.equal(told.length, 3, told.join('\n'));
  assert.match(told[0]!, /^broker 'b', channel 'c0': .* \(said once per channel\)$/);
  assert.match(told[1]!, /^broker 'b', channel 'c1': /);
  assert.match(
    told[2]!,
    /^broker 'b', channel 'c2': .* \(said once per channel; channel 3 told of, the last: no more will be\)$/,
  );
  // every output still goes out, with the record's key only
  assert.deepEqual(out[0], { 'ce-id': '1' });
  assert.deepEqual(out[11], { 'ce-id': '1', [KEY_HEADER]: 'k' });
});
