import { Watermark } from './watermark.js';
import type { BatchListener, BrokerRecord, Consumer } from './adapter.js';
import { type MemoryRecord, Partition } from './memory-log.js';

/**
 * The embedded broker's reading side (brokers/memory.ts): a channel's consumer groups, each with
 * its members and a committed watermark per partition, the split of partitions among a group's
 * members, and the consumer that delivers batches, takes acks and nacks and leaves its group. The
 * records themselves are in the partition logs (brokers/memory-log.ts).
 */

/** What a consumer asks of its broker: an interface, so that this file never imports the broker. */
export interface ConsumerHost {
  /** Delivers on a later tick (see MemoryBroker.schedule). */
  schedule(): void;
  /** Drops what every group of the channel has committed in partition `p`. */
  trim(channel: Channel, p: number): void;
  leave(consumer: MemoryConsumer): void;
}

export class Group {
  readonly members: MemoryConsumer[] = [];
  readonly committed: Watermark[];
  constructor(
    partitions: Partition[],
    /** A topic subscriber's own group: nobody else ever joins it, so it goes when its member leaves. */
    readonly ownGroupOf?: string,
  ) {
    this.committed = partitions.map((p) => new Watermark(p.base));
  }

  /** Splits the partitions among the members; a newly assigned partition resumes at the committed offset. */
  rebalance(): void {
    const n = this.committed.length;
    this.members.forEach((m, i) => {
      const mine = Array.from({ length: n }, (_, p) => p).filter((p) => p % this.members.length === i);
      for (const p of mine) if (!m.assigned.includes(p)) m.cursor.set(p, this.committed[p]!.committed);
      m.assigned = mine;
    });
  }

  /** Takes a member out and gives its partitions to the others. */
  remove(consumer: MemoryConsumer): void {
    this.members.splice(this.members.indexOf(consumer), 1);
    // Records it was given but never acked go to whoever takes its partitions: from the watermark.
    for (const m of this.members) for (const p of consumer.assigned) m.assigned = m.assigned.filter((q) => q !== p);
    this.rebalance();
  }
}

/** A named channel: its partition logs and the groups reading them. */
export class Channel {
  readonly partitions: Partition[];
  readonly groups = new Map<string, Group>();
  private rr = 0;
  /** Per partition, the producers waiting for room in it (woken when its log is trimmed). */
  private readonly roomWaiters: Array<Array<() => void>>;
  constructor(
    readonly name: string,
    n: number,
  ) {
    this.partitions = Array.from({ length: n }, () => new Partition());
    this.roomWaiters = Array.from({ length: n }, () => []);
  }
  /** The producers of keyless records waiting for room in any partition. */
  private anyRoomWaiters: Array<() => void> = [];
  /** Resolves once partition p's log has been trimmed (the caller checks for room again). */
  waitForRoom(p: number): Promise<void> {
    return new Promise((wake) => this.roomWaiters[p]!.push(wake));
  }
  /** Resolves once any partition's log has been trimmed (for a keyless record, which may go to any). */
  waitForAnyRoom(): Promise<void> {
    return new Promise((wake) => this.anyRoomWaiters.push(wake));
  }
  /** Wakes the producers waiting for room in partition p (only p's, however many there are) and those waiting for any. */
  roomMade(p: number): void {
    const waiting = this.roomWaiters[p]!;
    if (waiting.length > 0) {
      this.roomWaiters[p] = [];
      for (const wake of waiting) wake();
    }
    const any = this.anyRoomWaiters;
    if (any.length > 0) {
      this.anyRoomWaiters = [];
      for (const wake of any) wake();
    }
  }
  choosePartition(key: string | null | undefined): number {
    const n = this.partitions.length;
    if (key === null || key === undefined) return this.rr++ % n;
    let h = 0x811c9dc5; // FNV-1a: stable across runs, so a key always lands on one partition
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return (h >>> 0) % n;
  }
  /** The groups as a list (slowest() runs once per record produced: no Map iterator there). */
  private readonly groupList: Group[] = [];
  /** Adds a group (named) reading this channel. */
  addGroup(name: string, group: Group): void {
    this.groups.set(name, group);
    this.groupList.push(group);
  }
  /** Removes a group: its committed offsets hold back retention no more. */
  removeGroup(name: string): void {
    const group = this.groups.get(name);
    if (group === undefined) return;
    this.groups.delete(name);
    this.groupList.splice(this.groupList.indexOf(group), 1);
  }
  /** Lowest committed offset of any group for partition p (or the log end when nobody reads). */
  slowest(p: number): number {
    const list = this.groupList;
    if (list.length === 0) return this.partitions[p]!.end;
    let min = list[0]!.committed[p]!.committed;
    for (let i = 1; i < list.length; i++) min = Math.min(min, list[i]!.committed[p]!.committed);
    return min;
  }
}

