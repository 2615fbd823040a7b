import { BrokerError, ErrorCode, OptionError } from '../errors.js';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { DEFAULTS } from './adapter-defaults.js';
import { MAX_PARTITIONS, checkOwnOptions } from './adapter-options.js';
import { NO_HEADERS } from './common.js';
import { type ConsumerHost, Channel, Group, MemoryConsumer } from './memory-groups.js';
import { MemoryRecord, type Produce, isKeyless, recordBytes } from './memory-log.js';

/**
 * The embedded broker, the default when none is configured: named channels with N partitions,
 * records with key, headers, timestamp and offset. `queue` subscribers in one group compete
 * (partitions are split among them, offsets committed per group up to the contiguous acked
 * watermark); a `topic` subscriber is a group of its own and gets everything. Nacked records
 * are redelivered. Retention is bounded per partition, in records (`retention`) and in bytes
 * (`retentionBytes`): when the slowest group is that far behind, `produce` throws (or
 * `produceWhenSpace` waits) instead of growing memory; a partition nobody reads keeps only its
 * newest records within both bounds (the rest is dropped, as a log with retention drops it). A
 * record larger than `retentionBytes` is refused.
 *
 * This file is the broker itself: options, produce (with retention and backpressure), subscribe
 * and the delivery loop. The partition log is in brokers/memory-log.ts, channels, consumer groups
 * and consumers in brokers/memory-groups.ts.
 */

/** Kept here too: `BrokerError` was first exported from this file. */
export { BrokerError };

export interface MemoryBrokerOptions {
  readonly name?: string;
  /** Partitions of a channel created on first use (default 1). */
  readonly partitions?: number;
  /** Records a partition keeps for its slowest group before producers are refused (default 100 000). */
  readonly retention?: number;
  /**
   * Bytes a partition keeps for its slowest group before producers are refused (default 64 MiB);
   * a record counts its payload bytes plus the characters of its key and headers. A partition no
   * group reads keeps its newest records up to this many bytes (and `retention` records).
   */
  readonly retentionBytes?: number;
  /** Most records delivered in one batch (default 512). */
  readonly maxBatch?: number;
}

/** A consumer that reports its group's lag: per partition, the log end − the group's committed offset. */
class LaggingConsumer extends MemoryConsumer {
  lag(): Promise<number> {
    let n = 0;
    this.channel.partitions.forEach((p, i) => (n += p.end - this.group.committed[i]!.committed));
    return Promise.resolve(n);
  }
}

export class MemoryBroker implements BrokerAdapter, ConsumerHost {
  readonly name: string;
  private readonly channels = new Map<string, Channel>();
  private readonly partitions: number;
  private readonly retention: number;
  private readonly retentionBytes: number;
  private readonly maxBatch: number;
  private scheduled = false;
  private topicGroups = 0;
  /** Told each record leaving the log (every group has committed past it, or retention dropped it). */
  private dropped: ((r: BrokerRecord) => void) | undefined;

  constructor(opts: MemoryBrokerOptions = {}) {
    this.name = opts.name ?? 'default';
    // each option's type and range (adapter-options.ts), as createBroker checks them
    checkOwnOptions('memory', opts);
    this.partitions = opts.partitions ?? DEFAULTS.memory.partitions;
    this.retention = opts.retention ?? DEFAULTS.memory.retention;
    this.retentionBytes = opts.retentionBytes ?? DEFAULTS.memory.retentionBytes;
    this.maxBatch = opts.maxBatch ?? DEFAULTS.memory.maxBatch;
  }

