import type amqp from 'amqplib';
import type { BatchListener, BrokerRecord, Consumer, SubscribeSpec } from './adapter.js';
import { DEFAULTS } from './adapter-defaults.js';
import type { AmqpAdapter } from './amqp.js';
import { DeliveryOffsets, HeldDeliveries } from './common.js';
import { type HeadersInRule, keyAndHeaders } from './key-header.js';

/**
 * A header named `__proto__` goes out under this name: amqplib's decoder assigns header names to
 * a plain object, where that one is the prototype setter and would vanish. Read back as
 * `__proto__` (it is `__proto__` percent-encoded).
 */
export const PROTO_ON_WIRE = '%5F%5Fproto%5F%5F';

/**
 * The names that escape is ambiguous with — PROTO_ON_WIRE itself, after any number of `%25`
 * (an escaped `%`) — go out with one `%25` more and are read back with one less, so every
 * header name comes back as it was sent: before, a header named PROTO_ON_WIRE was read back as
 * `__proto__` (and beside a `__proto__` header, overwritten by it). Every other name is left as
 * it is. (A non-wasmsg producer's header of that family is read back one step down, its
 * PROTO_ON_WIRE as `__proto__`: whatever name stands for `__proto__`, another producer may send
 * it, as amqplib cannot read `__proto__` itself.)
 */
const PROTO_FAMILY = /^(?:%25)*%5F%5Fproto%5F%5F$/;

/** A header name as it goes out (see PROTO_FAMILY). */
export function toWire(name: string): string {
  if (name === '__proto__') return PROTO_ON_WIRE;
  return name.startsWith('%') && PROTO_FAMILY.test(name) ? `%25${name}` : name;
}

/** A header name as it came in, as it was before toWire. */
export function fromWire(name: string): string {
  if (name === PROTO_ON_WIRE) return '__proto__';
  return name.startsWith('%') && PROTO_FAMILY.test(name) ? name.slice(3) : name;
}

/** How a delivery's headers are read: names as before toWire. */
const HEADERS_IN: HeadersInRule = { rename: fromWire };

/**
 * The AMQP adapter's consumer (brokers/amqp.ts is the adapter: the connection, declarations,
 * publish): a channel consuming one queue with `prefetch`, opened again on every new connection
 * and when the server closes it or cancels the consumer; acks and nacks on the channel each
 * delivery came on.
 */
export class AmqpConsumer implements Consumer {
  private readonly offsets = new DeliveryOffsets();
  /** Each delivery with the channel it came on: an ack goes to that channel, or nowhere. */
  private readonly inFlight = new Map<string, { m: amqp.ConsumeMessage; ch: amqp.Channel }>();
  private channel: amqp.Channel | undefined;
  private tag = '';
  /** Counts open(): a channel's close acts only for the latest open (see again). */
  private opened = 0;
  private againMs = 250;
  /** `again`'s pause, while one runs (close() clears it). */
  private retry: NodeJS.Timeout | undefined;
  /** The queue consumed (a topic subscriber's own exclusive queue), once open. */
  private queue = '';
  private closed = false;

  private readonly deliveries: HeldDeliveries;

  constructor(
    private readonly adapter: AmqpAdapter,
    private readonly spec: SubscribeSpec,
    onBatch: BatchListener,
  ) {
    // while paused, deliveries (at most `prefetch` unacked) wait here
    this.deliveries = new HeldDeliveries(onBatch);
  }

  /**
   * Opens a channel and consumes: at subscribe, and again on every new connection after the
   * server went away (its unacked messages went back to the queue with the old channel). Until
   * it consumes, a failure is this open's own: it rejects (subscribe rejects with it, `reopen`
   * tries again after a pause), its channel closed, that channel's error not logged and its close
   * not consuming again — before, a refused subscription's channel close (`amq.x`: ACCESS_REFUSED)
   * started a retry loop that nothing stopped: subscribe had rejected, so no close() reached it.
   */
  async open(connection: Pick<amqp.ChannelModel, 'createChannel'>): Promise<void> {
    if (this.closed) return;
    const { spec } = this;
    const opening = ++this.opened;
    // an existing queue is checked, not redeclared: a declaration without the arguments it was
    // made with (a quorum queue, a TTL, a dead-letter exchange) is refused by the server
    if (spec.kind === 'queue') await this.adapter.declare('queue', spec.channel, true);
    const ch = await connection.createChannel();
    let consuming = false;
    let lost = false; // (closed in the same read as its consume-ok: before `consuming` is set)
    ch.on('error', (err: Error) => {
      if (consuming) this.adapter.warn(err);
    });
    // The server closed this channel (a delivery unacked past its consumer_timeout, …) while the
    // connection stays: consume again on a new one. A lost connection reopens it on its own:
    // amqplib closes its channels first and then says the connection is gone, in one go, so the
    // channel's close is looked at once that is over (before, it told of and started a retry of
    // its own beside the reconnect's: `its channel closed; consuming again in 250 ms`)
    ch.on('close', () => (consuming ? queueMicrotask(() => this.again(opening, 'its channel closed')) : (lost = true)));
    // closed, or superseded (the connection came back and opened again) while this one opened:
    // a second consumer would hold up to `prefetch` messages that nothing settles
    const stale = (): boolean => this.closed || opening !== this.opened;
    try {
      await ch.prefetch(this.adapter.options.prefetch ?? DEFAULTS.amqp.prefetch);
      let queue: string;
      if (spec.kind === 'queue') {
        queue = spec.channel;
      } else {
        await ch.assertExchange(spec.channel, 'fanout', { durable: true });
        queue = (await ch.assertQueue('', { exclusive: true, autoDelete: true })).queue;
        await ch.bindQueue(queue, spec.channel, '');
      }
      if (stale()) return void ch.close().catch(() => {});
      this.channel = ch;
      this.queue = queue;
      this.tag = (await ch.consume(queue, (m) => this.deliver(ch, m), { noAck: false })).consumerTag;
    } catch (err) {
      await ch.close().catch(() => {});
      throw err;
    }
    consuming = true;
    if (stale()) await ch.close().catch(() => {});
    else if (lost) this.again(opening, 'its channel closed');
    else this.againMs = 250;
  }

