import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import {
  DeliveryOffsets,
  HeldDeliveries,
  headerNameIn,
  headerNameOut,
  publishFailed,
  refused,
  setHeader,
  subscribeFailed,
  warnLine,
} from './common.js';
import { DEFAULTS } from './adapter-defaults.js';
import { checkOwnOptions } from './adapter-options.js';
import { type ConnectOptions, connectDeadline, connectWithin } from './deadline.js';
import { type HeadersInRule, type HeadersOutRule, KeyHeaderDrops, headersOut, keyAndHeaders } from './key-header.js';
import { endRefused } from './mqtt-end.js';
import { badFilter, badMqttChar, badSharedFilter, badTopic, mqttString, subscribeRefusal } from './mqtt-text.js';

/**
 * MQTT 5 (mqtt.js), QoS 1, persistent sessions. A channel is a topic filter.
 * - queue: a shared subscription `$share/<group>/<topic>`; topic: a plain subscription.
 * - Each subscription has its own client with a fixed client id (`<clientId>-<n>`) and a
 *   persistent session, so what was delivered but never acknowledged is redelivered when the
 *   engine comes back (with a generated client id, only within the run: see `clientId`).
 * - Messages published at QoS 0 arrive at QoS 0 (the lower of the two): handed over as they
 *   come, nothing to acknowledge (at most once, as their publisher chose).
 * - PUBACK only after the handler succeeded and its outputs were confirmed. mqtt.js sends the
 *   PUBACK from the same callback that lets it read the next packet (one message at a time),
 *   so the adapter lets the callback run at once and holds the PUBACK packet itself until the
 *   engine settles the message; PUBACKs go out in the order the messages arrived (MQTT requires
 *   it), i.e. up to the first unsettled one. The broker's in-flight limit (`receiveMaximum`;
 *   Mosquitto's default max_inflight_messages is 20) is the backpressure.
 * - A nack is not possible in MQTT: the message stays unacknowledged and comes back on the next
 *   connection of the session.
 * - Reconnection (mqtt.js, every second): the filter is subscribed again on each one (Mosquitto
 *   2.0 does not restore shared subscriptions after its restart); PUBACKs held for the lost
 *   connection are dropped, the server redelivers those messages (duplicates, at-least-once).
 * - publish: QoS 1, resolved on PUBACK. CloudEvents binary mode uses unprefixed user properties.
 *   A record's key is the user property `wasmsg-key` (MQTT has no message key; an output's own
 *   header of that name is not sent, and a warning says so once per topic: key-header.ts), read
 *   back as the key of an inbound message (its first value when it repeats; a repeated user
 *   property that is a header has its values joined with `,`).
 * - What MQTT cannot carry: a server disconnects a client whose packet has a string with a
 *   control character (TAB, CR, LF, ESC, DEL, C1), a Unicode non-character or an unpaired
 *   surrogate — and mqtt.js sends the same packet again after reconnecting, forever. User
 *   property names and values and the content type are therefore percent-encoded for exactly
 *   those characters (`%0A`; a `%` in such a text becomes `%25`, so `decodeURIComponent` gives
 *   the original) — and a name with a `%` has it sent as `%25`, so no two names share a wire
 *   name (read back decoded: headerNameOut / headerNameIn in common.ts); a topic with one, with
 *   a wildcard (`+`, `#`), starting with `$` (the server's), empty, or longer than 65 535 bytes
 *   is refused: the publish rejects with a BrokerError (E_BAD_INPUT) before anything is sent.
 */

export interface MqttAdapterOptions extends ConnectOptions {
  /**
   * Client id prefix, stable across restarts: what a stopped run held waits in its sessions for
   * the next start. Without one (`wasmsg-<random>`), a session lives for the run (10 minutes
   * past a lost connection) and a graceful stop ends it: no later run would resume it, and a
   * session left in a shared subscription's group would keep taking its share of the messages.
   */
  readonly clientId?: string;
  /** Messages the broker may send before acks (MQTT 5 receive maximum; default 1000). */
  readonly receiveMaximum?: number;
  /** Passed to mqtt.js (username, password, TLS, ...). */
  readonly client?: IClientOptions;
}

/** QoS 0 messages, and payload bytes, a consumer holds while the engine is paused; past either they are dropped (at most once). */
export const QOS0_HELD_LIMIT = 16_384;
export const QOS0_HELD_BYTES = 64 << 20;

/** Session expiry of a consumer whose client id was generated (no later run resumes it), seconds. */
const GENERATED_SESSION_S = 600;

/** How user property names are read: percent-decoded (headerNameIn). */
const HEADERS_IN: HeadersInRule = { rename: headerNameIn };

interface Held {
  done: boolean;
  send: (() => void) | undefined;
}

type SendPacket = (packet: { cmd: string }, cb?: () => void, ...rest: unknown[]) => void;

class MqttConsumer implements Consumer {
  private readonly offsets = new DeliveryOffsets();
  /** Receive order: PUBACKs are sent for the settled prefix. */
  private readonly order: Held[] = [];
  private readonly byOffset = new Map<string, Held>();
  private pendingPuback: Held | undefined;

