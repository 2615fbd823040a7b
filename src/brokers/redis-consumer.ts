import type { Redis } from 'ioredis';
import { describe } from '../errors.js';
import type { BatchListener, BrokerRecord, Consumer, SubscribeSpec } from './adapter.js';
import { DEFAULTS } from './adapter-defaults.js';
import { ReadSizer, sleep } from './common.js';
import type { RedisAdapter } from './redis.js';
import {
  type Handed,
  type HandedRecord,
  type StreamEntry,
  type StreamReply,
  compareIds,
  decodeEntry,
  isNoGroup,
} from './redis-entries.js';

/**
 * The Redis Streams adapter's consumer (brokers/redis.ts is the adapter: connections, groups
 * created, publish): a group reader (own pending entries first, then new ones, with the periodic
 * XCLAIM of other consumers' entries left idle, XACK in batches, the group recreated after NOGROUP) or a
 * topic reader (XREAD from the end). How an entry's fields become a record: redis-entries.ts.
 */

/** Entry ids per XCLAIM of `keep`. */
const KEEP_CHUNK = 10_000;

/**
 * Entries a read (when `count` is not set): about 1 MiB of them (ReadSizer), at most
 * DEFAULTS.redis.readMax (1024); for small entries a read of 1024 rather than 512 costs the main
 * thread less a message (PERF.md). The first read takes one entry: no size is known before it
 * (64 entries of 1 MiB, twice with the second read in flight, were 128 MiB past the engine's byte
 * bound at every start).
 */
const FIRST_COUNT = 1;

export class RedisConsumer implements Consumer {
  private paused = false;
  private wake: (() => void) | undefined;
  private readonly stop = new AbortController();
  private readonly acks: string[] = [];
  private ackScheduled = false;
  readonly loop: Promise<void>;

