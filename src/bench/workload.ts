import { performance } from 'node:perf_hooks';
import type { BrokerAdapter, OutRecord } from '../brokers/adapter.js';
import type { MemoryBroker } from '../brokers/memory.js';
import { syntheticKey } from '../brokers/synthetic.js';

/**
 * The messages of a bench run and how they are produced. Every payload carries the time it was
 * (meant to be) sent in its last 8 bytes (float64, ms since the epoch), so both sides — the
 * engine and the bare client — measure end-to-end latency the same way on every broker, headers
 * or not. With handler work the payload starts with the spin component's round count.
 */

/** ms since the epoch, sub-ms resolution, on this process's monotonic clock. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

const CHUNK = 1 << 20;
/** Payloads this big get a buffer each, recycled once settled (fresh big buffers cost page faults: 2 ms a MiB here, 50× a copy). */
const OWN_BUFFER = 16 * 1024;

export class Payloads {
  private chunk = new Uint8Array(0);
  private used = 0;
  /** The text each payload starts with, cut to what fits before the 8-byte stamp (once: no view per message). */
  private readonly head: Uint8Array;
  private readonly free: Uint8Array[] = [];
  private readonly mine = new WeakSet<Uint8Array>();

  constructor(
    private readonly size: number,
    rounds: number,
  ) {
    const prefix = new TextEncoder().encode(rounds > 0 ? `${rounds} ` : 'bench ');
    this.head = prefix.subarray(0, Math.max(0, size - 8));
  }

  /** A payload: small ones are views into a shared chunk (one allocation per MiB), big ones recycled buffers. */
  make(sentAt: number): Uint8Array {
    const size = this.size;
    if (size >= OWN_BUFFER) {
      let bytes = this.free.pop();
      if (bytes === undefined) {
        bytes = new Uint8Array(size).fill(0x2e);
        this.mine.add(bytes);
      }
      bytes.set(this.head);
      stamp(bytes, sentAt);
      return bytes;
    }
    if (this.used + size > this.chunk.length) {
      this.chunk = new Uint8Array(Math.max(CHUNK, size)).fill(0x2e); // '.'
      this.used = 0;
    }
    // written into the chunk byte by byte, then viewed: two TypedArray.set calls on a fresh view
    // cost more than the copies themselves at these sizes
    const chunk = this.chunk;
    const at = this.used;
    const head = this.head;
    for (let i = 0; i < head.length; i++) chunk[at + i] = head[i]!;
    stampAt(chunk, at + size, sentAt);
    this.used = at + size;
    return chunk.subarray(at, at + size);
  }

  /**
   * `bytes` was settled (or published): its buffer may carry another message. Ignores buffers not
   * made here. Every buffer is kept, so there are never more than the most messages in flight at once.
   */
  release(bytes: Uint8Array): void {
    // small payloads are never recycled: no WeakSet lookup per message for them
    if (bytes.length >= OWN_BUFFER && this.mine.has(bytes)) this.free.push(bytes);
  }
}

/** 8 bytes to build or read a float64 in, copied to or from the payload: no DataView per message. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

export function stamp(bytes: Uint8Array, sentAt: number): void {
  stampAt(bytes, bytes.length, sentAt);
}

/** Writes the send time into the 8 bytes of `buf` before `end`, byte by byte (no view made). */
function stampAt(buf: Uint8Array, end: number, sentAt: number): void {
  f64[0] = sentAt;
  for (let i = 0, at = end - 8; i < 8; i++) buf[at + i] = f64Bytes[i]!;
}

/** The send time a payload carries. */
export function sentAtOf(bytes: Uint8Array): number {
  const at = bytes.length - 8;
  for (let i = 0; i < 8; i++) f64Bytes[i] = bytes[at + i]!;
  return f64[0]!;
}

/** Message i's key among `keys` distinct ones: the synthetic generator's (`key-<i mod keys>`). */
export const keyOf = syntheticKey;

/**
 * Produces `total` messages: as fast as the broker takes them (`rate` 0), or at `rate` msgs/s on
 * a fixed schedule, each stamped with its intended send time, so a stall of the producer, the
 * broker or the engine shows as latency (coordinated omission corrected, as wrk2 does). The
 * producer runs in the measured process's main thread. `window` (MQTT, which keeps no backlog):
 * never more than `size` messages produced and not yet settled.
 */
export interface ProduceSpec {
  readonly total: number;
  readonly size: number;
  readonly keys: number;
  readonly rate: number;
  /** Where payloads come from (and go back to once settled). */
  readonly payloads: Payloads;
  readonly window?: { readonly size: number; readonly waitFor: (settled: number) => Promise<void> };
}

const STEP = 500;
const STEP_BYTES = 4 * 1024 * 1024;