  /**
   * Consumes again (a new connection, or `again`'s pause over); a failure is told, and tried
   * again after a pause (before, one on a new connection was only told, unless its channel's
   * close happened to start `again`).
   */
  reopen(connection: Pick<amqp.ChannelModel, 'createChannel'>): void {
    const opened = this.open(connection);
    const opening = this.opened; // (open() counts itself before its first await)
    opened.catch((err: unknown) => {
      if (this.closed) return; // closed meanwhile: its connection went with it, nothing to tell
      this.adapter.warn(err);
      this.again(opening, 'could not consume again');
    });
  }

  /**
   * The queue's ready messages (the server's count) plus those delivered here and not yet
   * settled. Another consumer's unacked deliveries on a shared queue are not counted: RabbitMQ
   * tells them only through its management API.
   */
  async lag(): Promise<number | undefined> {
    if (this.queue === '' || this.closed) return undefined;
    return (await this.adapter.readyMessages(this.queue)) + this.inFlight.size;
  }

  /**
   * Consumes again after the server closed the channel or cancelled the consumer (its queue was
   * deleted), unless that open was superseded (the connection came back and reopened it) or the
   * connection is down (its 'connect' will); after a pause that doubles while it keeps failing.
   */
  private again(opening: number, why: string): void {
    if (this.closed || opening !== this.opened || !this.adapter.connected) return;
    const wait = this.againMs;
    this.againMs = Math.min(5000, this.againMs * 2);
    this.adapter.warn(`consumer of '${this.spec.channel}': ${why}; consuming again in ${wait} ms`);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed || opening !== this.opened || !this.adapter.connected) return;
      this.reopen(this.adapter.model);
    }, wait).unref();
  }

  private deliver(ch: amqp.Channel, m: amqp.ConsumeMessage | null): void {
    if (m === null) {
      // the server cancelled the consumer (its queue was deleted): close this channel, which
      // consumes again (declaring the queue again)
      this.adapter.warn(`consumer of '${this.spec.channel}' was cancelled by the server (its queue was deleted?)`);
      void ch.close().catch(() => {});
      return;
    }
    const offset = this.offsets.next();
    this.inFlight.set(offset, { m, ch });
    const table = m.properties.headers;
    const { key, headers } = keyAndHeaders(
      table === undefined ? undefined : Object.entries(table),
      typeof m.properties.messageId === 'string' ? m.properties.messageId : null,
      m.properties.contentType,
      HEADERS_IN,
    );
    const rec: BrokerRecord = {
      channel: this.spec.channel,
      partition: 0,
      offset,
      key,
      headers,
      value: m.content,
      timestamp: typeof m.properties.timestamp === 'number' ? m.properties.timestamp * 1000 : Date.now(),
    };
    this.deliveries.deliver(rec);
  }

  pause(): void {
    this.deliveries.pause();
  }
  resume(): void {
    this.deliveries.resume();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    const e = this.inFlight.get(record.offset);
    if (e === undefined) return;
    this.inFlight.delete(record.offset);
    try {
      if (outcome === 'ack') e.ch.ack(e.m);
      else e.ch.nack(e.m, false, true);
    } catch {
      // its channel is closed: the server gave its unacked messages back to the queue itself
    }
  }
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    const ch = this.channel;
    if (ch === undefined) return;
    await ch.cancel(this.tag).catch(() => {});
    // unacked messages go back to the queue when the channel closes
    await ch.close().catch(() => {});
  }
}
