/**
 * The bare npm clients (`wasmsg bench --baseline`, and P5 of bench:brokers): each consumes a channel at-least-once the way its client's own
 * documentation does it, with the same batch / prefetch sizes the wasmsg adapters use, calling
 * `handle` on every message before acknowledging it — and nothing else (no engine, no workers).
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { AckPolicy, DeliverPolicy, connect as natsConnect } from 'nats';
import { brokersOf } from '../brokers/kafka.js';
import type { MemoryBroker } from '../brokers/memory.js';
import { natsOptions } from '../brokers/nats.js';
import { redisClientUrl } from '../brokers/redis.js';
import { serverUrl } from './channels.js';

export type Handle = (value: Uint8Array, i: number) => void;

/** Counts acknowledged messages (the caller meters them: `acked`); a read loop stops at `total`. */
class Count {
  private n = 0;
  constructor(private readonly total: number) {}
  /** Returns true once the last message is acknowledged. */
  ack(k = 1): boolean {
    this.n += k;
    return this.n >= this.total;
  }
  get seen(): number {
    return this.n;
  }
}

export interface BareRun {
  /** Resolves once subscribed (a live producer may start). */
  readonly ready: Promise<void>;
  /** Rejects if consuming fails after `ready`. */
  readonly failed: Promise<never>;
  close(): Promise<void>;
}

export function bareConsume(
  broker: string,
  url: string,
  channel: string,
  total: number,
  handler: Handle,
  /** The embedded broker, for `memory`: its consumer API, acking each record after `handle`. */
  memory?: MemoryBroker,
  /** Told each message once its acknowledgement is sent (after `handle`). */
  acked: (value: Uint8Array) => void = () => {},
  /** The adapter options the engine's runs get for this scheme (Kafka: `sessionTimeoutMs`). */
  options: Readonly<Record<string, unknown>> = {},
): BareRun {
  const w = new Count(total);
  let fail!: (e: unknown) => void;
  /** Rejects when a read loop fails (the run then fails instead of waiting for messages that will not come). */
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => {});
  // a handler that throws fails the run with its reason (thrown in a client's callback, it would
  // end the process with a stack trace as the only word of it)
  const handle: Handle = (value, i) => {
    try {
      handler(value, i);
    } catch (e) {
      fail(e);
    }
  };
  let close: () => Promise<void> = async () => {};
  const ready = (async (): Promise<void> => {
    switch (broker) {
      case 'memory': {
        const consumer = await memory!.subscribe({ channel, kind: 'queue', group: 'bare' }, (records) => {
          for (const r of records) {
            handle(r.value, w.seen);
            consumer.settle(r, 'ack');
            acked(r.value);
            w.ack();
          }
        });
        close = () => consumer.close();
        return;
      }
      case 'kafka': {
        const kafka = new Kafka({ clientId: 'bare', brokers: brokersOf(url), logLevel: logLevel.NOTHING });
        const consumer = kafka.consumer({
          groupId: `bare-${randomBytes(4).toString('hex')}`,
          sessionTimeout: sessionTimeoutOf(options),
        });
        await consumer.connect();
        await consumer.subscribe({ topic: channel, fromBeginning: true });
        // eachBatch, offsets resolved per message, kafkajs's auto-commit after each batch
        await consumer.run({
          eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
            for (const m of batch.messages) {
              handle(m.value!, w.seen);
              resolveOffset(m.offset);
              acked(m.value!);
              w.ack();
            }
            await heartbeat();
          },
        });
        close = () => consumer.disconnect();
        return;
      }
      case 'nats': {
        const nc = await natsConnect(natsOptions(url));
        const jsm = await nc.jetstreamManager();
        // the stream the producer made, or one made here (fixed-rate runs start consuming first)
        const stream = await jsm.streams.find(channel).catch(async () => {
          const name = `bare-${randomBytes(4).toString('hex')}`;
          await jsm.streams.add({ name, subjects: [channel] });
          return name;
        });
        const durable = `bare-${randomBytes(4).toString('hex')}`;
        await jsm.consumers.add(stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          filter_subject: channel,
          max_ack_pending: 4096,
        });
        const consumer = await nc.jetstream().consumers.get(stream, durable);
        const messages = await consumer.consume({ max_messages: 256 });
        void (async () => {
          for await (const m of messages) {
            handle(m.data, w.seen);
            m.ack();
            acked(m.data);
            if (w.ack()) break;
          }
        })().catch(fail);
        close = async () => {
          messages.stop();
          await jsm.consumers.delete(stream, durable).catch(() => {});
          await nc.close();
        };
        return;
      }
      case 'redis': {
        const r = new Redis(redisClientUrl(url));
        const group = `bare-${randomBytes(4).toString('hex')}`;
        await r.xgroup('CREATE', channel, group, '0', 'MKSTREAM');
        let stop = false;
        void (async () => {
          while (!stop) {
            const reply = (await r.xreadgroupBuffer(
              'GROUP',
              group,
              'bare',
              'COUNT',
              256,
              'BLOCK',
              1000,
              'STREAMS',
              channel,
              '>',
            )) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
            const entries = reply?.[0]?.[1] ?? [];
            if (entries.length === 0) continue;
            const values: Buffer[] = [];
            for (const [, fields] of entries) {
              for (let i = 0; i < fields.length; i += 2) {
                if (fields[i]!.toString() === 'data') {
                  handle(fields[i + 1]!, w.seen);
                  values.push(fields[i + 1]!);
                }
              }
            }
            await r.xack(channel, group, ...entries.map(([id]) => id));
            for (const v of values) acked(v);
            if (w.ack(entries.length)) break;
          }
        })().catch(fail);
        close = async () => {
          stop = true;
          r.disconnect();
        };
        return;
      }
      case 'amqp': {
        const conn = await amqp.connect(serverUrl(url));
        const ch = await conn.createChannel();
        await ch.assertQueue(channel, { durable: true });
        await ch.prefetch(1024);
        await ch.consume(channel, (m) => {
          if (m === null) return;
          handle(m.content, w.seen);
          ch.ack(m);
          acked(m.content);
          w.ack();
        });
        close = async () => {
          await ch.close().catch(() => {});
          await conn.close().catch(() => {});
        };
        return;
      }
      case 'mqtt': {
        // QoS 1: mqtt.js sends the PUBACK once the 'message' handler has returned
        const c = await mqtt.connectAsync(url, {
          protocolVersion: 5,
          clientId: `bare-${randomBytes(4).toString('hex')}`,
        });
        c.on('message', (_t, payload) => {
          handle(payload, w.seen);
          acked(payload); // mqtt.js sends the PUBACK as this handler returns
          w.ack();
        });
        await c.subscribeAsync(channel, { qos: 1 });
        close = () => c.endAsync();
        return;
      }
      default:
        throw new Error(`no bare client for '${broker}'`);
    }
  })();
  return { ready, failed, close: () => close() };
}

/** The Kafka session timeout the engine's consumers would use (`--kafka-session-timeout`), else 6 s. */
function sessionTimeoutOf(options: Readonly<Record<string, unknown>>): number {
  const ms = options['sessionTimeoutMs'];
  return typeof ms === 'number' ? ms : 6000;
}
