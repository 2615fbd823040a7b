import {
  AckPolicy,
  DeliverPolicy,
  type ConnectionOptions,
  type Consumer as JsConsumer,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  nanos,
} from 'nats';
import { BrokerError, ErrorCode, OptionError, describe } from '../errors.js';
import type { BatchListener, BrokerAdapter, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { headerNameOut, percentEncode, publishFailed, redact, refused, subscribeFailed, warnLine } from './common.js';
import { DEFAULTS } from './adapter-defaults.js';
import { checkOwnOptions } from './adapter-options.js';
import { type ConnectOptions, connectDeadline, connectWithin } from './deadline.js';
import { type HeadersOutRule, KeyHeaderDrops, headersOut } from './key-header.js';
import { CoreConsumer, JetStreamConsumer, type PullTarget } from './nats-consumer.js';
import { connectNats } from './nats-transport.js';
import { isNotFound, natsRefusal, noJetStream } from './nats-errors.js';

/**
 * NATS (nats.js). A channel is a subject.
 * JetStream (default, at-least-once): a stream covering the subject is found (`streams.find`)
 * or created (`WASMSG_<subject>`, for inputs and outputs alike; `createStreams: false` refuses a
 * subject no stream stores instead); queue = a durable pull consumer named after the group,
 * shared by every engine in the group; topic = an ephemeral pull consumer per engine (each gets
 * every message). Batches are pulled with `fetch` only while the engine is not paused; every
 * message is acked explicitly (`ack`) or given back (`nak`); `max_ack_pending` bounds what the
 * server hands out. Publish is `js.publish`, confirmed by its PubAck.
 * Core NATS (`jetstream: false`, URL scheme `nats-core:`): at-most-once — queue group vs plain
 * subscription, nothing to ack, publish confirmed by a flush only. Documented as such.
 * CloudEvents binary mode uses `ce-` headers.
 *
 * What NATS cannot carry, and what is done instead:
 * - a record's key: NATS has none; it travels in the header `wasmsg-key` (read back as the key;
 *   an output's own header of that name is not sent: only the key is; a warning says so once
 *   per subject, key-header.ts).
 * - header values with CR or LF, or with whitespace at either end (nats.js trims it), and header
 *   names with characters outside `!`..`~` or a `:`: percent-encoded (`%0A`, `%20`; a `%` in such
 *   a value becomes `%25`, so `decodeURIComponent` gives the original). Other values pass
 *   unchanged. A name with a `%` has it sent as `%25` too, so that no two names share a wire
 *   name; the consumer reads names back decoded (headerNameOut / headerNameIn in common.ts).
 * - a subject that is empty, has an empty token, a wildcard token (`*`, `>`), whitespace or
 *   control characters, or starts with `$JS.` / `$SYS.` (the server's API): refused, the publish
 *   rejects with a BrokerError (E_BAD_INPUT) — nats.js would write it into the protocol as it is.
 *
 * Server restarts: nats.js reconnects (forever, every second). A pull that fails is retried, and
 * the stream and the consumer are looked up again first: when the server lost them (restarted
 * without its store, or deleted), they are created again — a durable after the last message this
 * engine was given if the stream survived, from the start of a stream that is new. A publish the
 * server did not confirm (timeout while it was away, no stream) rejects with E_PUBLISH_FAILED;
 * "no stream for this subject" is answered by creating the stream and publishing once more.
 *
 * This file is the adapter (connection, streams and consumers found or created, publish); the
 * consumers that pull and settle are in brokers/nats-consumer.ts.
 */

export interface NatsAdapterOptions extends ConnectOptions {
  readonly jetstream?: boolean;
  /** Messages per pull (default: about 1 MiB of them at the message size seen, the first 1, at most 1024). */
  readonly batch?: number;
  /** Server-side bound of unacked messages per consumer (default 4096). */
  readonly maxAckPending?: number;
  /** Redelivery after this long without an ack (default 30 s). */
  readonly ackWaitMs?: number;
  /** A pull waits this long for messages on a quiet stream (default 1000 ms; messages that
   * arrive meanwhile are handed over at once). */
  readonly fetchExpiresMs?: number;
  /**
   * A JetStream publish waits this long for its PubAck before it rejects (default 5000 ms): while
   * the server is away, each attempt of the engine to publish an output takes this long.
   */
  readonly publishTimeoutMs?: number;
  /** Passed to nats.js connect (user, pass, token, tls, ...). */
  readonly client?: Partial<ConnectionOptions>;
  /**
   * A subject that no JetStream stream stores — an input, or an output the adapter publishes to —
   * gets a stream `WASMSG_<subject>` created for it (default true). false: such a subject is an
   * error, for deployments whose streams are managed elsewhere.
   */
  readonly createStreams?: boolean;
}

const CE_PREFIX = 'ce-';

/** Header names NATS takes: printable ASCII but `:` (nats.js refuses the rest; `%` see headerNameOut). */
const badNameChar = (cp: number): boolean => cp < 33 || cp > 126 || cp === 58;
/** Header values: no CR or LF, and no whitespace at either end (nats.js trims it on both sides). */
const badValueChar = (cp: number, i: number, text: string): boolean =>
  cp === 10 || cp === 13 || ((i === 0 || i === text.length - 1) && /\s/.test(String.fromCharCode(cp)));

/** The header as NATS can carry it: see the file comment. */
export function natsHeaderName(name: string): string {
  return headerNameOut(name, badNameChar);
}
export function natsHeaderValue(value: string): string {
  return percentEncode(value, badValueChar);
}

/** Why `subject` cannot be published to, or undefined when it can. */
export function badSubject(subject: string): string | undefined {
  if (subject === '') return 'an empty subject';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(subject)) return `subject '${subject}' has whitespace or control characters`;
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) return `subject '${subject}' has an empty token`;
  if (tokens.some((t) => t === '*' || t === '>')) return `subject '${subject}' has a wildcard`;
  if (subject.startsWith('$JS.') || subject.startsWith('$SYS.')) return `subject '${subject}' is the server's API`;
  return undefined;
}

