import { channelFromUrl } from '../brokers/connect.js';
import { natsOptions } from '../brokers/nats.js';
import { redisClientUrl } from '../brokers/redis.js';

/**
 * Each bench run reads a channel of its own (the URL's channel with a run suffix), so no run
 * sees another's messages, and removes it afterwards where the broker lets a client do so.
 */

/**
 * The URL naming `channel` instead of its own: the whole path (an MQTT topic `a/b` has two
 * segments), or for AMQP its last segment (`/vhost/queue` keeps its vhost). The query stays.
 */
export function withChannel(url: string, channel: string): string {
  const q = url.indexOf('?');
  const base = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  const server = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/.exec(base)![0];
  const path = base.slice(server.length);
  const encoded = channel.split('/').map(encodeURIComponent).join('/');
  if (/^amqps?:/.test(url))
    return `${server}${path.slice(0, path.lastIndexOf('/') + 1)}${encodeURIComponent(channel)}${query}`;
  return `${server}/${encoded}${query}`;
}

export function runChannel(url: string, tag: string): string {
  return `${url === 'memory' ? 'bench' : channelFromUrl(url)!}-${tag}`;
}

/**
 * A run's dead-letter channel (a component that fails messages sends them there): the run's own,
 * deleted with its channel — the engine's default, `wasmsg.dead-letter`, is shared by everything
 * on the broker, and a bench run would leave its payloads there.
 */
export const deadLetterOf = (channel: string): string => `${channel}-dead-letter`;

/** Deletes a run's channel and its dead-letter channel (both tried; the first failure thrown). */
export async function dropRunChannels(scheme: string, url: string, channel: string): Promise<void> {
  const done = await Promise.allSettled([
    dropChannel(scheme, url, channel),
    dropChannel(scheme, url, deadLetterOf(channel)),
  ]);
  for (const d of done) if (d.status === 'rejected') throw d.reason;
}

/**
 * Deletes a run's channel: the Redis stream, the NATS JetStream stream made for it, the AMQP
 * queue. Kafka topics stay (deleting needs the admin API and the broker's consent; kafkajs's
 * deleteTopics does not work against the librdkafka mock), MQTT keeps nothing.
 */
export async function dropChannel(scheme: string, url: string, channel: string): Promise<void> {
  switch (scheme) {
    case 'redis': {
      const { Redis } = await import('ioredis');
      const r = new Redis(redisClientUrl(url), { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await r.connect();
        await r.del(channel);
      } finally {
        r.disconnect();
      }
      return;
    }
    case 'nats': {
      const { connect } = await import('nats');
      const nc = await connect(natsOptions(url));
      try {
        const jsm = await nc.jetstreamManager();
        const name = await jsm.streams.find(channel).catch(() => undefined);
        if (name !== undefined) {
          const info = await jsm.streams.info(name);
          // only a stream that holds nothing but this run's subject
          if (info.config.subjects?.length === 1 && info.config.subjects[0] === channel) await jsm.streams.delete(name);
        }
      } finally {
        await nc.close();
      }
      return;
    }
    case 'amqp': {
      const amqp = (await import('amqplib')).default;
      const conn = await amqp.connect(serverUrl(url));
      try {
        const ch = await conn.createChannel();
        await ch.deleteQueue(channel);
        await ch.close();
      } finally {
        await conn.close();
      }
      return;
    }
    default:
      return;
  }
}

/** The URL without its channel (the last path segment): the server (and AMQP vhost) alone. */
export function serverUrl(url: string): string {
  return url.replace(/\/[^/?]*(\?.*)?$/, '$1');
}