  /** Creates a channel with its own partition count (else it is created on first use). */
  createChannel(name: string, partitions = this.partitions): void {
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
      throw new OptionError(
        ErrorCode.badOption,
        `memory broker '${this.name}': channel '${name}': partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`,
        { option: 'partitions' },
      );
    }
    if (!this.channels.has(name)) this.channels.set(name, new Channel(name, partitions));
  }

  private channel(name: string): Channel {
    let c = this.channels.get(name);
    if (c === undefined) {
      c = new Channel(name, this.partitions);
      this.channels.set(name, c);
    }
    return c;
  }

  async connect(): Promise<void> {}

  produce(channelName: string, rec: Produce): { partition: number; offset: string } {
    const placed = this.place(channelName, rec);
    if (typeof placed !== 'number') return placed;
    // refused: `placed` is the full partition (chosen once: a second choice would move on the round robin)
    const p = placed;
    const c = this.channel(channelName);
    const part = c.partitions[p]!;
    const behind = part.end - c.slowest(p);
    throw new BrokerError(
      ErrorCode.retention,
      behind >= this.retention
        ? `broker '${this.name}': channel '${channelName}' partition ${p} holds ${this.retention} unconsumed records (its retention); the producer outran its consumers`
        : `broker '${this.name}': channel '${channelName}' partition ${p} holds ${part.bytesFrom(c.slowest(p))} unconsumed bytes and this record of ${recordBytes(rec)} would pass its retentionBytes (${this.retentionBytes}); the producer outran its consumers`,
      { channel: channelName, partition: p, retention: this.retention, retentionBytes: this.retentionBytes },
    );
  }

  /**
   * `produce` for producers that wait for space themselves: undefined (no error built, no stack
   * captured — a flooding producer meets a full partition every few records) when the slowest
   * group is a retention behind, or `unread` records behind when that is less — for a keyless
   * record, in every partition; the other refusals still throw.
   */
  tryProduce(channelName: string, rec: Produce, unread?: number): BrokerRecord | undefined {
    const placed = this.place(channelName, rec, unread);
    return typeof placed === 'number' ? undefined : placed;
  }

  /**
   * The record appended, or the number of the partition that has no room for it. A record with
   * neither key nor partition goes round robin, or to the next partition with room when its turn's
   * is full (as Kafka's producer may put a keyless record in any partition): a producer that keeps
   * its partitions a lead ahead of their readers then waits only when all are full, and refills
   * whichever its readers free. Kept to the turn's partition, it waited at every full partition
   * in turn and advanced about one record a wake-up — a third of the main thread when the engine
   * drained a backlog (PERF.md).
   */
  private place(channelName: string, rec: Produce, unread = this.retention): BrokerRecord | number {
    const c = this.channel(channelName);
    let p = rec.partition ?? c.choosePartition(rec.key);
    const part = c.partitions[p];
    if (part === undefined) {
      throw new BrokerError(ErrorCode.badInput, `channel '${channelName}' has no partition ${p}`, {
        channel: channelName,
        partition: p,
      });
    }
    const bytes = recordBytes(rec);
    this.checkSize(channelName, bytes);
    if (!this.hasSpace(c, p, bytes, unread)) {
      const other = isKeyless(rec) ? this.roomElsewhere(c, p, bytes, unread) : -1;
      if (other < 0) return p;
      p = other;
    }
    const into = c.partitions[p]!;
    const record = new MemoryRecord(
      channelName,
      p,
      into.end,
      rec.key ?? null,
      rec.headers ?? NO_HEADERS,
      rec.value,
      rec.timestamp ?? Date.now(),
    );
    into.push(record, bytes);
    if (c.groups.size === 0) into.keepNewest(this.retention, this.retentionBytes, this.dropped);
    this.schedule();
    return record; // its partition and offset: no second object per message
  }

  /** The partition after `full` (in turn) with room for `bytes`, or -1 when none has. */
  private roomElsewhere(c: Channel, full: number, bytes: number, unread: number): number {
    const n = c.partitions.length;
    for (let k = 1; k < n; k++) {
      const p = (full + k) % n;
      if (this.hasSpace(c, p, bytes, unread)) return p;
    }
    return -1;
  }

  /** A record larger than the retention in bytes could never be kept: refused, never waited for. */
  private checkSize(channelName: string, bytes: number): void {
    if (bytes > this.retentionBytes) {
      throw new BrokerError(
        ErrorCode.retention,
        `broker '${this.name}': a record of ${bytes} bytes for channel '${channelName}' is larger than its retentionBytes (${this.retentionBytes})`,
        { channel: channelName, bytes, retentionBytes: this.retentionBytes },
      );
    }
  }

  private hasSpace(c: Channel, p: number, bytes: number, unread = this.retention): boolean {
    if (c.groups.size === 0) return true;
    const part = c.partitions[p]!;
    const slowest = c.slowest(p);
    return (
      part.end - slowest < Math.min(unread, this.retention) && part.bytesFrom(slowest) + bytes <= this.retentionBytes
    );
  }

  /**
   * `produce`, waiting for consumers to make room instead of failing (producer-side backpressure):
   * room is the retention, or at most `unread` records the slowest group has not committed when
   * that is less (a producer that keeps only a little ahead of its readers). A keyless record
   * waits for room in any partition, a keyed one in its own.
   */
  async produceWhenSpace(
    channelName: string,
    rec: Produce,
    unread?: number,
  ): Promise<{ partition: number; offset: string }> {
    const c = this.channel(channelName);
    const keyless = isKeyless(rec);
    for (;;) {
      const placed = this.place(channelName, rec, unread);
      if (typeof placed !== 'number') return placed;
      await (keyless ? c.waitForAnyRoom() : c.waitForRoom(placed));
    }
  }

  /** Bytes a channel's partitions hold (for tests and monitoring). */
  retainedBytes(channelName: string): number {
    return this.channels.get(channelName)?.partitions.reduce((n, p) => n + p.retainedBytes, 0) ?? 0;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    for (const r of records) this.produce(r.channel, { key: r.key ?? null, headers: r.headers, value: r.value });
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    const c = this.channel(spec.channel);
    const groupName = spec.kind === 'queue' ? `queue:${spec.group ?? 'wasmsg'}` : `topic:${this.topicGroups++}`;
    let group = c.groups.get(groupName);
    if (group === undefined) {
      group = new Group(c.partitions, spec.kind === 'queue' ? undefined : groupName);
      c.addGroup(groupName, group);
    }
    const consumer = new LaggingConsumer(this, c, group, onBatch);
    group.members.push(consumer);
    group.rebalance();
    this.schedule();
    return consumer;
  }

  /**
   * `f` is told each record once no reader can get it any more (every group committed past it, or
   * retention dropped it), so a producer may reuse its payload's buffer. One listener; undefined
   * removes it.
   */
  onRecordDropped(f: ((r: BrokerRecord) => void) | undefined): void {
    this.dropped = f;
  }

  leave(consumer: MemoryConsumer): void {
    const { group, channel } = consumer;
    group.remove(consumer);
    // A topic subscriber's group goes with it (nobody can join it): else its last offsets would
    // hold back retention for good, and the channel, read by no one, would refuse records
    if (group.ownGroupOf !== undefined && group.members.length === 0) {
      channel.removeGroup(group.ownGroupOf);
      for (let p = 0; p < channel.partitions.length; p++) {
        if (channel.groups.size === 0)
          channel.partitions[p]!.keepNewest(this.retention, this.retentionBytes, this.dropped);
        else this.trim(channel, p);
        channel.roomMade(p);
      }
    }
    this.schedule();
  }

  trim(c: Channel, p: number): void {
    const before = c.partitions[p]!.base;
    c.partitions[p]!.trimTo(c.slowest(p), this.dropped);
    if (c.partitions[p]!.base !== before) c.roomMade(p);
  }

  /** Delivery runs on a later tick, never inside produce/settle: callers never re-enter themselves. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      let again = false;
      for (const c of this.channels.values()) {
        for (const g of c.groups.values()) for (const m of g.members) if (m.pump(this.maxBatch)) again = true;
      }
      if (again) this.schedule();
    });
  }

  /** Records in a channel from `from` onwards, for tests and the CLI (does not consume). */
  read(channelName: string): BrokerRecord[] {
    const c = this.channels.get(channelName);
    return c === undefined ? [] : c.partitions.flatMap((p) => p.retained());
  }

  /** Committed offset of a queue group per partition. */
  committed(channelName: string, group: string): number[] {
    return (
      this.channels
        .get(channelName)
        ?.groups.get(`queue:${group}`)
        ?.committed.map((w) => w.committed) ?? []
    );
  }

  async close(): Promise<void> {
    for (const c of this.channels.values())
      for (const g of c.groups.values()) for (const m of [...g.members]) await m.close();
  }
}
