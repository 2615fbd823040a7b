import { ErrorCode, OptionError } from '../errors.js';
import type { BrokerAdapter } from './adapter.js';
import { MemoryBroker } from './memory.js';

/**
 * Builds an adapter from a broker URL. Each adapter file (and so each client library) is loaded
 * only when its scheme is used.
 *
 *   kafka://host:9092[,host:9092]/topic       Kafka (kafkajs)
 *   nats://host:4222/subject                  NATS JetStream (at-least-once)
 *   nats-core://host:4222/subject             core NATS (at-most-once)
 *   redis://[:password@]host:6379/stream      Redis Streams (ioredis); rediss:// for TLS
 *   amqp://user:pass@host:5672[/vhost]/queue  AMQP 0-9-1 (amqplib); amqps:// for TLS
 *   mqtt://host:1883/topic/#                  MQTT 5 (mqtt.js); mqtts:// for TLS
 *   memory:///channel                         the embedded broker
 */

export interface BrokerSpec {
  readonly name: string;
  readonly url: string;
  /** Passed to the adapter: client options (TLS, SASL, auth) and adapter knobs. */
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

/** The channel a `--from` URL names (its path), per the scheme's rules. */
export function channelFromUrl(url: string): string | undefined {
  const scheme = schemeOf(url);
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/, '').replace(/^\//, '');
  if (path === '') return undefined;
  const decoded = decodeURIComponent(path);
  // amqp: an optional vhost first (`/vhost/queue`): the queue is the last segment
  if (scheme === 'amqp' || scheme === 'amqps') return decoded.split('/').pop();
  return decoded;
}

export async function createBroker(spec: BrokerSpec): Promise<BrokerAdapter> {
  const scheme = schemeOf(spec.url);
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
