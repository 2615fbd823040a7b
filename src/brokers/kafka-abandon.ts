import { type Socket, connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ISocketFactory, KafkaConfig } from 'kafkajs';

/** What a kafkajs client's config gets from abandonable(). */
export type AbandonableConfig = Pick<KafkaConfig, 'socketFactory' | 'brokers' | 'logCreator'>;

/**
 * A kafkajs client's sockets and seed brokers (`config`: the user's `client.socketFactory` and
 * `client.brokers`, else kafkajs's own), given up with `abandon()` at a connect deadline
 * (deadline.ts). Past it kafkajs would hold on: its disconnect() waits for the requests in flight
 * (the ApiVersions a silent server never answers), and its retries of a connect go on after it (a
 * new connection to such a server each time). Once abandoned, the sockets made are destroyed with
 * an error, on which kafkajs fails their requests in flight at once (it does not listen for a
 * plain `close`: a socket destroyed without one left its requests, and their timers, to their
 * request timeout); none is made (kafkajs: a connection error, so it picks another seed broker),
 * and the seed brokers are none (kafkajs: "brokers array is empty", an error it does not retry):
 * a connect ends at once. What kafkajs logs about it from then on is dropped (the deadline's
 * error says it).
 */
export function abandonable(config: KafkaConfig): {
  config: AbandonableConfig;
  abandon: () => void;
  abandoned: () => boolean;
} {
  const made = new Set<Socket>();
  let abandoned = false;
  const make: ISocketFactory =
    config.socketFactory ??
    (({ host, port, ssl, onConnect }) => {
      const socket = ssl
        ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect)
        : tcpConnect({ host, port }, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    });
  const seeds = config.brokers;
  const logCreator = config.logCreator;
  return {
    config: {
      socketFactory: (args) => {
        if (abandoned) throw new Error('the connect was given up (connectTimeoutMs)');
        const socket = make(args);
        made.add(socket);
        socket.once('close', () => made.delete(socket));
        return socket;
      },
      brokers: () => (abandoned ? [] : typeof seeds === 'function' ? seeds() : seeds),
      ...(logCreator === undefined
        ? {}
        : {
            logCreator: (level) => {
              const log = logCreator(level);
              return (entry) => void (abandoned || log(entry));
            },
          }),
    },
    abandon: () => {
      abandoned = true;
      const gone = new Error('the connect was given up (connectTimeoutMs)');
      for (const socket of made) {
        socket.on('error', () => {}); // (kafkajs listens too; this one only keeps it handled)
        socket.destroy(gone);
      }
    },
    abandoned: () => abandoned,
  };
}
