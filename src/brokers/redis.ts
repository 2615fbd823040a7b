import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, OptionError, describe } from '../errors.js';
import type { BatchListener, BrokerAdapter, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { publishFailed, redact, subscribeFailed, warnLine } from './common.js';
import { checkOwnOptions } from './adapter-options.js';
import { type ConnectOptions, connectDeadline, connectWithin } from './deadline.js';
import { RedisConsumer } from './redis-consumer.js';
import { DATA, HEADER, KEY } from './redis-entries.js';

/**
 * Redis Streams (ioredis). A channel is a stream; an entry is `data` (the payload), `key`, and
 * one `h:<name>` field per header.
 * - queue: a consumer group (`XREADGROUP ... COUNT`), XACK after success. On start the consumer
 *   first reads its own pending entries (id `0`: what it was given before a restart and never
 *   acked), and it periodically takes over entries other consumers left idle longer than
 *   `claimIdleMs` (`XPENDING … IDLE`, then `XCLAIM` of those not its own: the engine holds its own
 *   until it settles them): the server never redelivers by itself. A nack (at stop) leaves the
 *   entry pending; it comes back at this consumer's next start, or to another one's claim.
 * - topic: an independent reader (`XREAD` from the end), nothing to ack.
 * - publish: `XADD` in a pipeline; its replies are the confirmation. A record's key is the
 *   entry's `key` field. Any failure (a key that is not a stream: WRONGTYPE, a lost connection)
 *   rejects with a BrokerError (E_PUBLISH_FAILED); a pipeline is not atomic, so the entries
 *   added before a failing one stay (a retry duplicates them: at-least-once).
 * - The server losing the stream or the group (restarted without persistence, the key or the
 *   group deleted) answers reads with NOGROUP: the consumer creates the group again
 *   (`XGROUP CREATE ... MKSTREAM`) after the last entry it had been given (from `0` if none)
 *   and reads on. What the server lost is lost; nothing it still holds is skipped.
 *
 * This file is the adapter (connections, groups created, publish); the readers are in
 * brokers/redis-consumer.ts.
 */

export interface RedisAdapterOptions extends ConnectOptions {
  /**
   * Consumer name in the group: stable across restarts, so a restarted engine reads its own
   * pending entries again at once (instead of waiting `claimIdleMs` to claim them). Default
   * `wasmsg-<hostname>-<group>`; two engines of one group on one host need distinct names.
   */
  readonly consumer?: string;
  /** Entries per read (default: as many as make about 1 MiB at the entry size seen, the first 1, at most 1024). */
  readonly count?: number;
  /** Idle time after which another consumer's pending entry is claimed (default 30 s). */
  readonly claimIdleMs?: number;
  /** Passed to ioredis (TLS, password, ...). */
  readonly client?: RedisOptions;
  /** Approximate stream length kept by XADD MAXLEN ~ (default: unbounded). */
  readonly maxLen?: number;
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

export class RedisAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: RedisAdapterOptions;
  command!: Redis;
  private readonly clientUrl: string;
  private readonly consumers: RedisConsumer[] = [];
  private lastError: ((err: unknown) => void) | undefined;

  constructor(options: RedisAdapterOptions) {
    checkOwnOptions('redis', options); // (createBroker's check, for an adapter made by hand)
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
  private client(connectTimeout: number): { redis: Redis; lastError: () => unknown } {
    let lastError: unknown;
    const redis = new Redis(this.clientUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => (this.connected ? Math.min(times * 100, 2000) : null),
      ...this.options.client,
      // (the TCP connection's, each reconnection's too)
      connectTimeout,
    });
    redis.on('error', (err: unknown) => {
      lastError = err;
      if (this.connected) this.fail(err);
    });
    return { redis, lastError: () => lastError };
  }

  /**
   * A connection that answered, within the connect deadline (`connectTimeoutMs`, deadline.ts):
   * ioredis's own `connectTimeout` ends with the TCP connection, and its connect() waits for
   * the ready check's answer — from a server that accepts and never answers (not Redis, a hung
   * one), forever, and start() with it (stop() waiting for that start).
   */
  private open(): Promise<Redis> {
    const ms = connectDeadline(this.options, this.options.client?.connectTimeout);
    const { redis, lastError } = this.client(ms);
    // (a client that ended — refused — has nothing to close: its disconnect() would only set a
    // 2 s timer for a socket already gone, and hold the process that long)
    const close = (): void => {
      if (redis.status !== 'end') redis.disconnect();
    };
    const connect = async (): Promise<Redis> => {
      try {
        await redis.connect();
      } catch (err) {
        close();
        throw lastError() ?? err;
      }
      return redis;
    };
    // past the deadline the socket is destroyed, not ended: ioredis's disconnect() ends it and
    // destroys it only 2 s later when the server does not close its side (a hung one)
    const abandon = (): void => {
      close();
      (redis.stream as Redis['stream'] | undefined)?.destroy();
    };
    return connectWithin(this.options, ms, connect, abandon);
  }

  async connect(): Promise<void> {
    this.command = await this.open();
    this.connected = true;
  }

  /**
   * A group reader (queue) or a reader from the stream's end (topic). One the server refuses (a
   * key that is no stream: WRONGTYPE) rejects in its words (E_BAD_INPUT) with nothing left open.
   */
  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    try {
      return await this.consume(spec, onBatch);
    } catch (err) {
      // before: ioredis's untyped ReplyError, naming neither the broker nor the stream
      const reply = err instanceof Error && err.name === 'ReplyError' ? err.message : undefined;
      const refusal = reply === undefined ? undefined : `the server refused it: ${reply}`;
      throw subscribeFailed('redis', this.options.url, `stream '${spec.channel}'`, err, refusal, {
        channel: spec.channel,
        kind: spec.kind,
        ...(reply === undefined ? {} : { reply: reply.split(' ')[0] }),
      });
    }
  }

  private async consume(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
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
      try {
        const last = (await this.command.xrevrange(spec.channel, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
        if (last.length > 0) topicStart = last[0]![0];
      } catch (err) {
        reader.disconnect(); // (a key that is no stream: WRONGTYPE) else its connection kept the process alive
        throw err;
      }
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
