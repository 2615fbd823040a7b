import {
  AckPolicy,
  DeliverPolicy,
  type ConnectionOptions,
  type Consumer as JsConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
  connect,
  headers as natsHeaders,
  nanos,
} from 'nats';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { HeldDeliveries, headerValue, headersOut, redact, sleep, unreachable } from './common.js';

/**
 * NATS (nats.js). A channel is a subject.
 * JetStream (default, at-least-once): a stream covering the subject is found (`streams.find`)
 * or created (`WASMSG_<subject>`); queue = a durable pull consumer named after the group,
 * shared by every engine in the group; topic = an ephemeral pull consumer per engine (each gets
 * every message). Batches are pulled with `fetch` only while the engine is not paused; every
 * message is acked explicitly (`ack`) or given back (`nak`); `max_ack_pending` bounds what the
 * server hands out. Publish is `js.publish`, confirmed by its PubAck.
 * Core NATS (`jetstream: false`, URL scheme `nats-core:`): at-most-once — queue group vs plain
 * subscription, nothing to ack, publish confirmed by a flush only. Documented as such.
 * CloudEvents binary mode uses `ce-` headers.
 */

export interface NatsAdapterOptions {
  readonly name: string;
  readonly url: string;
  readonly jetstream?: boolean;
  /** Messages per pull (default 256). */
  readonly batch?: number;
  /** Server-side bound of unacked messages per consumer (default 4096). */
  readonly maxAckPending?: number;
  /** Redelivery after this long without an ack (default 30 s). */
  readonly ackWaitMs?: number;
  /** A pull waits this long for messages on a quiet stream (default 1000 ms; messages that
   * arrive meanwhile are handed over at once). */
  readonly fetchExpiresMs?: number;
  /** Passed to nats.js connect (user, pass, token, tls, ...). */
  readonly client?: Partial<ConnectionOptions>;
}

const CE_PREFIX = 'ce-';

function hdrsToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const k of h.keys()) out[k] = headerValue(h.get(k));
  return out;
}

