import type { BrokerRecord } from './adapter.js';

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

/** What a record costs the broker's memory, in bytes (payload bytes + characters of key and headers). */
export function recordBytes(rec: Produce): number {
  let n = rec.value.byteLength + (rec.key?.length ?? 0);
  const h = rec.headers;
  if (h !== undefined) for (const k in h) n += k.length + (h[k]?.length ?? 0);
  return n;
}

export class Partition {
  /** Physical log; records[i] has offset `start + i`. Trimmed lazily: see trimTo. */
  private records: BrokerRecord[] = [];
  /** cum[i] = bytes of every record up to and including records[i] (since the partition began). */
  private cum: number[] = [];
  private start = 0;
  /** Bytes of the records before `start`. */
  private startBytes = 0;
  /** Bytes of every record ever pushed. */
  private totalBytes = 0;
  /** First retained offset. */
  base = 0;
  get end(): number {
    return this.start + this.records.length;
  }
  get length(): number {
    return this.end - this.base;
  }
  push(r: BrokerRecord, bytes: number): void {
    this.records.push(r);
    this.totalBytes += bytes;
    this.cum.push(this.totalBytes);
  }
  /** Bytes of the records from `offset` (≥ the physical start) to the end. */
  bytesFrom(offset: number): number {
    const before = offset <= this.start ? this.startBytes : this.cum[offset - this.start - 1]!;
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
    return offset < this.base ? undefined : this.records[offset - this.start];
  }
  retained(): BrokerRecord[] {
    return this.records.slice(this.base - this.start);
  }
  /**
   * Forgets records below `offset`. Splicing the array on every ack made acks O(n) (it was 60 %
   * of the main thread in a 200k-message run), so the dead prefix is dropped only once it is
   * both over 4096 records and over half the array: amortised O(1) per record.
   */
  trimTo(offset: number, dropped?: (r: BrokerRecord) => void): void {
    if (offset <= this.base) return;
    const to = Math.min(offset, this.end);
    // each dead record's slot is cleared at once (the array is compacted later): a record kept
    // reachable until then survived the young generation's collections and was copied, then
    // promoted — most of the main thread's GC pauses
    const records = this.records;
    for (let o = this.base; o < to; o++) {
      const i = o - this.start;
      if (dropped !== undefined) dropped(records[i]!);
      records[i] = undefined as unknown as BrokerRecord;
    }
    this.base = to;
    const dead = this.base - this.start;
    if (dead > 4096 && dead * 2 > this.records.length) {
      this.startBytes = this.cum[dead - 1]!;
      this.records = this.records.slice(dead);
      this.cum = this.cum.slice(dead);
      this.start = this.base;
    }
  }
}
