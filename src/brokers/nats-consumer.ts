import type { Consumer as JsConsumer, JsMsg, Msg, Subscription } from 'nats';
import type { BatchListener, BrokerRecord, Consumer, SequencedRecord, SubscribeSpec } from './adapter.js';
import { DEFAULTS } from './adapter-defaults.js';
import { DeliveryOffsets, HeldDeliveries, ReadSizer, headerNameIn, sleep, within } from './common.js';
import { type HeadersInRule, keyAndHeaders } from './key-header.js';
import type { NatsAdapter } from './nats.js';

/**
 * The NATS adapter's consumers (brokers/nats.ts is the adapter: connection, streams, publish):
 * a JetStream pull consumer (fetch while not paused, ack / nak per message, recreated through
 * the adapter when the server lost it) and a core NATS subscription (at-most-once).
 */

/**
 * JetStream's publish conditions (`Nats-Expected-Stream`, `-Last-Sequence`, `-Last-Msg-Id`,
 * `-Last-Subject-Sequence`): checked when the message was stored, and stored with it. Not the
 * message's data: a dead letter carrying them on was refused by its own stream ("expected
 * stream does not match") for as long as the engine ran.
 */
function isPublishCondition(name: string): boolean {
  // (a header a message: the first letter turns away almost every other name without a string)
  return (
    (name.charCodeAt(0) | 0x20) === 0x6e && name.length > 13 && name.slice(0, 13).toLowerCase() === 'nats-expected'
  );
}

/**
 * The server's per-message directives, carried on as data under a name of their own:
 * - `Nats-Msg-Id`, JetStream's deduplication id of the message as it was published. Carried on
 *   under its own name, it made JetStream drop what the engine published with it as a duplicate
 *   of the input — a dead letter (which copies its input's headers) or a relayed output to a
 *   subject of the same stream, within the stream's duplicate window: gone, and the input acked.
 *   It reaches the handler (and dead letters) as `x-wasmsg-nats-msg-id`.
 * - `Nats-Rollup` (a dead letter or relayed output carrying it was refused for good by a stream
 *   without rollups, "rollup not permitted", or purged its subject's earlier messages in one
 *   with them) and `Nats-TTL` (servers from 2.11: refused by a stream without per-message TTLs):
 *   `x-wasmsg-nats-rollup`, `x-wasmsg-nats-ttl`.
 */
const AS_DATA: ReadonlyMap<string, string> = new Map(
  ['Nats-Msg-Id', 'Nats-Rollup', 'Nats-TTL'].map((name) => [name, `x-wasmsg-${name.toLowerCase()}`]),
);

/** A header name as the record's: decoded, the server's directives as data, its publish conditions dropped. */
function nameIn(wire: string): string | undefined {
  const name = headerNameIn(wire);
  const data = AS_DATA.get(name);
  if (data !== undefined) return data;
  return isPublishCondition(name) ? undefined : name;
}

/**
 * A header's values (nats.js gives each name's as an array of strings), joined with `,` when it
 * repeats, as a repeated Kafka header's, MQTT user property's or AMQP array's are (common.ts
 * headerValue). Before, the first value alone: a producer's second value was lost.
 */
const joinedValues = (v: unknown): string => {
  const values = v as readonly string[];
  return values.length === 1 ? values[0]! : values.join(',');
};

/**
 * How a message's headers are read, by key-header.ts's one rule (keyAndHeaders), nats.js's
 * MsgHdrs taken as its [name, values] pairs (fewer objects than `keys()` and a `get` per name,
 * each `get` copying and filtering every name): its key from the `wasmsg-key` header (not kept
 * as a header), a repeated header's values joined (joinedValues). Names are read decoded
 * (headerNameIn), and the reserved ones matched on the decoded name: another producer's
 * `wasmsg%2Dkey` is the key (of two key headers, that and `wasmsg-key`, the first is, as the
 * first value of a repeated one is); its `Nats%2DMsg-Id` and `Nats%2DExpected-*` (and `-Rollup`,
 * `-TTL`) are the server's headers, as the literal ones are (above) — read as plain
 * `Nats-Msg-Id` / `Nats-Expected-*` headers, a handler forwarding them had JetStream act on them.
 * Of `Nats-Msg-Id` and `Nats%2DMsg-Id` both given (or `-Rollup`, `-TTL`), the first is the data
 * header's value, as the key's rule has it (before: the later). A message without other headers
 * shares one frozen empty object (this runs once per message on the main thread).
 */
