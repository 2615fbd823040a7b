import type { MemoryBroker } from './memory.js';

/**
 * Synthetic input for benchmarks and demos: `count` records of `size` bytes with `keys`
 * distinct keys, produced into a channel of the embedded broker as fast as its retention lets
 * (it waits for consumers instead of failing). Every third payload starts with "fizz", so the
 * fizzbuzz example has something to do. Payloads carry their sequence number: a test can check
 * each arrived once.
 */
export interface SyntheticOptions {
  readonly count: number;
  readonly size: number;
  readonly keys?: number;
}

const encoder = new TextEncoder();
const CHUNK = 1 << 16;
let template = new Uint8Array(0);
let chunk = new Uint8Array(0);
let used = 0;

/**
 * Payloads are carved out of 64 KiB chunks (views, one backing store per chunk): a separate
 * small Uint8Array per message cost 13 % of the main thread in a 200k-message run.
 */
export function syntheticPayload(i: number, size: number): Uint8Array {
  size = Math.max(size, 0);
  if (template.length < size) template = new Uint8Array(size).fill(0x2e); // '.'
  if (used + size > chunk.length) {
    chunk = new Uint8Array(Math.max(CHUNK, size));
    used = 0;
  }
  const bytes = chunk.subarray(used, used + size);
  used += size;
  bytes.set(template.subarray(0, size));
  encoder.encodeInto(`${i % 3 === 0 ? 'fizz' : 'msg'} ${i} `, bytes);
  return bytes;
}

export async function generate(broker: MemoryBroker, channel: string, opts: SyntheticOptions): Promise<void> {
  const keys = opts.keys ?? 0;
  for (let i = 0; i < opts.count; i++) {
    const rec = { key: keys > 0 ? `key-${i % keys}` : null, value: syntheticPayload(i, opts.size), headers: {} };
    try {
      broker.produce(channel, rec);
    } catch {
      await broker.produceWhenSpace(channel, rec);
    }
  }
}
