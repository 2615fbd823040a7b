import type { ConsumerRunConfig, Consumer as KafkaConsumer, EachBatchPayload } from 'kafkajs';
import type { BatchListener, BrokerRecord, Consumer } from './adapter.js';
import { DEFAULTS } from './adapter-defaults.js';
import { sleep } from './common.js';
import type { KafkaAdapter } from './kafka.js';
import { type KafkaRecord, type PartitionMark, toRecords } from './kafka-records.js';
import { Watermark } from './watermark.js';

/**
 * The Kafka adapter's consumer (brokers/kafka.ts is the adapter: the client, the groups a
 * subscription joins, publish): one kafkajs consumer in its group, handing each fetched batch to
 * the engine, holding the next one while the engine is paused, committing each partition's
 * contiguous acked watermark, restarted when kafkajs gives up on it.
 */

/** Restarts of a consumer that kafkajs gave up on wait this long, doubling up to the maximum. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** A batch held while the engine is paused heartbeats this often. */
const HOLD_HEARTBEAT_MS = 1000;

/** kafkajs error types a commit meets while the group rebalances. */
const REBALANCING = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID']);

export class KafkaGroupConsumer implements Consumer {
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
    this.timer = setInterval(
      () => void this.commit(),
      adapter.options.commitIntervalMs ?? DEFAULTS.kafka.commitIntervalMs,
    );
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