  constructor(
    private readonly adapter: RedisAdapter,
    private readonly reader: Redis,
    private readonly spec: SubscribeSpec,
    private readonly group: string | undefined,
    private readonly onBatch: BatchListener,
    topicStart: string,
  ) {
    this.loop = group === undefined ? this.readTopic(topicStart) : this.readGroup(group);
    if (group !== undefined) {
      const claimIdle = this.adapter.options.claimIdleMs ?? DEFAULTS.redis.claimIdleMs;
      this.keeper = setInterval(() => void this.keep(group, claimIdle), Math.max(50, Math.min(claimIdle / 3, 5000)));
      this.keeper.unref();
    }
  }

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    const { handed, index } = record as Partial<HandedRecord>;
    if (handed !== undefined && handed.settled[index!] === 0) {
      handed.settled[index!] = 1;
      handed.left--;
    }
    if (this.group === undefined || outcome === 'nack') return; // nack: stays pending, reclaimed later
    this.acks.push(record.offset);
    if (!this.ackScheduled) {
      this.ackScheduled = true;
      setImmediate(() => this.flushAcks());
    }
  }
  private flushAcks(): void {
    this.ackScheduled = false;
    const ids = this.acks.splice(0);
    if (ids.length > 0)
      this.adapter.command.xack(this.spec.channel, this.group!, ...ids).catch((err: unknown) => this.adapter.fail(err));
  }
  /**
   * The group's unacknowledged entries: `lag` (not yet delivered to the group; Redis ≥ 7 reports
   * it, null when it cannot tell, e.g. after XDEL) plus `pending` (delivered, not acked), from
   * XINFO GROUPS. A topic reader has no group: undefined.
   */
  async lag(): Promise<number | undefined> {
    if (this.group === undefined) return undefined;
    const groups = (await this.adapter.command.xinfo('GROUPS', this.spec.channel)) as unknown[][];
    for (const fields of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
      if (info.get('name') !== this.group) continue;
      const lag = info.get('lag');
      const pending = info.get('pending');
      return typeof lag === 'number' && typeof pending === 'number' ? lag + pending : undefined;
    }
    return undefined;
  }
  private closing: Promise<void> | undefined;
  /**
   * Idempotent: the engine closes its consumers, then the adapter closes what it still lists. A
   * second `disconnect()` of an ended connection would leave ioredis's 2 s destroy timer
   * running (its 'close' already fired), holding the process open that long.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.keeper !== undefined) clearInterval(this.keeper);
      this.stop.abort();
      this.wake?.();
      this.reader.disconnect();
      await this.loop.catch(() => {});
      this.flushAcks();
    })();
    return this.closing;
  }

  private async whileRunning(step: () => Promise<void>): Promise<void> {
    while (!this.stop.signal.aborted) {
      if (this.paused) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      try {
        await step();
      } catch (readError) {
        this.nextRead = undefined; // sent before the failure: its answer is not waited for
        if (this.stop.signal.aborted) return;
        let err = readError;
        if (this.group !== undefined && isNoGroup(err)) {
          try {
            await this.recreateGroup(this.group);
            continue;
          } catch (e) {
            err = e;
          }
        }
        this.adapter.fail(err);
        await sleep(500, this.stop.signal); // ioredis reconnects by itself; retry the read after a pause
      }
    }
  }

  /** Highest entry id handed to the engine (the group is recreated after it when the server lost it). */
  private lastSeen = '0';
  /** Own pending entries are read once at start, then new ones (`>`). */
  private pendingCursor: string | undefined = '0';

  /**
   * NOGROUP: the server lost the stream or the group (restart without persistence, key or group
   * deleted). Create the group again after the last entry this consumer was given: entries the
   * server still holds after it are read, new ones too; what the server lost is lost.
   */
  private async recreateGroup(group: string): Promise<void> {
    const { channel } = this.spec;
    try {
      await this.adapter.command.xgroup('CREATE', channel, group, this.lastSeen, 'MKSTREAM');
      this.adapter.fail(
        `stream '${channel}' or its group '${group}' was lost by the server; created the group again from entry ${this.lastSeen}`,
      );
    } catch (err) {
      if (!describe(err).includes('BUSYGROUP')) throw err; // another consumer of the group recreated it
    }
    this.pendingCursor = undefined; // a new group holds nothing pending for anyone
  }

  /** Entries the next read asks for. */
  private count(): number {
    return this.adapter.options.count ?? this.sizer.count();
  }
  private readonly sizer = new ReadSizer(DEFAULTS.redis.readMax, FIRST_COUNT);
  /** Sizes the next reads by the entries of this one (each caller of `deliver` that read them). */
  private learn(entries: StreamEntry[]): void {
    let bytes = 0;
    for (const [, fields] of entries) if (fields !== null) for (const f of fields) bytes += f.length;
    this.sizer.learn(entries.length, bytes);
  }

  /** Hands a read's entries to the engine (the caller has learnt their sizes: `learn`). */
  private deliver(read: StreamEntry[]): void {
    let entries = read;
    // A pending entry the stream no longer holds (trimmed by MAXLEN or XTRIM, deleted by XDEL
    // while its consumer was away) comes back as [id, nil]: there is nothing to handle, so it is
    // acknowledged (else it stays pending for good, and before it threw and lost its batch)
    if (entries.some((e) => e[1] === null)) {
      const gone = entries.filter((e) => e[1] === null).map(([id]) => id.toString('latin1'));
      entries = entries.filter((e) => e[1] !== null);
      this.adapter.fail(
        `stream '${this.spec.channel}': ${gone.length} pending entries were deleted from the stream (trimmed?) before they were handled; acknowledged, as there is nothing to handle (first: ${gone[0]})`,
      );
      if (this.group !== undefined) for (const id of gone) this.acks.push(id);
      this.flushAcks();
    }
    let handed: Handed | undefined;
    if (this.group !== undefined && entries.length > 0) {
      const n = entries.length;
      handed = { ids: new Array<string>(n), settled: new Uint8Array(n), left: n };
      this.handed.push(handed);
      // batches settle about in order: the settled ones at the front go now
      while (this.handed.length > 1 && this.handed[0]!.left === 0) this.handed.shift();
    }
    const records = entries.map(([id, fields], i) => decodeEntry(this.spec.channel, id, fields, handed, i));
    if (handed !== undefined) for (let i = 0; i < records.length; i++) handed.ids[i] = records[i]!.offset;
    if (records.length > 0) {
      const last = records[records.length - 1]!.offset;
      if (compareIds(last, this.lastSeen) > 0) this.lastSeen = last;
      this.onBatch(records);
    }
  }

  private async readGroup(group: string): Promise<void> {
    const { channel } = this.spec;
    const consumer = this.adapter.consumerName(group);
    await this.whileRunning(async () => {
      // 1. own pending entries from before a restart (id 0 = the pending list, not new entries)
      if (this.pendingCursor !== undefined) {
        const reply = (await this.reader.xreadgroupBuffer(
          'GROUP',
          group,
          consumer,
          'COUNT',
          this.count(),
          'STREAMS',
          channel,
          this.pendingCursor,
        )) as StreamReply;
        const entries = reply?.[0]?.[1] ?? [];
        this.learn(entries);
        if (entries.length === 0) this.pendingCursor = undefined;
        else {
          this.pendingCursor = entries[entries.length - 1]![0].toString('utf8');
          this.deliver(entries);
        }
        return;
      }
      // 2. new entries (the claim of idle entries runs on a timer of its own: `keep`)
      // Two reads in flight: the server prepares the next batch while the engine takes this one
      // (one connection answers in order, so entries still arrive in stream order).
      const read = (): Promise<StreamReply> =>
        this.reader.xreadgroupBuffer(
          'GROUP',
          group,
          consumer,
          'COUNT',
          this.count(),
          'BLOCK',
          1000,
          'STREAMS',
          channel,
          '>',
        ) as Promise<StreamReply>;
      const pending = this.nextRead ?? read();
      this.nextRead = undefined;
      pending.catch(() => {}); // a read left in flight at close or pause is awaited, or dropped with the connection
      const reply = await pending;
      const entries = reply?.[0]?.[1] ?? [];
      // the next read is sized by this one's entries (sent before them, it asked for as many
      // as the first read whatever their size)
      this.learn(entries);
      if (!this.paused && !this.stop.signal.aborted && reply !== null) {
        this.nextRead = read();
        this.nextRead.catch(() => {});
      }
      this.deliver(entries);
    });
  }
  /** `keep`'s timer (group readers), and whether a round of it is under way. */
  private keeper: NodeJS.Timeout | undefined;
  /** The batches handed to the engine with entries not yet settled (group readers; see Handed). */
  private handed: Handed[] = [];
  private keeping = false;

  /**
   * Each third of `claimIdleMs` (at most 5 s): (1) the entries the engine holds (handed over,
   * not yet settled) are claimed again by this consumer (`XCLAIM … 0 … JUSTID`), which restarts
   * their idle time — as NATS's `working()` — so that no other consumer of the group claims one
   * the engine still holds (a slow handler's backlog, retries' backoffs, a dead-letter channel
   * refusing it): claimed, it ran twice, and back and forth between engines; (2) while not
   * paused, other consumers' entries idle past `claimIdleMs` (a consumer that died, or stopped
   * and gave them back) are claimed and handed over. On a connection of its own (not the
   * reader's): a failure here loses no read.
   */
  private async keep(group: string, claimIdle: number): Promise<void> {
    if (this.keeping || this.stop.signal.aborted) return;
    this.keeping = true;
    const { channel } = this.spec;
    const command = this.adapter.command;
    const consumer = this.adapter.consumerName(group);
    try {
      type Pending = Array<[string, string, number, number]> | null;
      // only what the engine holds: an entry pending under this name that never reached it (a
      // read whose reply was lost, a crashed engine's of the same name) is left to age, and
      // another consumer of the group claims it
      this.handed = this.handed.filter((h) => h.left > 0);
      const held: string[] = [];
      for (const h of this.handed) for (let i = 0; i < h.ids.length; i++) if (h.settled[i] === 0) held.push(h.ids[i]!);
      for (let i = 0; i < held.length; i += KEEP_CHUNK)
        await command.call('XCLAIM', channel, group, consumer, 0, ...held.slice(i, i + KEEP_CHUNK), 'JUSTID');
      if (this.paused || this.stop.signal.aborted) return;
      const idle = (await command.call(
        'XPENDING',
        channel,
        group,
        'IDLE',
        claimIdle,
        '-',
        '+',
        this.count(),
      )) as Pending;
      const ids = (idle ?? []).filter(([, owner]) => owner !== consumer).map(([id]) => id);
      if (ids.length === 0) return;
      const claimed = (await command.callBuffer('XCLAIM', [channel, group, consumer, claimIdle, ...ids])) as Array<
        [Buffer, Buffer[]] | null
      >;
      const entries = claimed.filter((e): e is [Buffer, Buffer[]] => e !== null && Array.isArray(e[1]));
      if (entries.length > 0 && !this.stop.signal.aborted) {
        this.learn(entries);
        this.deliver(entries);
      }
    } catch (err) {
      if (!this.stop.signal.aborted) this.adapter.fail(err);
    } finally {
      this.keeping = false;
    }
  }

  /** The group read already sent (see readGroup). */
  private nextRead: Promise<StreamReply> | undefined;

  private async readTopic(start: string): Promise<void> {
    let cursor = start;
    await this.whileRunning(async () => {
      const reply = (await this.reader.xreadBuffer(
        'COUNT',
        this.count(),
        'BLOCK',
        1000,
        'STREAMS',
        this.spec.channel,
        cursor,
      )) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) cursor = entries[entries.length - 1]![0].toString('utf8');
      this.learn(entries);
      this.deliver(entries);
    });
  }
}
