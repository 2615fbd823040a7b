import amqp from 'amqplib';
import { describe } from '../errors.js';
import type { BatchListener, BrokerAdapter, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { AmqpConsumer, toWire } from './amqp-consumer.js';
import { publishFailed, refused, subscribeFailed, warnLine } from './common.js';
import { checkOwnOptions } from './adapter-options.js';
import { type ConnectOptions, connectDeadline, connectWithin } from './deadline.js';
import { type HeadersOutRule, KeyHeaderDrops, headersOut } from './key-header.js';

/**
 * AMQP 0-9-1 (RabbitMQ, amqplib). A channel name is a queue (kind queue) or a fanout exchange
 * (kind topic).
 * - queue: a shared durable queue, consumed with `prefetch(n)` (the server's backpressure) and
 *   manual acks: ack after success, `nack(requeue)` to give a message back.
 * - topic: an exclusive, auto-deleted queue per engine, bound to a durable fanout exchange named
 *   after the channel: every engine gets every message.
 * - publish: on a confirm channel (`sendToQueue` for queue outputs, `publish` to the fanout
 *   exchange for topic outputs), persistent, honouring `drain`; resolved by the broker's confirms.
 *   Each message has the `timestamp` property (seconds): its publish time, as Kafka's producer,
 *   Redis's `*` id and JetStream stamp theirs (an event's own `time` is its `cloudEvents:time`
 *   header); the consumer reads it as the record's timestamp (without it, its receive time).
 * CloudEvents binary mode uses `cloudEvents:` application properties; `content-type` maps to the
 * content_type property.
 * - A record's key travels in the header `wasmsg-key` (AMQP has no message key; the routing key
 *   is the queue's name); an inbound record's key is that header, else its message-id property.
 *   An output's own header of that name is not sent (as on NATS and MQTT): only the key is; a
 *   warning says so once per channel (key-header.ts).
 *   A header named `__proto__` travels as `%5F%5Fproto%5F%5F` (amqplib's decoder would drop it),
 *   and a header named that, after any number of `%25`, with one `%25` more (amqp-consumer.ts).
 * - Queues and exchanges an output names are declared once, each on a channel of its own (a
 *   failed declaration closes the channel it ran on: never the confirm channel), so an output to
 *   a queue nobody declared yet waits in a new durable queue instead of being dropped; queue
 *   outputs are `mandatory`: one the server cannot route (its queue deleted since) rejects the
 *   publish instead of being dropped. Names and header names longer than 255 bytes, and topic
 *   names in the reserved `amq.` namespace, are refused (E_BAD_INPUT) before anything is sent.
 * - The confirm channel, when the server closes it, is opened again for the next publish;
 *   channel and connection errors are logged, never thrown.
 * - A subscription the server refuses (a queue named `amq.x`, a queue another client consumes
 *   exclusively) rejects subscribe() in the server's words (E_BAD_INPUT) and leaves nothing: its
 *   channel closed, no retry, no warning.
 * - The server going away: amqplib's recovery reconnects (250 ms doubling to 5 s, forever); each
 *   consumer consumes again on a new channel. What was delivered on the lost channel and not
 *   acked is back in the queue (the server requeues it): it comes again (duplicates,
 *   at-least-once), and the old deliveries' acks go nowhere. A publish while disconnected
 *   waits for the connection; one whose confirm was lost rejects (E_PUBLISH_FAILED).
 */

export interface AmqpAdapterOptions extends ConnectOptions {
  /** Unacked messages the server may hand this engine per subscription (default 1024). */
  readonly prefetch?: number;
  /** Passed to amqplib's connect (TLS, heartbeat, ...; its `timeout` is `connectTimeoutMs`, see ConnectOptions). */
  readonly socket?: Record<string, unknown>;
}

const CE_PREFIX = 'cloudEvents:';

/**
 * Resolves when a channel whose buffer was full drains; rejects when it closes first (amqplib
 * emits 'close', never 'drain', on a channel that died: the publish would wait forever).
 */
function drained(ch: amqp.Channel): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      ch.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      ch.off('drain', onDrain);
      reject(new Error('the channel closed before its buffer drained'));
    };
    ch.once('drain', onDrain);
    ch.once('close', onClose);
  });
}

/**
 * The server's refusal in an amqplib error: a channel exception (403 ACCESS_REFUSED, 404
 * NOT_FOUND, 405 RESOURCE_LOCKED, 406 PRECONDITION_FAILED) closing the channel an operation ran
 * on, its reply text (`ACCESS_REFUSED - queue name 'amq.x' contains reserved prefix 'amq.*'`)
 * and name; undefined for anything else (the connection lost, a timeout).
 */
