import { randomBytes } from 'node:crypto';
import {
  Kafka,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type KafkaConfig,
  type Admin,
  type Consumer as KafkaConsumer,
  Partitioners,
  type Producer,
  logLevel,
  type EachBatchPayload,
} from 'kafkajs';
import { Watermark } from './watermark.js';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { BrokerError, ErrorCode } from '../errors.js';
import { publishFailed, redact, sleep, unreachable, warnLine } from './common.js';
import { type KafkaRecord, type PartitionMark, brokersOf, groupClash, toRecords } from './kafka-records.js';
import { oldGroupWarning } from './kafka-old-group.js';

export { brokersOf };

/**
 * Kafka (kafkajs). A channel is a topic.
 * - queue: a consumer group named after the group (partitions split among engines); topic: a
 *   group of its own per engine, reading new messages.
 * - `eachBatch` hands the engine each fetched batch; the batch's offsets are resolved at once so
 *   kafkajs fetches on, but nothing is committed until the engine acks: commits go up to each
 *   partition's contiguous acked watermark (engine/watermark.ts), every `commitIntervalMs` and
 *   on close. After a rebalance, whatever was not committed is fetched again by the partition's
 *   new owner (at-least-once). Backpressure: while the engine is paused, `eachBatch` holds the
 *   next batch (heartbeating) instead of handing it over, so kafkajs fetches no further.
 * - publish: `sendBatch` with acks = -1 (all in-sync replicas), grouped by topic; a record's key
 *   is the message key (kafkajs's default partitioner: murmur2 of the key, as the Java client),
 *   so one key stays on one partition. A failure rejects with a BrokerError (E_PUBLISH_FAILED).
 * CloudEvents binary mode uses `ce_` headers (the engine's neutral form).
 */

export interface KafkaAdapterOptions {
  readonly name: string;
  readonly url: string;
  /** Commit the acked watermark this often (default 200 ms). */
  readonly commitIntervalMs?: number;
  /** Group session timeout (default 10 000 ms). */
  readonly sessionTimeoutMs?: number;
  /** Passed to kafkajs (ssl, sasl, connectionTimeout, retry, ...). */
  readonly client?: Partial<KafkaConfig>;
  /** Passed to each kafkajs consumer (partitionAssigners, maxBytesPerPartition, rackId, ...); not groupId. */
  readonly consumer?: Partial<Omit<ConsumerConfig, 'groupId'>>;
}

/** Restarts of a consumer that kafkajs gave up on wait this long, doubling up to the maximum. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** A batch held while the engine is paused heartbeats this often. */
const HOLD_HEARTBEAT_MS = 1000;

/** kafkajs error types a commit meets while the group rebalances. */
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

class KafkaGroupConsumer implements Consumer {
  /** Per partition: the acked watermark and the offset after the last record delivered. */
  private readonly marks = new Map<number, PartitionMark>();
  private readonly committed = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Set while the engine is paused: resolves on resume. */
  private held: { promise: Promise<void>; release: () => void } | undefined;
  private closed = false;
  private restartMs = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly runConfig: ConsumerRunConfig = {
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: (payload) => this.eachBatch(payload),
  };