function streamNameFor(subject: string): string {
  return `WASMSG_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

class JetStreamConsumer implements Consumer {
  private paused = false;
  private wake: (() => void) | undefined;
  private readonly stop = new AbortController();
  private readonly inFlight = new Map<string, JsMsg>();
  /** The pull in progress, stopped by close() rather than waited out. */
  private fetching: { stop(): void } | undefined;
  readonly loop: Promise<void>;

  constructor(
    private readonly adapter: NatsAdapter,
    private readonly consumer: JsConsumer,
    private readonly spec: SubscribeSpec,
    private readonly onBatch: BatchListener,
    private readonly ephemeral: { jsm: JetStreamManager; stream: string; name: string } | undefined,
  ) {
    this.loop = this.run();
  }

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    const m = this.inFlight.get(record.offset);
    if (m === undefined) return;
    this.inFlight.delete(record.offset);
    if (outcome === 'ack') m.ack();
    else m.nak();
  }
  async close(): Promise<void> {
    this.stop.abort();
    this.wake?.();
    this.fetching?.stop();
    await this.loop.catch(() => {});
    if (this.ephemeral !== undefined)
      await this.ephemeral.jsm.consumers.delete(this.ephemeral.stream, this.ephemeral.name).catch(() => {});
  }

  private async run(): Promise<void> {
    const max = this.adapter.options.batch ?? 256;
    const expires = this.adapter.options.fetchExpiresMs ?? 1000;
    while (!this.stop.signal.aborted) {
      if (this.paused) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      try {
        const messages = await this.consumer.fetch({ max_messages: max, expires });
        this.fetching = messages;
        // A fetch ends when `max` messages came or it expired: hand over what arrived in each
        // turn of the event loop instead of waiting for the end (with fewer than `max` waiting,
        // every message sat out the whole expiry: 1 s of latency, and the tail of a backlog
        // stalled for that long).
        let batch: BrokerRecord[] = [];
        let flushing = false;
        const flush = (): void => {
          flushing = false;
          if (batch.length === 0) return;
          const ready = batch;
          batch = [];
          this.onBatch(ready);
        };
        for await (const m of messages) {
          const offset = String(m.seq);
          this.inFlight.set(offset, m);
          if (!flushing) {
            flushing = true;
            setImmediate(flush);
          }
          batch.push({
            channel: m.subject,
            partition: 0,
            offset,
            key: null,
            headers: hdrsToRecord(m.headers),
            value: m.data,
            timestamp: Math.floor(m.info.timestampNanos / 1e6),
          });
        }
        flush();
      } catch (err) {
        if (this.stop.signal.aborted) return;
        this.adapter.fail(err);
        await sleep(500, this.stop.signal);
      }
    }
  }
}

class CoreConsumer implements Consumer {
  private seq = 0;
  private readonly deliveries: HeldDeliveries;
  constructor(
    private readonly sub: Subscription,
    onBatch: BatchListener,
  ) {
    this.deliveries = new HeldDeliveries(onBatch);
    void (async () => {
      for await (const m of sub) this.push(m);
    })();
  }
  private push(m: Msg): void {
    const rec: BrokerRecord = {
      channel: m.subject,
      partition: 0,
      offset: String(this.seq++),
      key: null,
      headers: hdrsToRecord(m.headers),
      value: m.data,
      timestamp: Date.now(),
    };
    this.deliveries.deliver(rec);
  }
  pause(): void {
    this.deliveries.pause();
  }
  resume(): void {
    this.deliveries.resume();
  }
  settle(): void {}
  async close(): Promise<void> {
    this.sub.unsubscribe();
  }
}

export class NatsAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: NatsAdapterOptions;
  private nc!: NatsConnection;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly consumers: Consumer[] = [];
  private readonly streams = new Set<string>();

  constructor(options: NatsAdapterOptions) {
    this.name = options.name;
    this.options = options;
  }

  fail(err: unknown): void {
    process.stderr.write(
      `wasmsg: nats ${redact(this.options.url)}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
  }

  private get jetstream(): boolean {
    return this.options.jetstream ?? !this.options.url.startsWith('nats-core:');
  }

  async connect(): Promise<void> {
    const u = new URL(this.options.url.replace(/^nats-core:/, 'nats:'));
    try {
      this.nc = await connect({
        servers: `${u.hostname}:${u.port === '' ? 4222 : u.port}`,
        ...(u.username === '' ? {} : { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) }),
        reconnect: true,
        maxReconnectAttempts: -1,
        ...this.options.client,
      });
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
    if (this.jetstream) {
      this.js = this.nc.jetstream();
      this.jsm = await this.nc.jetstreamManager();
    }
  }

  /** The stream that stores `subject`, created when none does. */
  private async streamFor(subject: string): Promise<string> {
    try {
      return await this.jsm!.streams.find(subject);
    } catch {
      const name = streamNameFor(subject);
      await this.jsm!.streams.add({ name, subjects: [subject] });
      return name;
    }
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    if (!this.jetstream) {
      const sub = this.nc.subscribe(spec.channel, spec.kind === 'queue' ? { queue: spec.group ?? 'wasmsg' } : {});
      const c = new CoreConsumer(sub, onBatch);
      this.consumers.push(c);
      // the server has the subscription once it answered a PING sent after it: from then on
      // nothing published is missed (core NATS keeps nothing for a subscriber not there yet)
      await this.nc.flush();
      return c;
    }
    const jsm = this.jsm!;
    const stream = await this.streamFor(spec.channel);
    const config = {
      ack_policy: AckPolicy.Explicit,
      filter_subject: spec.channel,
      max_ack_pending: this.options.maxAckPending ?? 4096,
      ack_wait: nanos(this.options.ackWaitMs ?? 30_000),
    };
    let name: string;
    let ephemeral: { jsm: JetStreamManager; stream: string; name: string } | undefined;
    if (spec.kind === 'queue') {
      name = spec.group ?? 'wasmsg';
      try {
        await jsm.consumers.info(stream, name);
      } catch {
        await jsm.consumers.add(stream, { ...config, durable_name: name, deliver_policy: DeliverPolicy.All });
      }
    } else {
      const info = await jsm.consumers.add(stream, {
        ...config,
        deliver_policy: DeliverPolicy.New,
        inactive_threshold: nanos(60_000),
      });
      name = info.name;
      ephemeral = { jsm, stream, name };
    }
    const consumer = await this.js!.consumers.get(stream, name);
    const c = new JetStreamConsumer(this, consumer, spec, onBatch, ephemeral);
    this.consumers.push(c);
    return c;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    const send = (r: OutRecord): { data: Uint8Array; opts: { headers?: MsgHdrs } } => {
      const h = Object.keys(r.headers).length === 0 ? undefined : natsHeaders();
      if (h !== undefined) for (const [k, v] of Object.entries(headersOut(r.headers, CE_PREFIX))) h.set(k, v);
      return { data: r.value, opts: h === undefined ? {} : { headers: h } };
    };
    if (this.js === undefined) {
      for (const r of records) {
        const { data, opts } = send(r);
        this.nc.publish(r.channel, data, opts);
      }
      await this.nc.flush();
      return;
    }
    for (const r of records) {
      if (!this.streams.has(r.channel)) {
        // JetStream only confirms subjects a stream stores: find or create one, once per subject
        await this.streamFor(r.channel);
        this.streams.add(r.channel);
      }
    }
    await Promise.all(
      records.map((r) => {
        const { data, opts } = send(r);
        return this.js!.publish(r.channel, data, opts);
      }),
    );
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.nc?.drain().catch(() => {});
  }
}