function serverReply(err: unknown): { text: string; name: string } | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'number' || code < 403 || code > 406) return undefined;
  const text = /with message "(.*)"$/s.exec(describe(err))?.[1];
  return text === undefined ? undefined : { text, name: text.split(' - ')[0]! };
}

/** Longest AMQP short string (queue, exchange and header names), in UTF-8 bytes. */
const SHORTSTR = 255;

export class AmqpAdapter implements BrokerAdapter {
  readonly name: string;
  /** World C's `format` of this broker's records. */
  readonly format = 'amqp' as const;
  readonly options: AmqpAdapterOptions;
  private connection!: amqp.RecoveringChannelModel;
  private confirmChannel: Promise<amqp.ConfirmChannel> | undefined;
  private readonly consumers: AmqpConsumer[] = [];
  /** Queues and exchanges declared for outputs: name → its declaration. */
  private readonly declared = new Map<string, Promise<void>>();
  /** Messages the server returned as unroutable, ever (a publish compares it before and after). */
  private returned = 0;
  private closing = false;
  /** The connection is up (between its 'connect' and 'disconnect'). */
  connected = false;
  /** How an output's headers go out: `cloudEvents:`, `__proto__`'s escape, the key in `wasmsg-key`. */
  private readonly headersRule: HeadersOutRule;

  constructor(options: AmqpAdapterOptions) {
    checkOwnOptions('amqp', options); // (createBroker's check, for an adapter made by hand)
    this.name = options.name;
    this.options = options;
    const why = 'AMQP has no message key';
    const keyHeader = new KeyHeaderDrops(options.name, { kind: 'amqp', url: options.url, why });
    this.headersRule = { prefix: CE_PREFIX, rename: toWire, keyHeader };
  }

  /** The AMQP server URL without the queue path of a `--from` URL. */
  private serverUrl(): string {
    const u = new URL(this.options.url);
    u.pathname = u.pathname.split('/').length > 2 ? `/${u.pathname.split('/')[1]}` : '/';
    return u.toString().replace(/\/$/, '');
  }

  warn(err: unknown): void {
    warnLine('amqp', this.options.url, err);
  }

  /**
   * One connection, reopened by amqplib's recovery (every 250 ms doubling to 5 s) when the
   * server goes away; the first one fails at once, so a wrong URL is a clear error at start. On
   * each new connection every consumer consumes again on a new channel, and outputs declare
   * their queues again (the server may have lost them).
   */
  async connect(): Promise<void> {
    const ms = connectDeadline(this.options, this.options.socket?.['timeout']);
    // amqplib's `timeout` is an idle timer (reset by each byte): a server trickling bytes kept a
    // first connection open past the deadline, and its process alive. The deadline aborts its socket.
    const abort = new AbortController();
    const aborted = { signal: abort.signal }; // (net.connect's option: not in amqplib's types)
    this.connection = await connectWithin(
      this.options,
      ms,
      () =>
        amqp.connect(this.serverUrl(), {
          ...this.options.socket,
          // amqplib has no timeout unless given one: a server that accepts and never answers (not
          // AMQP, a hung one) held an opening forever. This one (TCP and the AMQP handshake, idle
          // time) bounds each reconnection
          timeout: ms,
          ...aborted,
          recovery: { initialDelay: 250, maxDelay: 5000, initialMaxRetries: 0 },
        }),
      (late) => {
        abort.abort();
        return late?.close();
      },
    );
    this.connection.on('error', (err: Error) => this.warn(err));
    this.connected = true;
    this.connection.on('disconnect', (err: Error) => {
      this.connected = false;
      if (!this.closing) this.warn(`connection lost (${err.message}); reconnecting`);
    });
    this.connection.on('connect', (model: amqp.ChannelModel) => {
      this.connected = true;
      this.declared.clear();
      for (const c of this.consumers) c.reopen(model);
    });
    await this.confirm();
  }

  /** The connection, for a consumer that consumes again on it. */
  get model(): Pick<amqp.ChannelModel, 'createChannel'> {
    return this.connection;
  }

  /** The confirm channel for outputs, opened again after the server closed it. */
  private confirm(): Promise<amqp.ConfirmChannel> {
    if (this.confirmChannel === undefined) {
      const opening = this.connection.createConfirmChannel().then((ch) => {
        ch.on('error', (err: Error) => this.warn(err));
        ch.on('close', () => {
          if (this.confirmChannel === opening) this.confirmChannel = undefined;
        });
        ch.on('return', () => this.returned++);
        return ch;
      });
      this.confirmChannel = opening;
      opening.catch(() => {
        if (this.confirmChannel === opening) this.confirmChannel = undefined;
      });
    }
    return this.confirmChannel;
  }

