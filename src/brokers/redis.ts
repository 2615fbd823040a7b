import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, OptionError, describe } from '../errors.js';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { headerValue, publishFailed, redact, setHeader, sleep, unreachable, warnLine } from './common.js';

/**
 * Redis Streams (ioredis). A channel is a stream; an entry is `data` (the payload), `key`, and
 * one `h:<name>` field per header.
 * - queue: a consumer group (`XREADGROUP ... COUNT`), XACK after success. On start the consumer
 *   first reads its own pending entries (id `0`: what it was given before a restart and never
 *   acked), and it periodically takes over entries other consumers left idle longer than
 *   `claimIdleMs` (`XAUTOCLAIM`): the server never redelivers by itself. A nack leaves the entry
 *   pending; it comes back through the same claim.
 * - topic: an independent reader (`XREAD` from the end), nothing to ack.
 * - publish: `XADD` in a pipeline; its replies are the confirmation. A record's key is the
 *   entry's `key` field. Any failure (a key that is not a stream: WRONGTYPE, a lost connection)
 *   rejects with a BrokerError (E_PUBLISH_FAILED); a pipeline is not atomic, so the entries
 *   added before a failing one stay (a retry duplicates them: at-least-once).
 * - The server losing the stream or the group (restarted without persistence, the key or the
 *   group deleted) answers reads with NOGROUP: the consumer creates the group again
 *   (`XGROUP CREATE ... MKSTREAM`) after the last entry it had been given (from `0` if none)
 *   and reads on. What the server lost is lost; nothing it still holds is skipped.
 */

export interface RedisAdapterOptions {
  readonly name: string;
  readonly url: string;
  /**
   * Consumer name in the group: stable across restarts, so a restarted engine reads its own
   * pending entries again at once (instead of waiting `claimIdleMs` to claim them). Default
   * `wasmsg-<hostname>-<group>`; two engines of one group on one host need distinct names.
   */
  readonly consumer?: string;
  /** Entries per read (default 512). */
  readonly count?: number;
  /** Idle time after which another consumer's pending entry is claimed (default 30 s). */
  readonly claimIdleMs?: number;
  /** Passed to ioredis (TLS, password, ...). */
  readonly client?: RedisOptions;
  /** Approximate stream length kept by XADD MAXLEN ~ (default: unbounded). */
  readonly maxLen?: number;
}

const DATA = 'data';
const KEY = 'key';
const HEADER = 'h:';

function decodeEntry(channel: string, id: string, fields: Buffer[]): BrokerRecord {
  let value: Uint8Array = new Uint8Array(0);
  let key: string | null = null;
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('utf8');
    if (name === DATA) value = fields[i + 1]!;
    else if (name === KEY) key = fields[i + 1]!.toString('utf8');
    else if (name.startsWith(HEADER)) setHeader(headers, name.slice(HEADER.length), headerValue(fields[i + 1]));
  }
  return { channel, partition: 0, offset: id, key, headers, value, timestamp: Number(id.slice(0, id.indexOf('-'))) };
}

/**
 * The URL handed to ioredis: without the path. ioredis reads a URL's path as the database
 * number (`redis://h:6379/orders` would become `SELECT NaN`); here the path is the stream. A
 * database is chosen with `?db=N` (or the `client.db` option); the rest of the query and the
 * password pass to ioredis unchanged.
 */
export function redisClientUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OptionError(ErrorCode.badOption, `redis URL '${redact(url)}' is not a URL`, { url: redact(url) });
  }
  const db = u.searchParams.get('db');
  if (db !== null && !/^\d+$/.test(db)) {
    throw new OptionError(
      ErrorCode.badOption,
      `redis URL '${redact(url)}': db must be a database number (?db=N), got '${db}'`,
      { url: redact(url), option: 'db' },
    );
  }
  u.pathname = '';
  return u.toString();
}

type StreamReply = Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;

/** The server has no such stream or group (it lost them, or they were deleted). */
function isNoGroup(err: unknown): boolean {
  return describe(err).startsWith('NOGROUP');
}

/** Orders stream entry ids (`<ms>-<seq>`). */
function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d > 0n ? 1 : -1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e > 0n ? 1 : -1;
}

