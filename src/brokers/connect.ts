import { ErrorCode, OptionError } from '../errors.js';
import type { BrokerAdapter } from './adapter.js';
import { checkAdapterOptions, familyOf } from './adapter-options.js';
import { redact } from './common.js';
import { MemoryBroker } from './memory.js';

/**
 * Builds an adapter from a broker URL. Each adapter file (and so each client library) is loaded
 * only when its scheme is used.
 *
 *   kafka://host:9092[,host:9092]/topic       Kafka (kafkajs)
 *   nats://host:4222/subject                  NATS JetStream (at-least-once)
 *   nats-core://host:4222/subject             core NATS (at-most-once)
 *   redis://[:password@]host:6379/stream[?db=N]  Redis Streams (ioredis); rediss:// for TLS. The
 *                                             path is the stream, never a database number.
 *   amqp://user:pass@host:5672[/vhost]/queue  AMQP 0-9-1 (amqplib); amqps:// for TLS; the
 *                                             default vhost `/` is written %2F
 *   mqtt://host:1883/topic/#                  MQTT 5 (mqtt.js); mqtts:// for TLS
 *   memory:///channel                         the embedded broker
 */

export interface BrokerSpec {
  readonly name: string;
  readonly url: string;
  /**
   * Passed to the adapter: client options (TLS, SASL, auth) and adapter knobs; each kind's keys,
   * types and ranges are in adapter-options.ts (any other key, or a value out of range, is refused).
   */
  readonly options?: Record<string, unknown>;
}

export const SCHEMES = [
  'kafka',
  'nats',
  'nats-core',
  'redis',
  'rediss',
  'amqp',
  'amqps',
  'mqtt',
  'mqtts',
  'memory',
] as const;

export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//.exec(url);
  return m?.[1] ?? '';
}

/**
 * The channel a `--from` URL names: its path, percent-decoded segment by segment. A query
 * (`?...`) is never part of it (the client's options: `redis://h/stream?db=2`,
 * `amqp://h/queue?heartbeat=30`); `#` is not a fragment but part of the path (MQTT's wildcard).
 * A `?` or `/` inside a name is written `%3F` / `%2F`.
 */
export function channelFromUrl(url: string): string | undefined {
  const scheme = schemeOf(url);
  const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/, '');
  const query = rest.indexOf('?');
  const path = (query < 0 ? rest : rest.slice(0, query)).replace(/^\//, '');
  if (path === '') return undefined;
  let segments: string[];
  try {
    segments = path.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw new OptionError(ErrorCode.badOption, `--from ${redact(url)}: the path is not valid percent-encoding`, {
      option: 'from',
    });
  }
  if (scheme === 'amqp' || scheme === 'amqps') {
    // `/queue` or `/vhost/queue` (the adapter connects to the vhost; the default one is `%2F`)
    if (segments.length > 2 || segments.some((s) => s === '')) {
      throw new OptionError(
        ErrorCode.badOption,
        `--from ${redact(url)}: an AMQP path is /queue or /vhost/queue (write a '/' inside a name as %2F)`,
        { option: 'from' },
      );
    }
    return segments[segments.length - 1];
  }
  return segments.join('/');
}

/**
 * Connects every adapter at once; rejects with the first failure only once every connect has
 * ended. (A start that fails closes the adapters it opened: one closed while it was still
 * connecting had nothing to close yet, then connected, and stayed connected — its socket kept
 * a library caller's process alive.)
 */
export async function connectAll(adapters: Iterable<BrokerAdapter>): Promise<void> {
  const ended = await Promise.allSettled([...adapters].map((a) => a.connect()));
  const failed = ended.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

export async function createBroker(spec: BrokerSpec): Promise<BrokerAdapter> {
  const scheme = schemeOf(spec.url);
  // each option's name, type and range (adapter-options.ts); the adapter's constructor checks them too
  const family = familyOf(scheme);
  if (family !== undefined) checkAdapterOptions(family, spec.name, spec.options);
  const o = spec.options ?? {};
  switch (scheme) {
    case 'kafka': {
      const { KafkaAdapter } = await import('./kafka.js');
      return new KafkaAdapter({ ...o, name: spec.name, url: spec.url });
    }
    case 'nats':
    case 'nats-core': {
      const { NatsAdapter } = await import('./nats.js');
      return new NatsAdapter({ ...o, name: spec.name, url: spec.url });
    }
    case 'redis':
    case 'rediss': {
      const { RedisAdapter } = await import('./redis.js');
      return new RedisAdapter({ ...o, name: spec.name, url: spec.url });
    }
    case 'amqp':
    case 'amqps': {
      const { AmqpAdapter } = await import('./amqp.js');
      return new AmqpAdapter({ ...o, name: spec.name, url: spec.url });
    }
    case 'mqtt':
    case 'mqtts': {
      const { MqttAdapter } = await import('./mqtt.js');
      return new MqttAdapter({ ...o, name: spec.name, url: spec.url });
    }
    case 'memory':
      return new MemoryBroker({ ...o, name: spec.name });
    default:
      throw new OptionError(
        ErrorCode.badOption,
        `broker '${spec.name}': unsupported URL '${spec.url}' (schemes: ${SCHEMES.join(', ')})`,
        { option: 'brokers', url: spec.url },
      );
  }
}
