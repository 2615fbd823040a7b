import type { ChannelKind, FormatSpec } from '../component/types.js';

/**
 * The one interface between the engine and a broker. One file per broker implements it; the
 * engine never imports a client library. Shaped for the memory broker first, and for kafkajs
 * (eachBatch, resolveOffset, pause), NATS JetStream (pull + ack/nak), Redis Streams
 * (XREADGROUP + XACK), AMQP (prefetch + ack/nack) and MQTT (QoS 1, PUBACK after success).
 */

export interface BrokerRecord {
  readonly channel: string;
  readonly partition: number;
  /** Broker position, as a string (Kafka offsets and stream ids do not fit a number). */
  readonly offset: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly value: Uint8Array;
  /** ms since the epoch */
  readonly timestamp: number;
}

/**
 * A record whose position is also a plain integer, `seq` (the embedded broker's): the engine
 * sends and acknowledges that number, and `offset` is made from it only where it is read.
 */
export interface SequencedRecord extends BrokerRecord {
  readonly seq: number;
}

export interface OutRecord {
  readonly kind: ChannelKind;
  readonly channel: string;
  readonly key?: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly value: Uint8Array;
}

export interface SubscribeSpec {
  readonly channel: string;
  /** queue = competing consumers in `group`; topic = this subscriber gets everything. */
  readonly kind: ChannelKind;
  readonly group?: string;
}

/** Called with each batch the broker delivers; the engine settles every record later. */
export type BatchListener = (records: readonly BrokerRecord[]) => void;

export interface Consumer {
  /** Stop delivering batches (backpressure). Idempotent. */
  pause(): void;
  resume(): void;
  /**
   * Settle one record: `ack` = done (the broker may forget it, or commit up to the contiguous
   * watermark); `nack` = give it back for redelivery.
   */
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void;
  /**
   * Optional: acknowledges several records at once (the engine calls it with a batch's
   * acknowledged records), for a broker that can do the bookkeeping once per batch; the same as
   * `settle(r, 'ack')` for each.
   */
  ackAll?(records: readonly BrokerRecord[]): void;
  close(): Promise<void>;
  /**
   * Optional: messages of the channel this consumer's group has not yet acknowledged — not yet
   * delivered plus delivered and unacked (Kafka: high watermark − committed offset, summed over
   * partitions; Redis: the group's lag + pending; NATS JetStream: pending + ack pending; AMQP:
   * the queue's ready messages + this consumer's unacked ones; memory: log end − committed).
   * Undefined when the broker cannot tell. Read at scrape time only (`wasmsg_consumer_lag`),
   * bounded by a timeout there: it may ask the server.
   */
  lag?(): Promise<number | undefined>;
}

export interface BrokerAdapter {
  /** The name components open (`broker.open(name)`) and the config refers to. */
  readonly name: string;
  /**
   * Optional: the `format` world C components see on this broker's records (`kafka`, `amqp`,
   * `mqtt`: the Kafka, AMQP and MQTT adapters set it); absent = `raw`. Records that carry
   * CloudEvents attributes are `cloudevents` whatever it says. The engine reads it from the
   * adapter it uses, whether it created it from `options.brokers` or was handed it (`new
   * Engine(options, [adapter])`, `run --limit`), so a wrapper of an adapter should pass it on.
   */
  readonly format?: FormatSpec;
  /**
   * Optional: set by brokers that drop a record published to a channel nobody reads at that
   * moment (MQTT, core NATS): why, in a few words. The engine warns at start when dead letters
   * would go to such a broker, since they are confirmed and lost when no one reads them.
   */
  readonly dropsUnread?: string;
  connect(): Promise<void>;
  subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer>;
  /** Resolves when the broker has confirmed every record (at-least-once for outputs). */
  publish(records: readonly OutRecord[]): Promise<void>;
  close(): Promise<void>;
}
