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
  /**
   * Records a partition may hold ahead of its slowest reader before the generator waits (default
   * 2048; the broker's retention when that is less). A generator that ran a whole retention
   * ahead (100 000 records a partition) kept its records alive until the engine reached them:
   * V8 copied and promoted every one, and collected them in the old generation — a third of the
   * main thread's GC and ≈ 25 % of the throughput of a noop run (PERF.md).
   */
  readonly lead?: number;
}

/** The generator's lead when none is given (records a partition). */
export const DEFAULT_LEAD = 2048;

/**
 * A producer's lead (records a partition) when it feeds an engine holding at most `mark` messages:
 * a partition's share of the mark, never less than DEFAULT_LEAD. Each of 4 partitions the whole
 * mark (8192) ahead ran 3–17 % slower than 2048 (PERF.md).
 */
export function leadFor(mark: number, partitions: number): number {
  return Math.max(DEFAULT_LEAD, Math.ceil(mark / Math.max(1, partitions)));
}

const encoder = new TextEncoder();
const CHUNK = 1 << 16;
let chunk = new Uint8Array(0);
let used = 0;

/**
 * Payloads are carved out of 64 KiB chunks (views, one backing store per chunk): a separate
 * small Uint8Array per message cost 13 % of the main thread in a 200k-message run.
 */
export function syntheticPayload(i: number, size: number): Uint8Array {
  size = Math.max(size, 0);
  if (used + size > chunk.length) {
    // dots throughout once per chunk: each payload then writes only its prefix
    chunk = new Uint8Array(Math.max(CHUNK, size)).fill(0x2e);
    used = 0;
  }
  const bytes = chunk.subarray(used, used + size);
  used += size;
  writePayload(bytes, i, 'dots');
  return bytes;
}

/**
 * Writes message i's payload prefix, `fizz <i> ` or `msg <i> `, into `bytes`, which hold dots
 * already: fresh (`dots`: a chunk or buffer filled once) or past an earlier payload's prefix
 * (`reused`: only the prefix's bytes are rewritten, not the whole payload — a second pass over
 * every big payload's memory otherwise).
 */
function writePayload(bytes: Uint8Array, i: number, from: 'dots' | 'reused'): void {
  const size = bytes.length;
  if (from === 'reused') bytes.fill(0x2e, 0, Math.min(size, PREFIX_MAX));
  // `fizz <i> ` / `msg <i> `, written byte by byte (a template string and encodeInto per
  // message showed in the main thread's profile)
  const word = i % 3 === 0 ? FIZZ : MSG;
  let at = 0;
  for (; at < word.length && at < size; at++) bytes[at] = word[at]!;
  const digits = decimal(i);
  for (let d = 0; d < digits.length && at < size; d++, at++) bytes[at] = digits[d]!;
  if (at < size) bytes[at] = 0x20;
}

/** The ASCII digits of the last number asked for, and that number. */
let lastDigits = new Uint8Array([48]);
let lastNumber = 0;

/**
 * The ASCII digits of i, as a view valid until the next call. Payloads are numbered in
 * sequence, so i is almost always the last number + 1: the digits are incremented in place (a
 * carry now and then) instead of divided out anew (≈ 12 divisions a message).
 */
function decimal(i: number): Uint8Array {
  if (i === lastNumber + 1) {
    let d = lastDigits.length - 1;
    while (d >= 0 && lastDigits[d] === 57) lastDigits[d--] = 48; // '9' → '0', carry
    if (d >= 0) lastDigits[d]!++;
    else {
      const longer = new Uint8Array(lastDigits.length + 1).fill(48);
      longer[0] = 49; // 99…9 + 1 = 100…0
      lastDigits = longer;
    }
  } else if (i !== lastNumber) lastDigits = encoder.encode(String(i));
  lastNumber = i;
  return lastDigits;
}

/** The longest prefix: `fizz ` + 16 digits + a space. */
const PREFIX_MAX = 22;
const FIZZ = encoder.encode('fizz ');
const MSG = encoder.encode('msg ');

/** The key strings of the last key count asked for, made once (not a template string per message). */
let keyNames: string[] = [];

/** Message i's key among `keys` distinct ones (`key-<i mod keys>`), or null for none (keys 0). */
export function syntheticKey(i: number, keys: number): string | null {
  if (keys <= 0) return null;
  if (keys > 100_000) return `key-${i % keys}`;
  if (keyNames.length !== keys) keyNames = Array.from({ length: keys }, (_, k) => `key-${k}`);
  return keyNames[i % keys]!;
}

/** Payloads this big get a buffer each, reused once the broker has dropped its record (a fresh MiB costs ≈ 2 ms of page faults here, 50× copying it). */
const RECYCLE_FROM = 16 * 1024;

/** Records between two reads of the clock for their timestamps: well under a millisecond of producing (≈ 0.3 µs a record here). */
const CLOCK_EVERY = 256;

export async function generate(broker: MemoryBroker, channel: string, opts: SyntheticOptions): Promise<void> {
  const keys = opts.keys ?? 0;
  const lead = opts.lead ?? DEFAULT_LEAD;
  const recycle = opts.size >= RECYCLE_FROM;
  const free: Uint8Array[] = [];
  const mine = new WeakSet<Uint8Array>();
  /** One record object, refilled for every message (produce copies what it keeps). */
  const rec: { key: string | null; value: Uint8Array; timestamp: number } = {
    key: null,
    value: new Uint8Array(0),
    timestamp: Date.now(),
  };
  // the records' timestamp (ms) read once every CLOCK_EVERY records and after every wait, not per
  // record: Date.now() took 56–75 ns here, as much as the rest of producing a record
  let clockIn = 0;
  if (recycle) broker.onRecordDropped((r) => void (mine.has(r.value) && free.push(r.value)));
  try {
    for (let i = 0; i < opts.count; i++) {
      let value: Uint8Array;
      if (recycle) {
        const old = free.pop();
        value = old ?? new Uint8Array(opts.size).fill(0x2e); // '.'
        mine.add(value);
        writePayload(value, i, old !== undefined ? 'reused' : 'dots');
      } else value = syntheticPayload(i, opts.size);
      // one record object, refilled: produce copies what it keeps (and is awaited before the next)
      rec.key = syntheticKey(i, keys);
      rec.value = value;
      if (--clockIn < 0) {
        rec.timestamp = Date.now();
        clockIn = CLOCK_EVERY;
      }
      if (broker.tryProduce(channel, rec, lead) === undefined) {
        await broker.produceWhenSpace(channel, rec, lead);
        clockIn = 0; // time passed while waiting
      }
    }
  } finally {
    if (recycle) broker.onRecordDropped(undefined);
  }
}