  /**
   * Declares an output's or a consumer's queue (durable) or fanout exchange once (`fresh`: again),
   * on a channel of its own: a declaration the server refuses closes only that channel. An
   * existing queue is checked, not redeclared (its arguments, e.g. a quorum queue's, need not
   * match ours).
   */
  declare(kind: 'queue' | 'topic', name: string, fresh = false): Promise<void> {
    const id = `${kind}:${name}`;
    let p = fresh ? undefined : this.declared.get(id);
    if (p === undefined) {
      const onChannel = async (f: (ch: amqp.Channel) => Promise<unknown>): Promise<void> => {
        const ch = await this.connection.createChannel();
        ch.on('error', () => {}); // a refused declaration closes this channel: the promise says why
        try {
          await f(ch);
        } finally {
          await ch.close().catch(() => {});
        }
      };
      p =
        kind === 'topic'
          ? onChannel((ch) => ch.assertExchange(name, 'fanout', { durable: true }))
          : onChannel((ch) => ch.checkQueue(name)).catch(() =>
              onChannel((ch) => ch.assertQueue(name, { durable: true })),
            );
      this.declared.set(id, p);
      p.catch(() => this.declared.delete(id));
    }
    return p;
  }

  /** A queue's ready messages, asked on a channel of its own (a refused check closes only that channel). */
  async readyMessages(queue: string): Promise<number> {
    const ch = await this.connection.createChannel();
    ch.on('error', () => {});
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /**
   * A consumer, registered while it opens (a close() meanwhile closes it, a new connection opens
   * it again). One the server refuses (a queue named `amq.x`: ACCESS_REFUSED) leaves nothing:
   * taken off the list and closed, subscribe rejects (E_BAD_INPUT with the server's words;
   * E_BROKER_UNAVAILABLE when the connection failed meanwhile).
   */
  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    const consumer = new AmqpConsumer(this, spec, onBatch);
    this.consumers.push(consumer);
    try {
      await consumer.open(this.connection);
    } catch (err) {
      const at = this.consumers.indexOf(consumer);
      if (at >= 0) this.consumers.splice(at, 1);
      await consumer.close();
      const reply = serverReply(err);
      const target = `${spec.kind} '${spec.channel}'${spec.kind === 'topic' ? ' (a fanout exchange)' : ''}`;
      const refusal = reply === undefined ? undefined : `the server refused it: ${reply.text}`;
      throw subscribeFailed('amqp', this.options.url, target, err, refusal, {
        channel: spec.channel,
        kind: spec.kind,
        ...(reply === undefined ? {} : { reply: reply.name }),
      });
    }
    return consumer;
  }

  /** Why a record cannot go out as it is, or undefined. */
  private invalid(r: OutRecord, headers: Record<string, string>): string | undefined {
    if (Buffer.byteLength(r.channel) > SHORTSTR) return `channel name longer than ${SHORTSTR} bytes`;
    if (r.kind === 'topic' && r.channel.startsWith('amq.')) return `'${r.channel}' is in the reserved amq. namespace`;
    if (r.channel === '') return 'an empty channel name';
    for (const k of Object.keys(headers))
      if (Buffer.byteLength(k) > SHORTSTR) return `header name longer than ${SHORTSTR} bytes: '${k.slice(0, 40)}...'`;
    return undefined;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    const prepared = records.map((r) => {
      // the key is only ever the record's: an output's own `wasmsg-key` header (another
      // producer's Kafka header or Redis field, forwarded) would be read back as the key
      const headers = headersOut(r, this.headersRule);
      const contentType = headers['content-type'];
      delete headers['content-type'];
      const bad = this.invalid(r, headers);
      if (bad !== undefined) throw refused('amqp', this.options.url, bad, { channel: r.channel });
      const props: amqp.Options.Publish = {
        persistent: true,
        timestamp,
        headers,
        ...(r.kind === 'queue' ? { mandatory: true } : {}),
        ...(contentType === undefined ? {} : { contentType }),
      };
      return { r, props, body: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) };
    });
    try {
      for (const { r } of prepared) await this.declare(r.kind, r.channel);
      const ch = await this.confirm();
      const returnedBefore = this.returned;
      for (const { r, props, body } of prepared) {
        const ok = r.kind === 'queue' ? ch.sendToQueue(r.channel, body, props) : ch.publish(r.channel, '', body, props);
        if (!ok) await drained(ch);
      }
      await ch.waitForConfirms();
      // the server returns an unroutable mandatory message before it confirms it
      if (this.returned !== returnedBefore) throw new Error('the server could not route a message (its queue is gone)');
    } catch (err) {
      throw publishFailed('amqp', this.options.url, err);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.consumers.splice(0)) await c.close();
    const ch = await this.confirmChannel?.catch(() => undefined);
    await ch?.close().catch(() => {});
    await this.connection?.close().catch(() => {});
  }
}