class RedisConsumer implements Consumer {
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
  }

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
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
  private closing: Promise<void> | undefined;
  /**
   * Idempotent: the engine closes its consumers, then the adapter closes what it still lists. A
   * second `disconnect()` of an ended connection would leave ioredis's 2 s destroy timer
   * running (its 'close' already fired), holding the process open that long.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
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

  private deliver(reply: StreamReply): number {
    const entries = reply?.[0]?.[1] ?? [];
    const records = entries.map(([id, fields]) => decodeEntry(this.spec.channel, id.toString('utf8'), fields));
    if (records.length > 0) {
      const last = records[records.length - 1]!.offset;
      if (compareIds(last, this.lastSeen) > 0) this.lastSeen = last;
      this.onBatch(records);
    }
    return records.length;
  }

  private async readGroup(group: string): Promise<void> {
    const { channel } = this.spec;
    const count = this.adapter.options.count ?? 512;
    const consumer = this.adapter.consumerName(group);
    let lastClaim = Date.now();
    const claimIdle = this.adapter.options.claimIdleMs ?? 30_000;
    await this.whileRunning(async () => {
      // 1. own pending entries from before a restart (id 0 = the pending list, not new entries)
      if (this.pendingCursor !== undefined) {
        const reply = (await this.reader.xreadgroupBuffer(
          'GROUP',
          group,
          consumer,
          'COUNT',
          count,
          'STREAMS',
          channel,
          this.pendingCursor,
        )) as StreamReply;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) this.pendingCursor = undefined;
        else {
          this.pendingCursor = entries[entries.length - 1]![0].toString('utf8');
          this.deliver(reply);
        }
        return;
      }
      // 2. new entries, with a periodic claim of entries idle too long (dead consumers, nacks)
      if (Date.now() - lastClaim >= Math.min(claimIdle, 5000)) {
        lastClaim = Date.now();
        const claimed = (await this.adapter.command.callBuffer('XAUTOCLAIM', [
          channel,
          group,
          consumer,
          claimIdle,
          '0-0',
          'COUNT',
          count,
        ])) as [Buffer, Array<[Buffer, Buffer[]]>];
        const entries = (claimed[1] ?? []).filter((e) => e !== null && Array.isArray(e[1]));
        if (entries.length > 0) this.deliver([[Buffer.from(channel), entries]]);
      }
      const reply = (await this.reader.xreadgroupBuffer(
        'GROUP',
        group,
        consumer,
        'COUNT',
        count,
        'BLOCK',
        1000,
        'STREAMS',
        channel,
        '>',
      )) as StreamReply;
      this.deliver(reply);
    });
  }

  private async readTopic(start: string): Promise<void> {
    const count = this.adapter.options.count ?? 512;
    let cursor = start;
    await this.whileRunning(async () => {
      const reply = (await this.reader.xreadBuffer(
        'COUNT',
        count,
        'BLOCK',
        1000,
        'STREAMS',
        this.spec.channel,
        cursor,
      )) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length > 0) cursor = entries[entries.length - 1]![0].toString('utf8');
      this.deliver(reply);
    });
  }
}

export class RedisAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: RedisAdapterOptions;
  command!: Redis;
  private readonly clientUrl: string;
  private readonly consumers: RedisConsumer[] = [];
  private lastError: ((err: unknown) => void) | undefined;

  constructor(options: RedisAdapterOptions) {
    this.name = options.name;
    this.options = options;
    this.clientUrl = redisClientUrl(options.url);
  }
  /** The consumer name in `group` (see `RedisAdapterOptions.consumer`). */
  consumerName(group: string): string {
    return this.options.consumer ?? `wasmsg-${hostname()}-${group}`;
  }

  /** Called with errors of background loops (reads, acks); default: printed once per message. */
  onError(listener: (err: unknown) => void): void {
    this.lastError = listener;
  }

  private lastLine = '';
  private lastLineAt = 0;

  /** Background errors: to the listener, else to stderr, the same text at most once every 10 s. */
  fail(err: unknown): void {
    if (this.lastError !== undefined) return this.lastError(err);
    const line = describe(err);
    const now = Date.now();
    if (line === this.lastLine && now - this.lastLineAt < 10_000) return;
    this.lastLine = line;
    this.lastLineAt = now;
    warnLine('redis', this.options.url, line);
  }

  private connected = false;

  /**
   * A client that fails fast while the first connection is made (so a wrong URL is a clear error
   * at start) and afterwards reconnects by ioredis's own mechanism, backing off to 2 s.
   */
  private client(): { redis: Redis; lastError: () => unknown } {
    let lastError: unknown;
    const redis = new Redis(this.clientUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => (this.connected ? Math.min(times * 100, 2000) : null),
      ...this.options.client,
    });
    redis.on('error', (err: unknown) => {
      lastError = err;
      if (this.connected) this.fail(err);
    });
    return { redis, lastError: () => lastError };
  }

  private async open(): Promise<Redis> {
    const { redis, lastError } = this.client();
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw unreachable(this.options.url, lastError() ?? err);
    }
    return redis;
  }

  async connect(): Promise<void> {
    this.command = await this.open();
    this.connected = true;
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    let group: string | undefined;
    if (spec.kind === 'queue') {
      group = spec.group ?? 'wasmsg';
      try {
        await this.command.xgroup('CREATE', spec.channel, group, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
    // Blocking reads need a connection of their own.
    const reader = await this.open();
    // A topic reader starts after the stream's last entry as of now (not '$' at its first read,
    // which would miss what is added between subscribe() and that read).
    let topicStart = '0-0';
    if (group === undefined) {
      const last = (await this.command.xrevrange(spec.channel, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
      if (last.length > 0) topicStart = last[0]![0];
    }
    const consumer = new RedisConsumer(this, reader, spec, group, onBatch, topicStart);
    this.consumers.push(consumer);
    return consumer;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    let replies: Array<[Error | null, unknown]>;
    try {
      const pipeline = this.command.pipeline();
      for (const r of records) {
        const args: Array<string | Buffer | number> = [r.channel];
        if (this.options.maxLen !== undefined) args.push('MAXLEN', '~', this.options.maxLen);
        args.push('*', DATA, Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        if (r.key !== undefined && r.key !== null) args.push(KEY, r.key);
        for (const [k, v] of Object.entries(r.headers)) args.push(HEADER + k, v);
        pipeline.xadd(...(args as [string, ...Array<string | Buffer | number>]));
      }
      replies = (await pipeline.exec()) ?? [];
    } catch (err) {
      throw publishFailed('redis', this.options.url, err);
    }
    const i = replies.findIndex(([err]) => err !== null);
    if (i >= 0) {
      const err = replies[i]![0]!;
      throw publishFailed('redis', this.options.url, `stream '${records[i]?.channel}': ${err.message}`, {
        channel: records[i]?.channel,
        reply: err.message.split(' ')[0],
      });
    }
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    this.command?.disconnect();
  }
}