  private readonly deliveries: HeldDeliveries;

  constructor(
    readonly client: MqttClient,
    onBatch: BatchListener,
    /** Its client id is the user's: a later run resumes its session (else close ends it). */
    private readonly resumable: boolean,
    url: string,
  ) {
    // QoS 0 messages are droppable past QOS0_HELD_LIMIT or QOS0_HELD_BYTES held while paused:
    // receiveMaximum bounds QoS 1 and 2 only, and nothing else what the server sends a paused
    // subscriber
    this.deliveries = new HeldDeliveries(onBatch, {
      messages: QOS0_HELD_LIMIT,
      bytes: QOS0_HELD_BYTES,
      dropped: (n) =>
        warnLine(
          'mqtt',
          url,
          `${n} QoS 0 messages dropped while the engine was paused (more than ${QOS0_HELD_LIMIT} messages or ${QOS0_HELD_BYTES >> 20} MiB came meanwhile; QoS 0 is at most once)`,
        ),
    });
    // A lost connection takes its unacknowledged messages with it: the server sends them again
    // on the next one (with new packet ids to acknowledge). PUBACKs held for the old connection
    // are dropped, or one never settled (a nack) would hold back every PUBACK after it forever.
    client.on('close', () => {
      this.order.length = 0;
      this.byOffset.clear();
      this.pendingPuback = undefined;
    });
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
    const rec = this.record(topic, message, packet);
    const held: Held = { done: false, send: undefined };
    this.order.push(held);
    this.byOffset.set(rec.offset, held);
    this.pendingPuback = held;
    ack(0); // → _sendPacket(puback) above: held, not sent
    this.deliveries.deliver(rec);
  }

  /**
   * A QoS 0 message (published at QoS 0: the server delivers at the lower of the two QoS).
   * mqtt.js hands it over as a 'message' event, without the ack hook; there is nothing to
   * acknowledge: at most once, as its publisher chose.
   */
  receiveOnce(topic: string, message: Buffer, packet: Parameters<MqttConsumer['receive']>[2]): void {
    this.deliveries.deliver(this.record(topic, message, packet), true);
  }

  private record(
    topic: string,
    message: Buffer,
    packet: { properties?: { userProperties?: Record<string, unknown>; contentType?: string } },
  ): BrokerRecord {
    const props = packet.properties;
    const table = props?.userProperties;
    const { key, headers } = keyAndHeaders(
      table === undefined ? undefined : Object.entries(table),
      null,
      props?.contentType,
      HEADERS_IN,
    );
    return {
      channel: topic,
      partition: 0,
      offset: this.offsets.next(),
      key,
      headers,
      value: message,
      timestamp: Date.now(),
    };
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
    // Unacknowledged messages stay in the persistent session for the next start; a session no
    // run will resume is ended (DISCONNECT with a session expiry of 0), or it would stay in its
    // shared subscription's group, taking messages nobody reads. Either way a DISCONNECT, sent
    // after the PUBACKs written before it: mqtt.js's end(true) destroys the socket with them
    // still unsent, and the resumed session handed their messages to the next run again.
    if (!this.client.connected) await this.client.endAsync(true);
    else if (this.resumable) await this.client.endAsync(false);
    else await this.client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
  }
}

export class MqttAdapter implements BrokerAdapter {
  readonly name: string;
  /** World C's `format` of this broker's records. */
  readonly format = 'mqtt' as const;
  readonly dropsUnread = 'an MQTT broker keeps no message for a topic no session subscribes to';
  readonly options: MqttAdapterOptions;
  private publisher!: MqttClient;
  private readonly consumers: MqttConsumer[] = [];
  private readonly clientId: string;
  /** How an output's headers go out: unprefixed CloudEvents, the key in `wasmsg-key` (encoded after). */
  private readonly headersRule: HeadersOutRule;

  constructor(options: MqttAdapterOptions) {
    checkOwnOptions('mqtt', options); // (createBroker's check, for an adapter made by hand)
    this.name = options.name;
    this.options = options;
    this.clientId = options.clientId ?? `wasmsg-${randomBytes(4).toString('hex')}`;
    const why = 'MQTT has no message key';
    this.headersRule = {
      prefix: '',
      keyHeader: new KeyHeaderDrops(options.name, { kind: 'mqtt', url: options.url, why }),
    };
  }

  private serverUrl(): string {
    const u = new URL(this.options.url);
    return `${u.protocol}//${u.host}`;
  }

  private async client(opts: IClientOptions): Promise<MqttClient> {
    const u = new URL(this.options.url);
    const ms = connectDeadline(this.options, this.options.client?.connectTimeout);
    const connect = (): Promise<MqttClient> =>
      mqtt.connectAsync(
        this.serverUrl(),
        {
          protocolVersion: 5,
          reconnectPeriod: 1000,
          ...(u.username === ''
            ? {}
            : { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }),
          ...this.options.client,
          ...opts,
          // mqtt.js's own (to CONNACK), each reconnection's too: past it, it closes its socket
          connectTimeout: ms,
        },
        false,
      );
    const client = await connectWithin(this.options, ms, connect, (late) => late?.end(true));
    // mqtt.js emits 'error' (keepalive timeout, refused packets): with no listener, that would
    // end the process
    client.on('error', (err) => warnLine('mqtt', this.options.url, err));
    return client;
  }

