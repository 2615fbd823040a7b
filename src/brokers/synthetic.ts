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

export function syntheticPayload(i: number, size: number): Uint8Array {
  const head = `${i % 3 === 0 ? 'fizz' : 'msg'} ${i} `;
  const bytes = new Uint8Array(Math.max(size, 0));
  for (let j = 0; j < bytes.length; j++) bytes[j] = j < head.length ? head.charCodeAt(j) : 0x2e; // '.'
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
