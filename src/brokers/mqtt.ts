import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { HeldDeliveries, headerValue, headersOut, redact, unreachable } from './common.js';

/**
 * MQTT 5 (mqtt.js), QoS 1, persistent sessions. A channel is a topic filter.
 * - queue: a shared subscription `$share/<group>/<topic>`; topic: a plain subscription.
 * - Each subscription has its own client with a fixed client id (`<clientId>-<n>`) and a
 *   persistent session, so what was delivered but never acknowledged is redelivered when the
 *   engine comes back.
 * - PUBACK only after the handler succeeded and its outputs were confirmed. mqtt.js sends the
 *   PUBACK from the same callback that lets it read the next packet (one message at a time),
 *   so the adapter lets the callback run at once and holds the PUBACK packet itself until the
 *   engine settles the message; PUBACKs go out in the order the messages arrived (MQTT requires
 *   it), i.e. up to the first unsettled one. The broker's in-flight limit (`receiveMaximum`;
 *   Mosquitto's default max_inflight_messages is 20) is the backpressure.
 * - A nack is not possible in MQTT: the message stays unacknowledged and comes back on the next
 *   connection of the session.
 * - publish: QoS 1, resolved on PUBACK. CloudEvents binary mode uses unprefixed user properties.
 */

export interface MqttAdapterOptions {
  readonly name: string;
  readonly url: string;
  /** Client id prefix, stable across restarts (default `wasmsg-<random>`: give one to resume sessions). */
  readonly clientId?: string;
  /** Messages the broker may send before acks (MQTT 5 receive maximum; default 1000). */
  readonly receiveMaximum?: number;
  /** Passed to mqtt.js (username, password, TLS, ...). */
  readonly client?: IClientOptions;
}

interface Held {
  done: boolean;
  send: (() => void) | undefined;
}

type SendPacket = (packet: { cmd: string }, cb?: () => void, ...rest: unknown[]) => void;

class MqttConsumer implements Consumer {
  private seq = 0;
  /** Receive order: PUBACKs are sent for the settled prefix. */
  private readonly order: Held[] = [];
  private readonly byOffset = new Map<string, Held>();
  private pendingPuback: Held | undefined;

  private readonly deliveries: HeldDeliveries;

  constructor(
    readonly client: MqttClient,
    onBatch: BatchListener,
  ) {
    this.deliveries = new HeldDeliveries(onBatch);
    // See the file comment: hold PUBACKs until settlement, let mqtt.js read on.
    const original = (client as unknown as { _sendPacket: SendPacket })._sendPacket.bind(client);
    (client as unknown as { _sendPacket: SendPacket })._sendPacket = (packet, cb, ...rest) => {
      const held = this.pendingPuback;
      if (packet.cmd === 'puback' && held !== undefined) {
        this.pendingPuback = undefined;
        held.send = () => original(packet, undefined, ...rest);
        cb?.();
        this.flush();
        return;
      }
      original(packet, cb, ...rest);
    };
  }

  /** customHandleAcks: called for each QoS 1 message, before mqtt.js reads the next one. */
  receive(
    topic: string,
    message: Buffer,
    packet: { properties?: { userProperties?: Record<string, unknown>; contentType?: string } },
    ack: (code: number) => void,
  ): void {
    const offset = String(this.seq++);
    const held: Held = { done: false, send: undefined };
    this.order.push(held);
    this.byOffset.set(offset, held);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(packet.properties?.userProperties ?? {})) headers[k] = headerValue(v);
    if (packet.properties?.contentType !== undefined) headers['content-type'] = packet.properties.contentType;
    const rec: BrokerRecord = {
      channel: topic,
      partition: 0,
      offset,
      key: null,
      headers,
      value: message,
      timestamp: Date.now(),
    };
    this.pendingPuback = held;
    ack(0); // → _sendPacket(puback) above: held, not sent
    this.deliveries.deliver(rec);
  }

  private flush(): void {
    while (this.order.length > 0 && this.order[0]!.done && this.order[0]!.send !== undefined)
      this.order.shift()!.send!();
  }

  pause(): void {
    this.deliveries.pause();
  }
  resume(): void {
    this.deliveries.resume();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    if (outcome === 'nack') return; // comes back with the next session
    const held = this.byOffset.get(record.offset);
    if (held === undefined) return;
    this.byOffset.delete(record.offset);
    held.done = true;
    this.flush();
  }
  async close(): Promise<void> {
    // Unacknowledged messages stay in the persistent session for the next start.
    await this.client.endAsync(true);
  }
}

export class MqttAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: MqttAdapterOptions;
  private publisher!: MqttClient;
  private readonly consumers: MqttConsumer[] = [];
  private readonly clientId: string;

  constructor(options: MqttAdapterOptions) {
    this.name = options.name;
    this.options = options;
    this.clientId = options.clientId ?? `wasmsg-${randomBytes(4).toString('hex')}`;
  }

  private serverUrl(): string {
    const u = new URL(this.options.url);
    return `${u.protocol}//${u.host}`;
  }

  private async client(opts: IClientOptions): Promise<MqttClient> {
    const u = new URL(this.options.url);
    try {
      return await mqtt.connectAsync(
        this.serverUrl(),
        {
          protocolVersion: 5,
          reconnectPeriod: 1000,
          connectTimeout: 5000,
          ...(u.username === ''
            ? {}
            : { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }),
          ...this.options.client,
          ...opts,
        },
        false,
      );
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
  }

  async connect(): Promise<void> {
    this.publisher = await this.client({ clientId: `${this.clientId}-pub`, clean: true });
    this.publisher.on('error', (err) =>
      process.stderr.write(`wasmsg: mqtt ${redact(this.options.url)}: ${err.message}\n`),
    );
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    // the consumer needs the client and the client's ack hook needs the consumer
    const ref: { consumer?: MqttConsumer } = {};
    const early: Array<Parameters<MqttConsumer['receive']>> = [];
    const client = await this.client({
      clientId: `${this.clientId}-${this.consumers.length}`,
      clean: false,
      properties: { sessionExpiryInterval: 24 * 3600, receiveMaximum: this.options.receiveMaximum ?? 1000 },
      // A persistent session redelivers what it holds right after CONNACK, before the consumer
      // exists: those wait (unacknowledged, and mqtt.js reads no further) until it does.
      customHandleAcks: (topic, message, packet, cb) => {
        if (ref.consumer === undefined) early.push([topic, message, packet, cb]);
        else ref.consumer.receive(topic, message, packet, cb);
      },
    });
    const consumer = new MqttConsumer(client, onBatch);
    ref.consumer = consumer;
    for (const [topic, message, packet, cb] of early.splice(0)) consumer.receive(topic, message, packet, cb);
    const filter = spec.kind === 'queue' ? `$share/${spec.group ?? 'wasmsg'}/${spec.channel}` : spec.channel;
    await client.subscribeAsync(filter, { qos: 1 });
    this.consumers.push(consumer);
    return consumer;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    await Promise.all(
      records.map((r) => {
        const props = headersOut(r.headers, '');
        const contentType = props['content-type'];
        delete props['content-type'];
        return this.publisher.publishAsync(
          r.channel,
          Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
          {
            qos: 1,
            // an empty userProperties object makes mqtt.js's encoder stall the publish: omit it
            properties: {
              ...(Object.keys(props).length === 0 ? {} : { userProperties: props }),
              ...(contentType === undefined ? {} : { contentType }),
            },
          },
        );
      }),
    );
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.publisher?.endAsync().catch(() => {});
  }
}