  constructor(
    readonly consumer: KafkaConsumer,
    private readonly topic: string,
    private readonly onBatch: BatchListener,
    private readonly adapter: KafkaAdapter,
    readonly groupId: string,
    /** A queue group (it starts at the beginning of a partition it never committed; a topic reader at its end). */
    readonly queue: boolean,
  ) {
    // Another member of the group (another engine) subscribed to another topic: kafkajs drops
    // the partitions of that topic it was given, and nobody consumes them (see subscribe)
    consumer.on(consumer.events.RECEIVED_UNSUBSCRIBED_TOPICS, ({ payload }) =>
      this.adapter.warn(
        `consumer group '${payload.groupId}' was given partitions of topics this consumer does not read (${payload.topicsNotSubscribed.join(', ')}): another member subscribed to them, and nobody consumes them; give each topic a group of its own`,
      ),
    );
    // A new assignment: forget watermarks, they restart at the first offset fetched.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.marks.clear();
      this.committed.clear();
      this.restartMs = RESTART_MIN_MS;
    });
    // kafkajs restarts a crashed consumer itself only after a retriable error; after any other
    // (e.g. the librdkafka mock answering a late follower's SyncGroup with INVALID_REQUEST) it
    // disconnects and stays down while the engine would wait forever. Run it again, with backoff.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.closed) return;
      this.adapter.warn(`consumer of ${topic} stopped after: ${payload.error.message}; restarting it`);
      this.scheduleRestart();
    });
    this.timer = setInterval(() => void this.commit(), adapter.options.commitIntervalMs ?? 200);
  }

  run(): Promise<void> {
    return this.consumer.run(this.runConfig);
  }

  private scheduleRestart(): void {
    const wait = this.restartMs;
    this.restartMs = Math.min(this.restartMs * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      if (this.closed) return;
      this.consumer
        .connect()
        .then(() => this.run())
        .catch((err: unknown) => {
          this.adapter.warn(err);
          this.scheduleRestart();
        });
    }, wait);
  }

  async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    // Paused: hold this batch (nothing resolved, so a rebalance meanwhile refetches it) and keep
    // the session alive; a heartbeat that meets a rebalance throws, and kafkajs rejoins.
    while (this.held !== undefined && !this.closed) {
      await Promise.race([this.held.promise, sleep(HOLD_HEARTBEAT_MS)]);
      await heartbeat();
      if (!isRunning() || isStale()) return;
    }
    if (this.closed) return; // closing: not resolved, so the group's next member fetches it
    const key = batch.partition;
    let part = this.marks.get(key);
    if (part === undefined) {
      const first = Number(batch.messages[0]!.offset);
      this.marks.set(key, (part = { mark: new Watermark(first), next: first }));
    }
    const records = toRecords(batch, part);
    resolveOffset(batch.lastOffset());
    this.onBatch(records);
    await heartbeat();
  }

  // Not kafkajs's pause(): with every partition paused its fetch loop sleeps maxWaitTimeInMs
  // before looking again, so each resume waited for that (5 s by default: 567 msgs/s end to end).
  pause(): void {
    if (this.held !== undefined) return;
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.held = { promise, release };
  }
  resume(): void {
    const held = this.held;
    this.held = undefined;
    held?.release();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    // nack: not committed, so fetched again after a restart or rebalance
    if (outcome === 'nack') return;
    this.marks.get(record.partition)?.mark.ack((record as Partial<KafkaRecord>).seq ?? Number(record.offset));
  }

  /**
   * The group's lag: per partition, the high watermark minus the offset the group resumes from —
   * this consumer's own acked watermark where it holds the partition (fresher than the last
   * commit), else the group's committed offset (admin OffsetFetch). A partition the group never
   * committed counts from its low watermark for a queue group, and as 0 for a topic reader
   * (which starts at the end). Without OffsetFetch (a broker that refuses it), only the
   * partitions this consumer holds are counted.
   */
  private lagWarned = false;
  async lag(): Promise<number> {
    const admin = await this.adapter.admin();
    const offsets = await admin.fetchTopicOffsets(this.topic);
    const committed = new Map<number, number>();
    try {
      const [group] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
      for (const p of group?.partitions ?? []) committed.set(p.partition, Number(p.offset));
    } catch (err) {
      // once per consumer: a broker that refuses OffsetFetch refuses it on every scrape
      if (!this.lagWarned) this.adapter.warn(err);
      this.lagWarned = true;
    }
    let lag = 0;
    for (const o of offsets) {
      const own = this.marks.get(o.partition);
      let from = own?.mark.committed ?? committed.get(o.partition) ?? -1;
      if (from < 0) {
        if (!this.queue || !committed.has(o.partition)) continue;
        from = Number(o.low);
      }
      lag += Math.max(0, Number(o.high) - from);
    }
    return lag;
  }

  async commit(): Promise<void> {
    const offsets: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const [p, { mark }] of this.marks) {
      if (this.committed.get(p) !== mark.committed)
        offsets.push({ topic: this.topic, partition: p, offset: String(mark.committed) });
    }
    if (offsets.length === 0) return;
    try {
      await this.consumer.commitOffsets(offsets);
      for (const o of offsets) this.committed.set(o.partition, Number(o.offset));
    } catch (err) {
      // During a rebalance commits fail until the member rejoins; the partition's next owner
      // reads from the last commit (at-least-once). Only other failures are worth a warning.
      if (!REBALANCING.has((err as { type?: string }).type ?? '')) this.adapter.warn(err);
    }
  }

  private closing: Promise<void> | undefined;
  /** Idempotent: the engine closes its consumers, then the adapter closes what it still lists. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.resume();
      clearInterval(this.timer);
      clearTimeout(this.restartTimer);
      try {
        await this.commit();
        await this.consumer.disconnect();
      } finally {
        this.adapter.released(this);
      }
    })();
    return this.closing;
  }
}

export class KafkaAdapter implements BrokerAdapter {
  readonly name: string;
  /** World C's `format` of this broker's records. */
  readonly format = 'kafka' as const;
  readonly options: KafkaAdapterOptions;
  private readonly kafka: Kafka;
  private producer!: Producer;
  private readonly consumers: KafkaGroupConsumer[] = [];
  /** The topic of each queue group consumed here, and how many consumers (or subscribes under way) use it (see subscribe). */
  private readonly groupTopics = new Map<string, { topic: string; users: number }>();
  private connected = false;
  /** For consumer lag (high watermarks, group offsets): connected on first use, kept until close. */
  private offsetsAdmin: Promise<Admin> | undefined;

  constructor(options: KafkaAdapterOptions) {
    this.name = options.name;
    this.options = options;
    this.kafka = new Kafka({
      clientId: 'wasmsg',
      brokers: brokersOf(options.url),
      connectionTimeout: 3000,
      logLevel: logLevel.ERROR,
      // Before the first connection succeeds kafkajs logs every retry; the final error says it
      // all. After it, error responses (e.g. REBALANCE_IN_PROGRESS on every heartbeat of a
      // rebalance) are handled by kafkajs or surface as a crash, which is logged on its own.
      logCreator: () => (entry) => {
        if (!this.connected || entry.level > logLevel.ERROR || entry.log.message.startsWith('Response ')) return;
        const cause = typeof entry.log['error'] === 'string' ? `: ${entry.log['error']}` : '';
        this.warn(`${entry.log.message}${cause}`);
      },
      ...options.client,
    });
  }

  warn(err: unknown): void {
    warnLine('kafka', this.options.url, err);
  }

  async connect(): Promise<void> {
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    try {
      await this.producer.connect();
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
    this.connected = true;
  }

  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    // A queue's group is its own per topic by default: kafkajs assigns a group's partitions only
    // for the topics its leader subscribed to, and a member drops those of topics it did not —
    // two topics in one group leave one of them (and half the other) consumed by no one.
    const groupId =
      spec.kind === 'queue'
        ? (spec.group ?? `wasmsg.${spec.channel}`)
        : `${spec.group ?? 'wasmsg'}-${randomBytes(4).toString('hex')}`;
    const queue = spec.kind === 'queue';
    const other = queue ? this.groupTopics.get(groupId)?.topic : undefined;
    if (other !== undefined && other !== spec.channel)
      throw new BrokerError(
        ErrorCode.badOption,
        `kafka ${redact(this.options.url)}: cannot subscribe to '${spec.channel}': ${groupClash(groupId, other, spec.channel)}`,
        { channel: spec.channel, group: groupId, topic: other },
      );
    if (queue) {
      const use = this.groupTopics.get(groupId) ?? { topic: spec.channel, users: 0 };
      use.users++;
      this.groupTopics.set(groupId, use);
    }
    try {
      // before joining, while the new group has committed nothing: a deployment of the old default is told
      if (queue && spec.group === undefined) await this.oldGroupCheck(spec.channel, groupId);
      const c = await this.join(spec, onBatch, groupId);
      this.consumers.push(c);
      return c;
    } catch (err) {
      if (queue) this.unuse(groupId);
      throw err;
    }
  }

  /** Warns when the old default group's offsets go unused (kafka-old-group.ts). */
  private async oldGroupCheck(topic: string, group: string): Promise<void> {
    try {
      const warning = await oldGroupWarning(await this.admin(), topic, group);
      if (warning !== undefined) this.warn(warning);
    } catch {
      // a courtesy: a broker that refuses OffsetFetch (ACLs) starts all the same
    }
  }

  /** A consumer closed: off the list, and its group free for another topic once nothing here uses it. */
  released(c: KafkaGroupConsumer): void {
    const at = this.consumers.indexOf(c);
    if (at < 0) return; // its subscribe failed, and undid its use of the group itself
    this.consumers.splice(at, 1);
    if (c.queue) this.unuse(c.groupId);
  }
  private unuse(groupId: string): void {
    const use = this.groupTopics.get(groupId);
    if (use !== undefined && --use.users <= 0) this.groupTopics.delete(groupId);
  }

  private async join(spec: SubscribeSpec, onBatch: BatchListener, groupId: string): Promise<KafkaGroupConsumer> {
    const consumer = this.kafka.consumer({
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1000,
      allowAutoTopicCreation: true,
      // how long a fetch that finds nothing waits (kafkajs: 5 s); a stop waits for it too
      maxWaitTimeInMs: 500,
      ...this.options.consumer,
      groupId,
    });
    try {
      await consumer.connect();
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
    const c = new KafkaGroupConsumer(consumer, spec.channel, onBatch, this, groupId, spec.kind === 'queue');
    try {
      await this.start(c, spec);
    } catch (err) {
      await c.close().catch(() => {}); // not left connected (and heartbeating) in the group
      throw err;
    }
    return c;
  }

  private async start(c: KafkaGroupConsumer, spec: SubscribeSpec): Promise<void> {
    const { consumer } = c;
    await consumer.subscribe({ topic: spec.channel, fromBeginning: spec.kind === 'queue' });
    // A topic subscriber (a group of its own) starts at the end of each partition as of now:
    // the offsets are read before joining and sought to on joining, so a message produced after
    // subscribe() returns is never skipped by a "latest" resolved a moment later.
    let start: Array<{ partition: number; offset: string }> = [];
    if (spec.kind === 'topic') {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        start = (await admin.fetchTopicOffsets(spec.channel)).map((o) => ({ partition: o.partition, offset: o.high }));
      } finally {
        await admin.disconnect();
      }
    }
    // subscribed = a member of the group with partitions assigned
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => {
        for (const o of start) consumer.seek({ topic: spec.channel, ...o });
        start = [];
        resolve();
      }),
    );
    await c.run();
    await joined;
  }

  admin(): Promise<Admin> {
    if (this.offsetsAdmin === undefined) {
      const admin = this.kafka.admin();
      this.offsetsAdmin = admin.connect().then(
        () => admin,
        (err: unknown) => {
          this.offsetsAdmin = undefined;
          throw err;
        },
      );
    }
    return this.offsetsAdmin;
  }

  async publish(records: readonly OutRecord[]): Promise<void> {
    const byTopic = new Map<string, Array<{ key: string | null; value: Buffer; headers: Record<string, string> }>>();
    for (const r of records) {
      let list = byTopic.get(r.channel);
      if (list === undefined) byTopic.set(r.channel, (list = []));
      list.push({
        key: r.key ?? null,
        value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        headers: { ...r.headers },
      });
    }
    try {
      await this.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    } catch (err) {
      throw publishFailed('kafka', this.options.url, err);
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.consumers]) await c.close();
    const admin = this.offsetsAdmin;
    this.offsetsAdmin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => {});
    await this.producer?.disconnect();
  }
}
