import { BrokerError, ErrorCode } from '../errors.js';
import { redact, unreachable } from './common.js';

/**
 * The one deadline of every adapter's connect (`brokers[].options.connectTimeoutMs`): the same
 * name, the same default and the same error for Kafka, NATS, Redis, AMQP and MQTT — before, each
 * bounded its connect its own way (amqplib's `timeout` 10 s, a Kafka probe on
 * `client.requestTimeout`, mqtt.js's `connectTimeout` hard-coded to 5 s, nats.js's `timeout`
 * 20 s, a timer of the Redis adapter's on ioredis's `connectTimeout`).
 */

/** `connectTimeoutMs` when neither it nor the client library's own connect timeout is given. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** What every adapter's options have: its broker's name and URL, and its connect deadline. */
export interface ConnectOptions {
  readonly name: string;
  readonly url: string;
  /**
   * A connect that has not reached a broker that answers within this long fails with
   * E_BROKER_UNAVAILABLE, whatever the server does meanwhile (accepts and says nothing, drops the
   * SYNs; a refusal fails at once, but Kafka tries again until then). Default: the client library's own connect timeout when given
   * (Kafka `client.requestTimeout`, NATS `client.timeout`, Redis and MQTT `client.connectTimeout`,
   * AMQP `socket.timeout`), else 10 s; given both, this one wins. NATS, Redis, AMQP and MQTT hand
   * it to the client library as that timeout too: it bounds each reconnection attempt as well.
   * Kafka bounds each subscription's consumer with it too, its connect and its group join,
   * counted from the cluster's last answer (kafka-join.ts).
   */
  readonly connectTimeoutMs?: number;
}

/** The deadline of `options`' connect: `connectTimeoutMs`, else `clientOwn` (the library's own option, when a positive number), else 10 s. */
export function connectDeadline(options: ConnectOptions, clientOwn: unknown): number {
  if (options.connectTimeoutMs !== undefined) return options.connectTimeoutMs;
  return typeof clientOwn === 'number' && clientOwn > 0 ? clientOwn : CONNECT_TIMEOUT_MS;
}

/** What did not connect, when it is more than the adapter's connection: its words at the deadline (default `not connected`) and its context. */
export interface Missed {
  readonly what: string;
  readonly context: Readonly<Record<string, unknown>>;
}

/**
 * `attempt` (a connect) within `ms`. Its failure before then: E_BROKER_UNAVAILABLE with its cause
 * (a BrokerError it throws passes as it is). At the deadline: E_BROKER_UNAVAILABLE naming the
 * broker, its URL and the deadline (and what `missed()` says did not connect), at once, and
 * `abandon()` closes what the attempt opened
 * where the adapter can reach it (Redis, Kafka; AMQP through an abort signal on its socket, as
 * amqplib's own timeout is an idle timer; NATS and MQTT close theirs on their own timeout, set to
 * the same deadline, a fixed one); a connection made after the
 * deadline all the same is closed with `abandon(made)`. Nothing `abandon` throws escapes.
 * An attempt of several steps, some of which the server may rightly take long over (Kafka's
 * group join, which waits for the group's other members), calls `answered()` each time the
 * server answered it: the deadline then counts from that answer — it bounds a server's silence,
 * not the whole attempt.
 */
export function connectWithin<T>(
  broker: ConnectOptions,
  ms: number,
  attempt: (answered: () => void) => Promise<T>,
  abandon: (made?: T) => unknown = () => {},
  missed?: () => Missed,
): Promise<T> {
  const quietly = (made?: T): void => {
    try {
      void Promise.resolve(abandon(made)).catch(() => {});
    } catch {
      // (closing what failed: nothing to report)
    }
  };
  return new Promise<T>((resolve, reject) => {
    let late = false;
    let lastAnswer = performance.now();
    const expire = (): void => {
      const quiet = performance.now() - lastAnswer;
      if (quiet < ms) {
        timer = setTimeout(expire, Math.ceil(ms - quiet)); // answered meanwhile: counts from then
        return;
      }
      late = true;
      const m = missed?.();
      reject(
        new BrokerError(
          ErrorCode.brokerUnavailable,
          `cannot reach ${redact(broker.url)}: ${m?.what ?? 'not connected'} within ${ms} ms (broker '${broker.name}', connectTimeoutMs)`,
          { broker: broker.name, url: redact(broker.url), connectTimeoutMs: ms, ...m?.context },
        ),
      );
      quietly();
    };
    let timer = setTimeout(expire, ms);
    const answered = (): void => void (lastAnswer = performance.now());
    // (an attempt that throws at once fails as one that rejects)
    Promise.resolve()
      .then(() => attempt(answered))
      .then(
        (made) => {
          clearTimeout(timer);
          if (late) quietly(made);
          else resolve(made);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!late) reject(err instanceof BrokerError ? err : unreachable(broker.url, err));
        },
      );
  });
}
