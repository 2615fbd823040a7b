import { type Socket, createConnection } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionOptions, NatsConnection } from 'nats';
// nats.js's own Node transport and the two calls its `connect` is made of (nats has no `exports`
// map: these are its published files, the ones `connect` itself uses)
import { NatsConnectionImpl, setTransportFactory } from 'nats/lib/nats-base-client/internal_mod.js';
import { NodeTransport, nodeResolveHost } from 'nats/lib/src/node_transport.js';

/**
 * nats.js's Node transport, with the socket of a connection attempt that failed closed.
 *
 * nats.js (2.29) closes a transport that never completed its handshake with a no-op (its
 * `_closed` returns at once while `connected` is false): when a server accepts the TCP
 * connection but never sends INFO (not a NATS server, a hung one, a proxy with nothing behind
 * it), the attempt times out (`TIMEOUT`) and the socket stays open. `connect` rejects, nobody
 * holds the connection any more, and the socket keeps the caller's process alive until the
 * server closes it — and while reconnecting, each attempt against such a server kept one more.
 * So did a TCP connection still being made when the attempt timed out (a host that drops the
 * SYNs: the kernel tries for about two minutes). Here such a close destroys the socket, made or
 * being made, and a socket that connects after its attempt was given up is destroyed at once.
 * (The closed notification is left alone: it is the protocol's signal that an established
 * connection dropped, and would start a reconnect.) Still needed beside the connect deadline
 * (deadline.ts), which rejects the connect but cannot reach the socket: nats.js keeps it to
 * itself, and takes no signal to abort an attempt; its own timeout, set to the deadline, ends
 * the attempt, and this close then destroys the socket (each reconnection's too).
 */
class ClosingTransport extends NodeTransport {
  private abandoned = false;
  /** The TCP connection being made (nats.js's own dial keeps no reference to it until it is). */
  private dialing: Socket | undefined;

  /** nats.js's dial (`NodeTransport.dial`), keeping the socket being connected. */
  override dial(hp: { hostname: string; port: number }): Promise<Socket> {
    return new Promise((resolve, reject) => {
      let dialError: Error | undefined;
      const socket = createConnection(hp.port, hp.hostname, () => {
        socket.removeAllListeners();
        this.dialing = undefined;
        resolve(socket);
      });
      this.dialing = socket;
      socket.on('error', (err) => (dialError = err));
      socket.on('close', () => {
        socket.removeAllListeners();
        this.dialing = undefined;
        reject(dialError); // (undefined: nats.js makes it CONNECTION_REFUSED)
      });
      socket.setNoDelay(true);
    });
  }

  override async tlsFirst(hp: { hostname: string; port: number }): Promise<TLSSocket> {
    return this.unlessAbandoned(await super.tlsFirst(hp));
  }

  override close(err?: Error): Promise<void> {
    if (!this.connected) {
      this.abandoned = true;
      this.dialing?.destroy();
      // (undefined until the TCP connection is made, whatever the declaration says)
      (this.socket as Socket | undefined)?.destroy();
    }
    return super.close(err);
  }

  private unlessAbandoned<S extends Socket>(socket: S): S {
    if (!this.abandoned) return socket;
    socket.destroy();
    throw new Error('connection attempt given up');
  }
}

/**
 * nats.js's `connect` with ClosingTransport. The transport factory is nats.js's, one per
 * process: it is set again before each connection (a `connect` of nats.js's own in the same
 * process sets its plain transport, which later reconnections of ours then use).
 */
export function connectNats(options: Partial<ConnectionOptions>): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new ClosingTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