function streamNameFor(subject: string): string {
  return `WASMSG_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** nats.js connect options of a wasmsg NATS URL: the server and the URL's user and password. */
export function natsOptions(url: string): { servers: string; user?: string; pass?: string } {
  const u = new URL(url.replace(/^nats-core:/, 'nats:'));
  return {
    servers: `${u.hostname}:${u.port === '' ? 4222 : u.port}`,
    ...(u.username === '' ? {} : { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) }),
  };
}

export class NatsAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: NatsAdapterOptions;
  private nc!: NatsConnection;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly consumers: Consumer[] = [];
  private readonly streams = new Set<string>();
  /** How an output's headers go out: `ce-`, the key in `wasmsg-key` (names and values encoded after). */
  private readonly headersRule: HeadersOutRule;

  constructor(options: NatsAdapterOptions) {
    checkOwnOptions('nats', options); // (createBroker's check, for an adapter made by hand)
    this.name = options.name;
    this.options = options;
    const keyHeader = new KeyHeaderDrops(options.name, {
      kind: 'nats',
      url: options.url,
      why: 'NATS has no message key',
    });
    this.headersRule = { prefix: CE_PREFIX, keyHeader };
  }

  private lastLine = '';
  private lastLineAt = 0;

  /** Background errors to stderr, the same text at most once every 10 s. */
  fail(err: unknown): void {
    const line = describe(err);
    const now = Date.now();
    if (line === this.lastLine && now - this.lastLineAt < 10_000) return;
    this.lastLine = line;
    this.lastLineAt = now;
    warnLine('nats', this.options.url, line);
  }

  /** A round trip: the server has handled what this connection sent before (a pull's UNSUB). */
  async roundTrip(): Promise<void> {
    await this.nc.flush();
  }
  get manager(): JetStreamManager {
    return this.jsm!;
  }

  private get jetstream(): boolean {
    return this.options.jetstream ?? !this.options.url.startsWith('nats-core:');
  }

  /** Core NATS (no JetStream) delivers to whoever subscribes at that moment, and keeps nothing. */
  get dropsUnread(): string | undefined {
    return this.jetstream ? undefined : 'core NATS keeps no message for a subject nobody subscribes to';
  }

  async connect(): Promise<void> {
    const ms = connectDeadline(this.options, this.options.client?.timeout);
    // nats.js's own `timeout` is the deadline too: the socket is nats.js's, and only its timeout
    // (through the transport of nats-transport.ts: nats.js's own close of a connection that never
    // completed its handshake leaves the socket open) closes it; it bounds each reconnection too
    const connect = (): Promise<NatsConnection> =>
      connectNats({
        ...natsOptions(this.options.url),
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        ...this.options.client,
        timeout: ms,
        // a user's waitOnFirstConnect: true had nats.js retry a first connect for good, after
        // start() had failed at the deadline, and the process stay alive
        waitOnFirstConnect: false,
      });
    this.nc = await connectWithin(this.options, ms, connect, (late) => late?.close());
    if (this.jetstream) {
      this.js = this.nc.jetstream({ timeout: this.options.publishTimeoutMs ?? DEFAULTS.nats.publishTimeoutMs });
      try {
        this.jsm = await this.nc.jetstreamManager();
      } catch (err) {
        // a server (or account) without JetStream answers its API with "no responders": nats.js
        // rejects with a NatsError whose whole message is "503"; and the connection stays open
        await this.nc.close().catch(() => {});
        throw noJetStream(this.options.url, err);
      }
    }
  }

  /** The stream that stores `subject`, created when none does. */
  private async streamFor(subject: string): Promise<string> {
    try {
      return await this.jsm!.streams.find(subject);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (this.options.createStreams === false) {
        throw new OptionError(
          ErrorCode.badOption,
          `nats: no JetStream stream stores subject '${subject}' (createStreams: false; create one, e.g. nats stream add)`,
          { option: 'createStreams', subject },
        );
      }
      const name = streamNameFor(subject);
      try {
        await this.jsm!.streams.add({ name, subjects: [subject] });
      } catch (e) {
        // created meanwhile by another engine (or another subscription of this one)
        return await this.jsm!.streams.find(subject).catch(() => Promise.reject(e));
      }
      return name;
    }
  }

  /** A core subscription, or a pull consumer (found or created) of the stream that stores the subject. */
  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    try {
      return await this.consume(spec, onBatch);
    } catch (err) {
      // before: nats.js's untyped errors (the server's `invalid subject`, its `invalid durable name`)
      const target = `subject '${spec.channel}'${spec.group === undefined ? '' : ` in group '${spec.group}'`}`;
      throw subscribeFailed('nats', this.options.url, target, err, natsRefusal(err), {
        channel: spec.channel,
        kind: spec.kind,
        ...(spec.group === undefined ? {} : { group: spec.group }),
      });
    }
  }

  private async consume(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    if (!this.jetstream) {
      const sub = this.nc.subscribe(spec.channel, spec.kind === 'queue' ? { queue: spec.group ?? 'wasmsg' } : {});
      const c = new CoreConsumer(sub, onBatch, this);
      this.consumers.push(c);
      // the server has the subscription once it answered a PING sent after it: from then on
      // nothing published is missed (core NATS keeps nothing for a subscriber not there yet)
      await this.nc.flush();
      return c;
    }
    const target: PullTarget = { spec, stream: '', name: '', ephemeral: spec.kind === 'topic' };
    const consumer = await this.restore(target, 0, 0);
    const c = new JetStreamConsumer(this, consumer, target, onBatch);
    this.consumers.push(c);
    return c;
  }

  private pullConfig(subject: string): Partial<ConsumerConfig> {
    return {
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
      max_ack_pending: this.options.maxAckPending ?? DEFAULTS.nats.maxAckPending,
      ack_wait: nanos(this.options.ackWaitMs ?? DEFAULTS.nats.ackWaitMs),
    };
  }

  /**
   * The pull consumer of `target`, found or created, with its stream. At subscribe (`lastSeq`
   * 0): a durable (queue) starts at the stream's beginning, an ephemeral one (topic) at new
   * messages. After a failed pull, when the server lost the consumer: from the message after
   * `lastSeq` if the stream is the one that message came from, or from the beginning of a
   * stream created after it (the server lost everything: whatever is in it now is new).
   */
  async restore(target: PullTarget, lastSeq: number, lastTime: number): Promise<JsConsumer> {
    const jsm = this.jsm!;
    const { spec } = target;
    target.stream = await this.streamFor(spec.channel);
    if (target.name !== '' || !target.ephemeral) {
      const name = target.name !== '' ? target.name : (spec.group ?? 'wasmsg');
      const found = await jsm.consumers.info(target.stream, name).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      if (found !== undefined) {
        // a durable of the stream filtering another subject (one stream, several subjects, one
        // group): reused, it would hand this subscription the other subject's messages
        const filters =
          found.config.filter_subjects ?? (found.config.filter_subject ? [found.config.filter_subject] : []);
        if (filters.length > 0 && !filters.includes(spec.channel))
          throw new BrokerError(
            ErrorCode.badOption,
            `nats ${redact(this.options.url)}: cannot consume '${spec.channel}' with the durable consumer '${name}' of stream '${target.stream}': it reads '${filters.join("', '")}'; give this subscription a group of its own`,
            { channel: spec.channel, group: name, stream: target.stream, filter: filters },
          );
        target.name = name;
        return this.js!.consumers.get(target.stream, name);
      }
    }
    let start: Partial<ConsumerConfig>;
    if (lastSeq === 0) start = { deliver_policy: target.ephemeral ? DeliverPolicy.New : DeliverPolicy.All };
    else {
      const info = await jsm.streams.info(target.stream);
      const created = Date.parse(info.created);
      start =
        created > lastTime
          ? { deliver_policy: DeliverPolicy.All }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 };
      this.fail(
        `consumer ${target.name === '' ? '' : `'${target.name}' `}of stream '${target.stream}' was lost by the server; created it again ${
          start.deliver_policy === DeliverPolicy.All ? 'from the start of the stream' : `after message ${lastSeq}`
        }`,
      );
    }
    const config = this.pullConfig(spec.channel);
    if (!target.ephemeral) {
      const name = spec.group ?? 'wasmsg';
      await jsm.consumers
        .add(target.stream, { ...config, ...start, durable_name: name })
        .catch(async (err: unknown) => {
          // another engine of the group created it meanwhile
          await jsm.consumers.info(target.stream, name).catch(() => Promise.reject(err));
        });
      target.name = name;
    } else {
      const info = await jsm.consumers.add(target.stream, { ...config, ...start, inactive_threshold: nanos(60_000) });
      target.name = info.name;
    }
    return this.js!.consumers.get(target.stream, target.name);
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    for (const r of records) {
      const bad = badSubject(r.channel);
      if (bad !== undefined) throw refused('nats', this.options.url, bad, { channel: r.channel });
    }
    const send = (r: OutRecord): { data: Uint8Array; opts: { headers?: MsgHdrs } } => {
      const hasKey = r.key !== undefined && r.key !== null;
      if (Object.keys(r.headers).length === 0 && !hasKey) return { data: r.value, opts: {} };
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headersOut(r, this.headersRule)))
        h.set(natsHeaderName(k), natsHeaderValue(v));
      return { data: r.value, opts: { headers: h } };
    };
    try {
      if (this.js === undefined) {
        for (const r of records) {
          const { data, opts } = send(r);
          this.nc.publish(r.channel, data, opts);
        }
        await this.nc.flush();
        return;
      }
      await Promise.all(records.map((r) => this.publishOne(r.channel, send(r))));
    } catch (err) {
      throw publishFailed('nats', this.options.url, err);
    }
  }

  /** One JetStream publish; a subject no stream stores (it was lost, or never made) gets one, once. */
  private async publishOne(subject: string, m: { data: Uint8Array; opts: { headers?: MsgHdrs } }): Promise<void> {
    if (!this.streams.has(subject)) {
      // JetStream only confirms subjects a stream stores: find or create one, once per subject
      await this.streamFor(subject);
      this.streams.add(subject);
    }
    try {
      await this.js!.publish(subject, m.data, m.opts);
    } catch (err) {
      if ((err as { code?: string }).code !== '503') throw err;
      // no responders: the server has no stream for it (any more): make one and publish again
      this.streams.delete(subject);
      await this.streamFor(subject);
      this.streams.add(subject);
      await this.js!.publish(subject, m.data, m.opts);
    }
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.nc?.drain().catch(() => {});
  }
}
