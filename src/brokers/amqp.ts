import amqp from 'amqplib';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { HeldDeliveries, headerValue, headersOut, redact, unreachable } from './common.js';

/**
 * AMQP 0-9-1 (RabbitMQ, amqplib). A channel name is a queue (kind queue) or a fanout exchange
 * (kind topic).
 * - queue: a shared durable queue, consumed with `prefetch(n)` (the server's backpressure) and
 *   manual acks: ack after success, `nack(requeue)` to give a message back.
 * - topic: an exclusive, auto-deleted queue per engine, bound to a durable fanout exchange named
 *   after the channel: every engine gets every message.
 * - publish: on a confirm channel (`sendToQueue` for queue outputs, `publish` to the fanout
 *   exchange for topic outputs), persistent, honouring `drain`; resolved by the broker's confirms.
 * CloudEvents binary mode uses `cloudEvents:` application properties; `content-type` maps to the
 * content_type property.
 */

export interface AmqpAdapterOptions {
  readonly name: string;
  readonly url: string;
  /** Unacked messages the server may hand this engine per subscription (default 1024). */
  readonly prefetch?: number;
  /** Passed to amqplib's connect (TLS, heartbeat, ...). */
  readonly socket?: Record<string, unknown>;
}

const CE_PREFIX = 'cloudEvents:';

class AmqpConsumer implements Consumer {
  private seq = 0;
  private readonly inFlight = new Map<string, amqp.ConsumeMessage>();
  tag = '';

  private readonly deliveries: HeldDeliveries;

  constructor(
    private readonly channel: amqp.Channel,
    private readonly name: string,
    onBatch: BatchListener,
  ) {
    // while paused, deliveries (at most `prefetch` unacked) wait here
    this.deliveries = new HeldDeliveries(onBatch);
  }

  deliver(m: amqp.ConsumeMessage | null): void {
    if (m === null) return; // consumer cancelled by the server
    const offset = String(this.seq++);
    this.inFlight.set(offset, m);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.properties.headers ?? {})) headers[k] = headerValue(v);
    if (typeof m.properties.contentType === 'string') headers['content-type'] = m.properties.contentType;
    const rec: BrokerRecord = {
      channel: this.name,
      partition: 0,
      offset,
      key: typeof m.properties.messageId === 'string' ? m.properties.messageId : null,
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
    const m = this.inFlight.get(record.offset);
    if (m === undefined) return;
    this.inFlight.delete(record.offset);
    if (outcome === 'ack') this.channel.ack(m);
    else this.channel.nack(m, false, true);
  }
  async close(): Promise<void> {
    await this.channel.cancel(this.tag).catch(() => {});
    // unacked messages go back to the queue when the channel closes
    await this.channel.close().catch(() => {});
  }
}

export class AmqpAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: AmqpAdapterOptions;
  private connection!: amqp.ChannelModel;
  private confirm!: amqp.ConfirmChannel;
  private readonly consumers: AmqpConsumer[] = [];
  private readonly exchanges = new Set<string>();

  constructor(options: AmqpAdapterOptions) {
    this.name = options.name;
    this.options = options;
  }

  /** The AMQP server URL without the queue path of a `--from` URL. */
  private serverUrl(): string {
    const u = new URL(this.options.url);
    u.pathname = u.pathname.split('/').length > 2 ? `/${u.pathname.split('/')[1]}` : '/';
    return u.toString().replace(/\/$/, '');
  }

  async connect(): Promise<void> {
    try {
      this.connection = await amqp.connect(this.serverUrl(), this.options.socket);
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
    this.connection.on('error', (err: Error) =>
      process.stderr.write(`wasmsg: amqp ${redact(this.options.url)}: ${err.message}\n`),
    );
    this.confirm = await this.connection.createConfirmChannel();
  }

  private async exchange(name: string, ch: amqp.Channel): Promise<void> {
    if (this.exchanges.has(name)) return;
    await ch.assertExchange(name, 'fanout', { durable: true });
    this.exchanges.add(name);
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    const ch = await this.connection.createChannel();
    await ch.prefetch(this.options.prefetch ?? 1024);
    let queue: string;
    if (spec.kind === 'queue') {
      queue = spec.channel;
      await ch.assertQueue(queue, { durable: true });
    } else {
      await this.exchange(spec.channel, ch);
      queue = (await ch.assertQueue('', { exclusive: true, autoDelete: true })).queue;
      await ch.bindQueue(queue, spec.channel, '');
    }
    const consumer = new AmqpConsumer(ch, spec.channel, onBatch);
    consumer.tag = (await ch.consume(queue, (m) => consumer.deliver(m), { noAck: false })).consumerTag;
    this.consumers.push(consumer);
    return consumer;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    const ch = this.confirm;
    for (const r of records) {
      const headers = headersOut(r.headers, CE_PREFIX);
      const contentType = headers['content-type'];
      delete headers['content-type'];
      const props: amqp.Options.Publish = {
        persistent: true,
        headers,
        ...(contentType === undefined ? {} : { contentType }),
      };
      const body = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      let ok: boolean;
      if (r.kind === 'queue') {
        ok = ch.sendToQueue(r.channel, body, props);
      } else {
        await this.exchange(r.channel, ch);
        ok = ch.publish(r.channel, '', body, props);
      }
      if (!ok) await new Promise<void>((resolve) => ch.once('drain', resolve));
    }
    await ch.waitForConfirms();
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.confirm?.close().catch(() => {});
    await this.connection?.close().catch(() => {});
  }
}