export async function produce(sink: Sink, spec: ProduceSpec): Promise<void> {
  const payloads = spec.payloads;
  if (spec.rate > 0) return produceAtRate(sink, spec, payloads);
  // batches of at most STEP messages and STEP_BYTES: the producer holds ≤ 8 batches (big payloads stay bounded)
  const byBytes = Math.max(1, Math.floor(STEP_BYTES / Math.max(1, spec.size)));
  const step = Math.min(byBytes, spec.window === undefined ? STEP : Math.max(1, spec.window.size >> 2));
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < spec.total; i += step) {
    if (spec.window !== undefined) await spec.window.waitFor(i + step - spec.window.size);
    const now = epochNow();
    const n = Math.min(step, spec.total - i);
    const batch = newBatch(n);
    for (let k = 0; k < n; k++) {
      batch.keys[k] = keyOf(i + k, spec.keys);
      batch.values[k] = payloads.make(now);
    }
    pending.push(sink.send(batch));
    // a few batches in flight at once, as a producing client would
    if (pending.length >= 8) await pending.shift();
  }
  await Promise.all(pending);
}

async function produceAtRate(sink: Sink, spec: ProduceSpec, payloads: Payloads): Promise<void> {
  const interval = 1000 / spec.rate;
  const start = epochNow() + 5;
  const failures: unknown[] = [];
  const sends: Array<Promise<void>> = [];
  const step = Math.min(STEP, Math.max(1, Math.floor(STEP_BYTES / Math.max(1, spec.size))));
  const unconfirmed = sink.unconfirmed ?? 64;
  let i = 0;
  while (i < spec.total) {
    const due = Math.min(spec.total, Math.floor((epochNow() - start) / interval) + 1);
    // everything due now, in batches of at most STEP messages and STEP_BYTES; each stamped with
    // its own intended time, however late it goes out
    while (i < due) {
      if (spec.window !== undefined) await spec.window.waitFor(i + step - spec.window.size);
      // the broker is not waited for unless `unconfirmed` sends are, this one included (memory
      // stays bounded): 64, or 1 for the embedded broker with a lead (see memorySink) — the next
      // messages are made once the last are in
      while (sends.length >= unconfirmed) await sends.shift();
      const batch = newBatch(Math.min(due, i + step) - i);
      for (let k = 0; k < batch.keys.length; k++, i++) {
        batch.keys[k] = keyOf(i, spec.keys);
        batch.values[k] = payloads.make(start + i * interval);
      }
      sends.push(sink.send(batch).catch((e: unknown) => void failures.push(e)));
    }
    // sleep until the next message is due (at least 1 ms: no busy loop in the consumer's thread)
    const next = start + i * interval - epochNow();
    await new Promise<void>((r) => setTimeout(r, Math.max(1, Math.min(next, 50))));
  }
  await Promise.all(sends);
  if (failures.length > 0) throw failures[0];
}

/**
 * A step of produced messages as two columns, keys and payloads: no object per message (the
 * producer shares the engine's main thread, and what it allocates there is scavenged with the
 * engine's own objects).
 */
export interface ProducedBatch {
  readonly keys: Array<string | null>;
  readonly values: Uint8Array[];
}

const newBatch = (n: number): ProducedBatch => ({ keys: new Array(n), values: new Array(n) });

/** Where produced messages go: the embedded broker, or a broker adapter's publish. */
export interface Sink {
  send(batch: ProducedBatch): Promise<void>;
  /** The most sends a fixed-rate producer leaves unconfirmed before it waits for the oldest (default 64). */
  readonly unconfirmed?: number;
}

/**
 * Produces into the embedded broker. With `lead`, a partition holds at most that many records its
 * group has not committed, and a fixed-rate producer waits for room one send at a time.
 *
 * Why a fixed-rate run needs it: the embedded broker keeps its backlog in the measured process's
 * heap, where a real broker keeps it in its own. A run that fell behind at start (cold code on
 * every thread: PERF.md) had up to a retention of records a partition made and waiting — each a
 * payload view and a record object, young, copied by every scavenge (8–27 ms each) and promoted:
 * the engine then caught up more slowly still, or never. Messages not yet made cost nothing: the
 * producer makes them when there is room, each still stamped with its intended send time, so the
 * wait counts as latency just the same.
 */
export function memorySink(broker: MemoryBroker, channel: string, lead?: number): Sink {
  return {
    async send({ keys, values }) {
      // one record object per send, refilled: produce copies what it keeps, and a message waiting
      // for room is produced before the next is written in (sends run concurrently: not shared)
      const rec: { key: string | null; value: Uint8Array } = { key: null, value: values[0]! };
      for (let k = 0; k < keys.length; k++) {
        rec.key = keys[k]!;
        rec.value = values[k]!;
        if (broker.tryProduce(channel, rec, lead) === undefined) await broker.produceWhenSpace(channel, rec, lead);
      }
    },
    ...(lead === undefined ? {} : { unconfirmed: 1 }),
  };
}

/** Publishes through an adapter; once the broker confirmed them, the payloads' buffers are recycled. */
export function adapterSink(adapter: BrokerAdapter, channel: string, payloads: Payloads): Sink {
  return {
    async send({ keys, values }) {
      const records: OutRecord[] = values.map((value, k) => ({
        kind: 'queue',
        channel,
        key: keys[k]!,
        headers: {},
        value,
      }));
      await adapter.publish(records);
      for (const value of values) payloads.release(value);
    },
  };
}