  async connect(): Promise<void> {
    this.publisher = await this.client({ clientId: `${this.clientId}-pub`, clean: true });
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    const group = spec.group ?? 'wasmsg';
    const filter = spec.kind === 'queue' ? `$share/${group}/${spec.channel}` : spec.channel;
    // (refused before a client is made: see badFilter)
    const bad = spec.kind === 'queue' ? badSharedFilter(group, spec.channel) : badFilter(filter);
    const shown = filter.length > 80 ? `${filter.slice(0, 64)}…` : filter;
    if (bad !== undefined)
      throw refused('mqtt', this.options.url, bad, { channel: spec.channel }, `subscribe to '${shown}'`);
    // the consumer needs the client and the client's ack hook needs the consumer
    const ref: { consumer?: MqttConsumer } = {};
    const early: Array<Parameters<MqttConsumer['receive']>> = [];
    const client = await this.client({
      clientId: `${this.clientId}-${this.consumers.length}`,
      clean: false,
      properties: {
        sessionExpiryInterval: this.options.clientId === undefined ? GENERATED_SESSION_S : 24 * 3600,
        receiveMaximum: this.options.receiveMaximum ?? DEFAULTS.mqtt.receiveMaximum,
      },
      // A persistent session redelivers what it holds right after CONNACK, before the consumer
      // exists: those wait (unacknowledged, and mqtt.js reads no further) until it does.
      customHandleAcks: (topic, message, packet, cb) => {
        if (ref.consumer === undefined) early.push([topic, message, packet, cb]);
        else ref.consumer.receive(topic, message, packet, cb);
      },
    });
    const consumer = new MqttConsumer(client, onBatch, this.options.clientId !== undefined, this.options.url);
    ref.consumer = consumer;
    // QoS 1 and 2 come through customHandleAcks; QoS 0 only as this event
    client.on('message', (topic, message, packet) => {
      if (packet.qos === 0) consumer.receiveOnce(topic, message, packet);
    });
    for (const [topic, message, packet, cb] of early.splice(0)) consumer.receive(topic, message, packet, cb);
    // a filter mqtt.js refuses, or a SUBACK refusing it (reason code ≥ 0x80, e.g. not authorized:
    // mqtt.js rejects with the code), is E_BAD_INPUT; the connection lost meanwhile
    // E_BROKER_UNAVAILABLE. The start fails with the filter named, and this client is closed,
    // not left connected (nor its new session on the server: endRefused)
    try {
      await client.subscribeAsync(filter, { qos: 1 });
    } catch (err) {
      await endRefused(client);
      throw subscribeFailed('mqtt', this.options.url, `'${shown}'`, err, subscribeRefusal(err), {
        channel: spec.channel,
        kind: spec.kind,
      });
    }
    // Subscribe again on every reconnection: Mosquitto 2.0 keeps a persistent session across its
    // restart but not its shared ($share) subscriptions, and says the session is present, so
    // mqtt.js would not resubscribe. Retained messages are not sent again (rh 1).
    // (`resubscribe: true`: mqtt.js skips a filter it believes subscribed already)
    client.on('connect', () => {
      const again = { [filter]: { qos: 1, rh: 1 }, resubscribe: true } as unknown as Record<string, { qos: 1 }>;
      client.subscribe(again, (err) => {
        if (err) warnLine('mqtt', this.options.url, err);
      });
    });
    this.consumers.push(consumer);
    return consumer;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    const packets = records.map((r) => {
      const bad = badTopic(r.channel);
      if (bad !== undefined) throw refused('mqtt', this.options.url, bad, { channel: r.channel });
      const neutral = headersOut(r, this.headersRule);
      const contentType = neutral['content-type'];
      delete neutral['content-type'];
      const props: Record<string, string> = {};
      for (const [k, v] of Object.entries(neutral)) setHeader(props, headerNameOut(k, badMqttChar), mqttString(v));
      for (const [k, v] of Object.entries(props)) {
        if (Buffer.byteLength(k) > 65_535 || Buffer.byteLength(v) > 65_535)
          throw refused('mqtt', this.options.url, `user property '${k.slice(0, 40)}' longer than 65 535 bytes`, {
            channel: r.channel,
          });
      }
      return {
        topic: r.channel,
        body: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        // an empty userProperties object makes mqtt.js's encoder stall the publish: omit it
        properties: {
          ...(Object.keys(props).length === 0 ? {} : { userProperties: props }),
          ...(contentType === undefined ? {} : { contentType: mqttString(contentType) }),
        },
      };
    });
    try {
      await Promise.all(
        packets.map((p) => this.publisher.publishAsync(p.topic, p.body, { qos: 1, properties: p.properties })),
      );
    } catch (err) {
      throw publishFailed('mqtt', this.options.url, err);
    }
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.publisher?.endAsync().catch(() => {});
  }
}