const HEADERS_IN: HeadersInRule = { rename: nameIn, value: joinedValues, once: new Set(AS_DATA.values()) };

/** How a pull consumer is (re)created: its stream's subject, name, and configuration. */
export interface PullTarget {
  readonly spec: SubscribeSpec;
  stream: string;
  name: string;
  readonly ephemeral: boolean;
}

export class JetStreamConsumer implements Consumer {
  private paused = false;
  private wake: (() => void) | undefined;
  private readonly stop = new AbortController();
  /**
   * By stream sequence; the record's timestamp tells a message of a lost stream from a new one,
   * `tick` when it came (see `keepHeld`).
   */
  private readonly inFlight = new Map<string, { msg: JsMsg; timestamp: number; tick: number }>();
  /** Counts `keepHeld`'s periods; its timer. */
  private tick = 0;
  private readonly keeper: NodeJS.Timeout;
  /** The pull in progress, stopped by close() rather than waited out. */
  private fetching: { stop(): void } | undefined;
  /**
   * Messages given back (`nack`) while paused or closing with a pull still open: their `nak` waits
   * until no pull is (`sendNaks`), else the server redelivers them into that pull at once, and those
   * that arrive after close() stopped it are dropped by nats.js, to wait out `ackWaitMs` (a graceful
   * stop left ≈ 600 of 1 100 given back so; a `--limit` run's overflow went round in its pull).
   */
  private naks: JsMsg[] = [];
  /** A pull is being asked for or is open (from before its request to its end). */
  private pulling = false;
  /**
   * The stream sequence of the latest stored message given to the engine, and its time: where a
   * lost consumer resumes (`restore`: after it, or from the start of a stream created later).
   */
  private lastSeq = 0;
  private lastTime = 0;
  readonly loop: Promise<void>;

  constructor(
    private readonly adapter: NatsAdapter,
    private consumer: JsConsumer,
    private readonly target: PullTarget,
    private readonly onBatch: BatchListener,
  ) {
    this.loop = this.run();
    const ackWait = adapter.options.ackWaitMs ?? DEFAULTS.nats.ackWaitMs;
    this.keeper = setInterval(() => this.keepHeld(), Math.max(50, Math.floor(ackWait / 3)));
    this.keeper.unref();
  }

