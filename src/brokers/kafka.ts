import { randomBytes } from 'node:crypto';
import {
  Kafka,
  type KafkaConfig,
  type Consumer as KafkaConsumer,
  Partitioners,
  type Producer,
  logLevel,
  type EachBatchPayload,
} from 'kafkajs';
import { Watermark } from '../engine/watermark.js';
import type { BatchListener, BrokerAdapter, BrokerRecord, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { headerValue, redact, unreachable } from './common.js';

/**
 * Kafka (kafkajs). A channel is a topic.
 * - queue: a consumer group named after the group (partitions split among engines); topic: a
 *   group of its own per engine, reading new messages.
 * - `eachBatch` hands the engine each fetched batch; the batch's offsets are resolved at once so
 *   kafkajs fetches on, but nothing is committed until the engine acks: commits go up to each
 *   partition's contiguous acked watermark (engine/watermark.ts), every `commitIntervalMs` and
 *   on close. After a rebalance, whatever was not committed is fetched again by the partition's
 *   new owner (at-least-once). `pause()` pauses the subscribed topics.
 * - publish: `sendBatch` with acks = -1 (all in-sync replicas), grouped by topic.
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
}

function brokersOf(url: string): string[] {
  // kafka://h1:9092,h2:9092/topic — URL() rejects the comma list, so split by hand
  const rest = url.replace(/^kafka:\/\//, '');
  const hosts = rest.split('/')[0]!;
  const at = hosts.lastIndexOf('@');
  return (at >= 0 ? hosts.slice(at + 1) : hosts).split(',').map((h) => (h.includes(':') ? h : `${h}:9092`));
}

class KafkaGroupConsumer implements Consumer {
  private readonly marks = new Map<string, Watermark>();
  private readonly committed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private paused = false;

  constructor(
    readonly consumer: KafkaConsumer,
    private readonly topic: string,
    private readonly onBatch: BatchListener,
    private readonly adapter: KafkaAdapter,
  ) {
    // A new assignment: forget watermarks, they restart at the first offset fetched.
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.marks.clear();
      this.committed.clear();
    });
    this.timer = setInterval(() => void this.commit(), adapter.options.commitIntervalMs ?? 200);
  }

  async eachBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    const key = String(batch.partition);
    if (!this.marks.has(key)) this.marks.set(key, new Watermark(Number(batch.messages[0]!.offset)));
    const records: BrokerRecord[] = batch.messages.map((m) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = headerValue(v);
      return {
        channel: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key === null ? null : m.key.toString('utf8'),
        headers,
        value: m.value ?? new Uint8Array(0),
        timestamp: Number(m.timestamp),
      };
    });
    resolveOffset(batch.lastOffset());
    this.onBatch(records);
    await heartbeat();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.consumer.pause([{ topic: this.topic }]);
  }
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.consumer.resume([{ topic: this.topic }]);
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    // nack: not committed, so fetched again after a restart or rebalance
    if (outcome === 'nack') return;
    this.marks.get(String(record.partition))?.ack(Number(record.offset));
  }

  async commit(): Promise<void> {
    const offsets: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const [p, w] of this.marks) {
      if (this.committed.get(p) !== w.committed)
        offsets.push({ topic: this.topic, partition: Number(p), offset: String(w.committed) });
    }
    if (offsets.length === 0) return;
    try {
      await this.consumer.commitOffsets(offsets);
      for (const o of offsets) this.committed.set(String(o.partition), Number(o.offset));
    } catch (err) {
      // a rebalance in progress: the partition's next owner reads from the last commit
      this.adapter.warn(err);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.commit();
    await this.consumer.disconnect();
  }
}

export class KafkaAdapter implements BrokerAdapter {
  readonly name: string;
  readonly options: KafkaAdapterOptions;
  private readonly kafka: Kafka;
  private producer!: Producer;
  private readonly consumers: KafkaGroupConsumer[] = [];
  private connected = false;

  constructor(options: KafkaAdapterOptions) {
    this.name = options.name;
    this.options = options;
    this.kafka = new Kafka({
      clientId: 'wasmsg',
      brokers: brokersOf(options.url),
      connectionTimeout: 3000,
      logLevel: logLevel.ERROR,
      // before the first connection succeeds kafkajs logs every retry; the final error says it all
      logCreator: () => (entry) => {
        if (this.connected && entry.level <= logLevel.ERROR) this.warn(entry.log.message);
      },
      ...options.client,
    });
  }

  warn(err: unknown): void {
    process.stderr.write(
      `wasmsg: kafka ${redact(this.options.url)}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
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
    const groupId =
      spec.kind === 'queue' ? (spec.group ?? 'wasmsg') : `${spec.group ?? 'wasmsg'}-${randomBytes(4).toString('hex')}`;
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1000,
      allowAutoTopicCreation: true,
      // kafkajs restarts a crashed consumer only after retriable errors; a protocol error during
      // a rebalance (seen with the librdkafka mock's SyncGroup) would leave it dead: restart always.
      retry: {
        restartOnFailure: async (err: Error) => {
          this.warn(`consumer restarts after: ${err.message}`);
          return true;
        },
      },
    });
    try {
      await consumer.connect();
    } catch (err) {
      throw unreachable(this.options.url, err);
    }
    await consumer.subscribe({ topic: spec.channel, fromBeginning: spec.kind === 'queue' });
    const c = new KafkaGroupConsumer(consumer, spec.channel, onBatch, this);
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
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => c.eachBatch(payload),
    });
    await joined;
    this.consumers.push(c);
    return c;
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
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  async close(): Promise<void> {
    for (const c of this.consumers.splice(0)) await c.close();
    await this.producer?.disconnect();
  }
}
