import type { EachBatchPayload } from 'kafkajs';
import type { BrokerRecord } from './adapter.js';
import { NO_BYTES, NO_HEADERS, headerValue, setHeader } from './common.js';
import type { Watermark } from './watermark.js';

/**
 * Kafka's side of brokers/kafka.ts that knows no consumer or producer: the bootstrap hosts of a
 * URL, and the records the engine gets from a fetched batch.
 */

/** The bootstrap brokers of a `kafka://h1:9092,h2:9092/topic` URL. */
export function brokersOf(url: string): string[] {
  // kafka://h1:9092,h2:9092/topic — URL() rejects the comma list, so split by hand
  const rest = url.replace(/^kafka:\/\//, '');
  const hosts = rest.split('/')[0]!;
  const at = hosts.lastIndexOf('@');
  return (at >= 0 ? hosts.slice(at + 1) : hosts).split(',').map((h) => (h.includes(':') ? h : `${h}:9092`));
}

/**
 * One consumer group given to two topics: kafkajs assigns a group's partitions only for the
 * topics its leader subscribed to, and a member drops those of topics it did not, so one topic
 * is never consumed. The words of both checks (the adapter's subscribe, `wasmsg validate`).
 */
export function groupClash(group: string, other: string, topic: string): string {
  return `consumer group '${group}' is given to topics '${other}' and '${topic}', and kafkajs gives a group's members only the partitions of topics every member subscribed to (the others are never consumed): give each topic a group of its own`;
}

/**
 * A Kafka record with its offset also as a number when exact (`seq`: below 2^53, as in any real
 * log; as SequencedRecord's): the engine sends it to the workers as an integer, whose digits go
 * into the event id without a string, and the consumer acknowledges it without parsing again.
 */
export interface KafkaRecord extends BrokerRecord {
  readonly seq: number | undefined;
}

/** A partition's acked watermark and the offset after the last record delivered. */
export interface PartitionMark {
  readonly mark: Watermark;
  next: number;
}

/**
 * The records of a fetched batch, moving its partition's mark past them. Offsets need not be
 * contiguous (compaction, transaction markers): the holes between the records delivered are
 * skipped, or the watermark would wait at the first one forever.
 */
export function toRecords(batch: EachBatchPayload['batch'], part: PartitionMark): KafkaRecord[] {
  return batch.messages.map((m) => {
    const offset = Number(m.offset);
    if (offset > part.next) part.mark.skip(part.next, offset);
    part.next = offset + 1;
    // a record without headers shares one frozen empty object (no object, no entries array per message)
    let headers: Record<string, string> | undefined;
    const h = m.headers;
    if (h !== undefined) for (const k in h) setHeader((headers ??= {}), k, kafkaHeaderValue(h[k]));
    return {
      channel: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      seq: Number.isSafeInteger(offset) ? offset : undefined,
      key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
      headers: headers ?? NO_HEADERS,
      value: m.value ?? NO_BYTES,
      timestamp: Number(m.timestamp),
    };
  });
}

/**
 * A header value as kafkajs decodes it. Its decoder merges a repeated name into an array, and
 * takes a name the empty object already has (`__proto__`, `constructor`, `toString`) for a
 * repetition: the value comes as `[Object.prototype, value]`. Only the bytes are the header's.
 */
function kafkaHeaderValue(v: unknown): string {
  if (Array.isArray(v)) return headerValue(v.filter((x) => typeof x === 'string' || x instanceof Uint8Array));
  return headerValue(v);
}