  /**
   * JetStream redelivers a message not acked within `ackWaitMs`, even one the engine still holds
   * (a slow handler's backlog, retries' backoffs, a dead-letter channel refusing it): each third of
   * it, every message held for a whole period says it is being worked on (`+WPI`), which restarts
   * its ack wait. No clock read per message: a message remembers the period it came in.
   */
  private keepHeld(): void {
    const now = this.tick++;
    for (const e of this.inFlight.values()) if (e.tick < now) e.msg.working();
  }

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake?.();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    const e = this.inFlight.get(record.offset);
    if (e === undefined || e.timestamp !== record.timestamp) return;
    this.inFlight.delete(record.offset);
    if (outcome === 'ack') e.msg.ack();
    else if (this.pulling && (this.paused || this.stop.signal.aborted)) this.naks.push(e.msg);
    else e.msg.nak();
  }
  private async endPull(): Promise<void> {
    this.pulling = false;
    this.fetching = undefined;
    if (!this.stop.signal.aborted) await this.sendNaks(); // (closing: close() sends them)
  }
  /**
   * The held `nak`s, once no pull is open: after a round trip, so that the server has the ended
   * pull's UNSUB first (else it may still redeliver one into that pull, which nothing reads).
   */
  private async sendNaks(): Promise<void> {
    if (this.naks.length === 0) return;
    // (given up after 2 s: a connection gone silent is found by nats.js's pings only in minutes)
    await within(
      this.adapter.roundTrip().catch(() => {}),
      2000,
    );
    // (a connection closed meanwhile throws: close() goes on, and the message is redelivered)
    for (const m of this.naks.splice(0)) {
      try {
        m.nak();
      } catch {
        // redelivered after ackWaitMs
      }
    }
  }
  /** The consumer's messages not yet delivered (`num_pending`) plus those delivered and unacked. */
  async lag(): Promise<number> {
    const info = await this.adapter.manager.consumers.info(this.target.stream, this.target.name);
    return info.num_pending + info.num_ack_pending;
  }
  async close(): Promise<void> {
    this.stop.abort();
    clearInterval(this.keeper);
    this.wake?.();
    this.fetching?.stop();
    await this.loop.catch(() => {});
    await this.sendNaks();
    if (this.target.ephemeral)
      await this.adapter.manager.consumers.delete(this.target.stream, this.target.name).catch(() => {});
  }

  /**
   * Messages a pull asks for when `batch` is not set: the first one message (no size known; a
   * first pull of 64 took 64 MiB of 1 MiB messages past the engine's byte bound), then about
   * 1 MiB of them, at most DEFAULTS.nats.pullMax (1024, as Redis's reads). Each pull costs a
   * round trip the engine waits out: at most 256 a pull, the engine drained a backlog of 100-byte
   * messages at 50k–60k msgs/s, at most 1024 at 58k–63k (0.72–0.94 of the bare nats.js client,
   * then 0.82–1.03: PERF.md).
   */
  private readonly sizer = new ReadSizer(DEFAULTS.nats.pullMax, 1, 128);

  private async run(): Promise<void> {
    const expires = this.adapter.options.fetchExpiresMs ?? DEFAULTS.nats.fetchExpiresMs;
    while (!this.stop.signal.aborted) {
      if (this.paused) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      this.pulling = true;
      try {
        // a pull sized in bytes unless `batch` is set (ReadSizer: about 1 MiB, at most 1024),
        // never over what the consumer lets one pull ask for (pullLimit)
        const asked = this.adapter.options.batch ?? this.sizer.count();
        const messages = await this.consumer.fetch({
          max_messages: Math.min(asked, await pullLimit(this.consumer)),
          expires,
        });
        let n = 0;
        let bytes = 0;
        this.fetching = messages;
        // (close() came while the pull was asked for: it found none to stop)
        if (this.stop.signal.aborted) messages.stop();
        // A fetch ends when `max` messages came or it expired: hand over what arrived in each
        // turn of the event loop instead of waiting for the end (with fewer than `max` waiting,
        // every message sat out the whole expiry: 1 s of latency, and the tail of a backlog
        // stalled for that long).
        let batch: SequencedRecord[] = [];
        let flushing = false;
        const flush = (): void => {
          flushing = false;
          if (batch.length === 0) return;
          const ready = batch;
          batch = [];
          this.onBatch(ready);
        };
        for await (const m of messages) {
          n++;
          bytes += m.data.length;
          const offset = String(m.seq);
          const timestamp = Math.floor(m.info.timestampNanos / 1e6);
          const held = this.inFlight.get(offset);
          if (held !== undefined && held.timestamp === timestamp) {
            // a redelivery of one the engine holds (its ack wait ran out all the same): acked
            // through this delivery when the engine settles it, never handled a second time
            held.msg = m;
            continue;
          }
          this.inFlight.set(offset, { msg: m, timestamp, tick: this.tick });
          // the latest stored message (by time, then sequence), not the highest sequence: a
          // stream created again after a loss numbers from 1, and its messages must move the point
          if (timestamp > this.lastTime || (timestamp === this.lastTime && m.seq > this.lastSeq)) {
            this.lastSeq = m.seq;
            this.lastTime = timestamp;
          }
          if (!flushing) {
            flushing = true;
            setImmediate(flush);
          }
          const { headers, key } = keyAndHeaders(m.headers, null, undefined, HEADERS_IN);
          // the stream sequence also as a number (`seq`, as SequencedRecord's): the engine sends it
          // to the workers as an integer, whose digits go into the event id without a string
          batch.push({ channel: m.subject, partition: 0, offset, seq: m.seq, key, headers, value: m.data, timestamp });
        }
        flush();
        await this.endPull();
        this.sizer.learn(n, bytes);
      } catch (err) {
        await this.endPull();
        if (this.stop.signal.aborted) return;
        this.adapter.fail(err);
        await sleep(500, this.stop.signal);
        if (this.stop.signal.aborted) return;
        // The server may have lost the stream or the consumer (restarted without its store,
        // deleted, an ephemeral consumer expired): find them again, or create them again.
        try {
          this.consumer = await this.adapter.restore(this.target, this.lastSeq, this.lastTime);
        } catch (e) {
          this.adapter.fail(e);
        }
      }
    }
  }
}

