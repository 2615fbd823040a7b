import { randomBytes } from 'node:crypto';
import {
  Kafka,
  type ConsumerConfig,
  type KafkaConfig,
  type Admin,
  Partitioners,
  type Producer,
  logLevel,
} from 'kafkajs';
import type { BatchListener, BrokerAdapter, Consumer, OutRecord, SubscribeSpec } from './adapter.js';
import { BrokerError, ErrorCode } from '../errors.js';
import { publishFailed, redact, warnLine } from './common.js';
import { checkOwnOptions } from './adapter-options.js';
import { type ConnectOptions, connectDeadline, connectWithin } from './deadline.js';
import { abandonable } from './kafka-abandon.js';
import type { KafkaGroupConsumer } from './kafka-consumer.js';
import { joinWithin } from './kafka-join.js';
import { brokersOf, groupClash } from './kafka-records.js';

export { brokersOf };

/**
 * Kafka (kafkajs). A channel is a topic.
 * - queue: a consumer group named after the group (partitions split among engines); topic: a
 *   group of its own per engine, reading new messages.
 * - `eachBatch` (the consumer, kafka-consumer.ts) hands the engine each fetched batch; the batch's offsets are resolved at once so
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

export interface KafkaAdapterOptions extends ConnectOptions {
  /** Commit the acked watermark this often (default 200 ms). */
  readonly commitIntervalMs?: number;
  /** Group session timeout (default 10 000 ms). */
  readonly sessionTimeoutMs?: number;
  /** Passed to kafkajs (ssl, sasl, connectionTimeout, retry, ...). */
  readonly client?: Partial<KafkaConfig>;
  /** Passed to each kafkajs consumer (partitionAssigners, maxBytesPerPartition, rackId, ...); not groupId. */
  readonly consumer?: Partial<Omit<ConsumerConfig, 'groupId'>>;
}

export class KafkaAdapter implements BrokerAdapter {
  readonly name: string;
  /** World C's `format` of this broker's records. */
  readonly format = 'kafka' as const;
  readonly options: KafkaAdapterOptions;
  private readonly kafka: Kafka;
  private readonly config: KafkaConfig;
  private producer!: Producer;
  private readonly consumers: KafkaGroupConsumer[] = [];
  /** The topic of each queue group consumed here, and how many consumers (or subscribes under way) use it (see subscribe). */
  private readonly groupTopics = new Map<string, { topic: string; users: number }>();
  private connected = false;
  /** For consumer lag (high watermarks, group offsets): connected on first use, kept until close. */
  private offsetsAdmin: Promise<Admin> | undefined;

  constructor(options: KafkaAdapterOptions) {
    checkOwnOptions('kafka', options); // (createBroker's check, for an adapter made by hand)
    this.name = options.name;
    this.options = options;
    this.config = {
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
    };
    this.kafka = new Kafka(this.config);
  }

  warn(err: unknown): void {
    warnLine('kafka', this.options.url, err);
  }

  /**
   * Within the connect deadline (`connectTimeoutMs`, deadline.ts; `client.requestTimeout` when
   * only that is given), asks the cluster for its metadata through a client of its own whose
   * requests time out at that deadline (retried as the client's are, until the deadline: another
   * seed broker, a broker still starting that refuses, then answers), then connects the producer. kafkajs's connect() resolves when the
   * seed broker's ApiVersions request timed out (a server that accepts and never answers: not
   * Kafka, or hung), after `requestTimeout` (30 s), and closes nothing until then; the first
   * subscribe then failed ≈ 60 s later with kafkajs's untyped "Broker not connected". At the
   * deadline the probe's and the producer's sockets are destroyed and their retries stopped
   * (kafka-abandon.ts): before, a producer connect that hung after a good probe was only asked to
   * disconnect, which kafkajs does once its requests in flight have timed out.
   */
  async connect(): Promise<void> {
    const ms = connectDeadline(this.options, this.options.client?.requestTimeout);
    const given = abandonable(this.config);
    this.producer = new Kafka({ ...this.config, ...given.config }).producer({
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    const probe = new Kafka({
      ...this.config,
      ...given.config,
      requestTimeout: ms,
      // (kafkajs's ApiVersions waits for the longer of the two)
      connectionTimeout: Math.min(this.config.connectionTimeout ?? 1000, ms),
    }).admin();
    const connect = async (): Promise<void> => {
      try {
        await probe.connect();
        await probe.describeCluster();
      } finally {
        await probe.disconnect().catch(() => {});
      }
      await this.producer.connect();
    };
    const abandon = (): Promise<unknown> => {
      given.abandon();
      return Promise.all([probe.disconnect(), this.producer.disconnect()]);
    };
    await connectWithin(this.options, ms, connect, abandon);
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
      // within the connect deadline, counted from the cluster's last answer (kafka-join.ts)
      const c = await joinWithin(this, this.config, spec, onBatch, groupId);
      this.consumers.push(c);
      return c;
    } catch (err) {
      if (queue) this.unuse(groupId);
      throw err;
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
    await this.closeAdmin();
    await this.producer?.disconnect();
  }

  private async closeAdmin(): Promise<void> {
    const admin = this.offsetsAdmin;
    this.offsetsAdmin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => {});
  }
}
