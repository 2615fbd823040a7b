import type { BrokerRecord, SequencedRecord } from './adapter.js';

/**
 * The embedded broker's storage (brokers/memory.ts): one partition's append-only log of records
 * with their byte accounting, trimmed from the front once every group has committed past a
 * record, or by retention when nobody reads. Knows nothing of groups or consumers
 * (brokers/memory-groups.ts).
 */

/** A record as a producer gives it to the embedded broker. */
export interface Produce {
  readonly key?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly value: Uint8Array;
  readonly partition?: number;
  readonly timestamp?: number;
}

/** Neither key nor partition: the broker may put it in any partition (see MemoryBroker.place). */
export function isKeyless(rec: Produce): boolean {
  return rec.partition === undefined && (rec.key === undefined || rec.key === null);
}

/** What a record costs the broker's memory, in bytes (payload bytes + characters of key and headers). */
export function recordBytes(rec: Produce): number {
  let n = rec.value.byteLength + (rec.key?.length ?? 0);
  const h = rec.headers;
  if (h !== undefined) for (const k in h) n += k.length + (h[k]?.length ?? 0);
  return n;
}

/**
 * A record of the embedded broker. Its offset is its integer position, `seq`; the string the
 * BrokerRecord contract asks for is made when `offset` is read. A string made per record
 * produced (String(offset)) went through V8's number-to-string cache, which keeps the last 16k
 * of them alive: every scavenge of the main thread copied them — a quarter of its pause at
 * 100k msgs/s (PERF.md). The engine sends and acknowledges `seq` itself.
 */
export class MemoryRecord implements SequencedRecord {
  constructor(
    readonly channel: string,
    readonly partition: number,
    readonly seq: number,
    readonly key: string | null,
    readonly headers: Readonly<Record<string, string>>,
    readonly value: Uint8Array,
    readonly timestamp: number,
  ) {}

  get offset(): string {
    return String(this.seq);
  }

  /** As a plain record (JSON has no getters): the offset included. */
  toJSON(): BrokerRecord {
    const { channel, partition, offset, key, headers, value, timestamp } = this;
    return { channel, partition, offset, key, headers, value, timestamp };
  }
}

export class Partition {
  /**
   * A ring of the retained records: offset o lives at `o & mask`, for base ≤ o < end. It grows
   * (doubling) only when more records are retained than it holds, so in a steady state nothing
   * is reallocated: an array that kept being sliced and regrown (the log before) was young and
   * live at every scavenge — most of what the main thread's young generation copied and promoted.
   */
  private records: Array<BrokerRecord | undefined> = new Array<BrokerRecord | undefined>(1024);
  /** cum[o & mask] = bytes of every record up to and including offset o (since the partition began). */
  private cum = new Float64Array(1024);
  private mask = 1023;
  /** Bytes of the records before `base`. */
  private baseBytes = 0;
  /** Bytes of every record ever pushed. */
  private totalBytes = 0;
  /** First retained offset. */
  base = 0;
  /** The next offset. */
  end = 0;
  get length(): number {
    return this.end - this.base;
  }
  push(r: BrokerRecord, bytes: number): void {
    if (this.end - this.base === this.records.length) this.grow();
    const i = this.end & this.mask;
    this.records[i] = r;
    this.totalBytes += bytes;
    this.cum[i] = this.totalBytes;
    this.end++;
  }
  private grow(): void {
    const size = this.records.length * 2;
    const records = new Array<BrokerRecord | undefined>(size);
    const cum = new Float64Array(size);
    const mask = size - 1;
    for (let o = this.base; o < this.end; o++) {
      records[o & mask] = this.records[o & this.mask];
      cum[o & mask] = this.cum[o & this.mask]!;
    }
    this.records = records;
    this.cum = cum;
    this.mask = mask;
  }
  /** Bytes of the records from `offset` to the end (offsets below the base count from the base). */
  bytesFrom(offset: number): number {
    const before = offset <= this.base ? this.baseBytes : this.cum[(offset - 1) & this.mask]!;
    return this.totalBytes - before;
  }
  /** Bytes held for readers: from the first retained offset. */
  get retainedBytes(): number {
    return this.bytesFrom(this.base);
  }
  /** Drops the oldest records until at most `records` and `bytes` remain. */
  keepNewest(records: number, bytes: number, dropped?: (r: BrokerRecord) => void): void {
    let from = Math.max(this.base, this.end - records);
    while (from < this.end && this.bytesFrom(from) > bytes) from++;
    this.trimTo(from, dropped);
  }
  at(offset: number): BrokerRecord | undefined {
    return offset < this.base || offset >= this.end ? undefined : this.records[offset & this.mask];
  }
  retained(): BrokerRecord[] {
    const out: BrokerRecord[] = [];
    for (let o = this.base; o < this.end; o++) out.push(this.records[o & this.mask]!);
    return out;
  }
  /** Forgets records below `offset`: each slot is cleared at once, so a dead record is not kept reachable. */
  trimTo(offset: number, dropped?: (r: BrokerRecord) => void): void {
    if (offset <= this.base) return;
    const to = Math.min(offset, this.end);
    if (to <= this.base) return;
    const records = this.records;
    for (let o = this.base; o < to; o++) {
      const i = o & this.mask;
      if (dropped !== undefined) dropped(records[i]!);
      records[i] = undefined;
    }
    this.baseBytes = this.cum[(to - 1) & this.mask]!;
    this.base = to;
  }
}