/**
 * The most messages one pull of `consumer` may ask for: its `max_batch` (a durable an operator
 * made with a `--max-pull-batch`, or the server's `max_request_batch` limit), else no bound. The
 * server refuses a pull over it with a 409 that nats.js only reports as a debug event: the fetch
 * waited out its expiry with nothing and the next asked as much again, so nothing more was
 * consumed and nothing said why (read from the consumer info nats.js keeps: no request).
 */
async function pullLimit(consumer: JsConsumer): Promise<number> {
  const max = (await consumer.info(true)).config.max_batch ?? 0;
  return max > 0 ? max : Number.POSITIVE_INFINITY;
}

/** Core NATS messages, and their payload bytes, held while the engine is paused; past either the rest are dropped (at most once). */
export const CORE_HELD_LIMIT = 16_384;
export const CORE_HELD_BYTES = 64 << 20;

export class CoreConsumer implements Consumer {
  private readonly offsets = new DeliveryOffsets();
  private readonly deliveries: HeldDeliveries;
  constructor(
    private readonly sub: Subscription,
    onBatch: BatchListener,
    private readonly adapter: Pick<NatsAdapter, 'fail'>,
  ) {
    // Nothing bounds what core NATS sends a paused subscriber (no prefetch, no in-flight limit):
    // beyond CORE_HELD_LIMIT held, or CORE_HELD_BYTES (16 384 of 1 MiB were 16 GiB), messages
    // are dropped — at most once, as core NATS is
    this.deliveries = new HeldDeliveries(onBatch, {
      messages: CORE_HELD_LIMIT,
      bytes: CORE_HELD_BYTES,
      dropped: (n) =>
        this.adapter.fail(
          `core NATS subscription '${this.sub.getSubject()}': ${n} messages dropped while the engine was paused (more than ${CORE_HELD_LIMIT} messages or ${CORE_HELD_BYTES >> 20} MiB came meanwhile; core NATS is at most once)`,
        ),
    });
    // a subscription the server refuses (permissions) ends the iterator with an error
    (async () => {
      for await (const m of sub) this.push(m);
    })().catch((err: unknown) => this.adapter.fail(err));
  }
  private push(m: Msg): void {
    const { headers, key } = keyAndHeaders(m.headers, null, undefined, HEADERS_IN);
    const rec: BrokerRecord = {
      channel: m.subject,
      partition: 0,
      offset: this.offsets.next(),
      key,
      headers,
      value: m.data,
      timestamp: Date.now(),
    };
    this.deliveries.deliver(rec, true);
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