/**
 * A record's position: its `seq` when it is one of this broker's records, else its offset string
 * parsed — `settle` takes any BrokerRecord, and a caller may hand back one it rebuilt.
 */
function positionOf(r: BrokerRecord): number {
  return (r as Partial<MemoryRecord>).seq ?? Number(r.offset);
}

export class MemoryConsumer implements Consumer {
  paused = false;
  closed = false;
  assigned: number[] = [];
  readonly cursor = new Map<number, number>();
  readonly redeliver: BrokerRecord[] = [];
  /** Which assigned partition a batch starts from (rotates: see pump). */
  private turn = 0;

  constructor(
    readonly broker: ConsumerHost,
    readonly channel: Channel,
    readonly group: Group,
    readonly onBatch: BatchListener,
  ) {}

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.broker.schedule();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    if (outcome === 'nack') {
      this.redeliver.push(record);
      this.broker.schedule();
      return;
    }
    this.group.committed[record.partition]!.ack(positionOf(record));
    this.broker.trim(this.channel, record.partition);
  }
  /** Each record's watermark, then one trim per partition touched (not one per record). */
  ackAll(records: readonly BrokerRecord[]): void {
    const committed = this.group.committed;
    const touched: number[] = [];
    let last = -1;
    for (const r of records) {
      committed[r.partition]!.ack(positionOf(r));
      if (r.partition !== last && !touched.includes(r.partition)) touched.push(r.partition);
      last = r.partition;
    }
    for (const p of touched) this.broker.trim(this.channel, p);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.broker.leave(this);
  }

  /** Delivers one batch if it can; returns whether it delivered anything. */
  pump(maxBatch: number): boolean {
    if (this.paused || this.closed) return false;
    const assigned = this.assigned;
    const n = assigned.length;
    // sized once for what it can hold (grown by push, it was reallocated as it filled)
    let available = this.redeliver.length;
    for (let k = 0; k < n && available < maxBatch; k++) {
      const p = assigned[k]!;
      available += this.channel.partitions[p]!.end - this.cursor.get(p)!;
    }
    const batch: BrokerRecord[] = new Array<BrokerRecord>(Math.min(maxBatch, available));
    let count = 0;
    if (this.redeliver.length > 0) {
      const again = this.redeliver.splice(0, maxBatch);
      for (const r of again) batch[count++] = r;
    }
    // Fair across partitions, as a Kafka fetch is: a share of the batch from each, starting
    // from the next partition each time, then whatever room is left. Draining the first
    // partition first left the engine's buffer full of one partition's records — one lane,
    // one batch in flight under `partition` ordering — while the other lanes sat empty.
    if (n > 0 && count < maxBatch) {
      const share = Math.max(1, Math.ceil((maxBatch - count) / n));
      const first = this.turn++ % n;
      for (let pass = 0; pass < 2 && count < maxBatch; pass++) {
        for (let k = 0; k < n && count < maxBatch; k++) {
          const p = assigned[(first + k) % n]!;
          const part = this.channel.partitions[p]!;
          let next = this.cursor.get(p)!;
          const limit = pass === 0 ? Math.min(maxBatch, count + share) : maxBatch;
          while (count < limit && next < part.end) batch[count++] = part.at(next++)!;
          this.cursor.set(p, next);
        }
      }
    }
    if (count === 0) return false;
    batch.length = count;
    this.onBatch(batch);
    return true;
  }
}
