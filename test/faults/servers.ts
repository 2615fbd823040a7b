import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Broker servers of the fault tests' own: each on a free port of 127.0.0.1 with a temporary
 * directory, started as a child process and killed or stopped by its PID (never by name), then
 * started again on the same port — with the same directory (what the server kept on disk
 * survives) or a fresh one (the server lost everything). Same commands as scripts/brokers.sh.
 */

export type ServerKind = 'nats' | 'redis' | 'mosquitto';

const BINARIES: Record<ServerKind, string[]> = {
  nats: ['nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server'],
  redis: ['redis-server', '/usr/bin/redis-server'],
  mosquitto: ['mosquitto', '/usr/sbin/mosquitto'],
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Servers still running: killed when the test process exits, however the test ended. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

export class TestServer {
  private child: ChildProcess | undefined;
  private log = '';
  dir: string;

  private constructor(
    readonly kind: ServerKind,
    readonly port: number,
    /** nats-server: a configuration file's text (e.g. users and their permissions), beside the flags. */
    private readonly natsConfig?: string,
    /** nats-server: with JetStream (the default), or core NATS only. */
    private readonly jetstream = true,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `wasmsg-fault-${kind}-${port}-`));
  }

  static async start(kind: ServerKind, natsConfig?: string, jetstream = true): Promise<TestServer> {
    const s = new TestServer(kind, await freePort(), natsConfig, jetstream);
    await s.spawn();
    return s;
  }

  get url(): string {
    return `${this.kind === 'mosquitto' ? 'mqtt' : this.kind}://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private args(): string[] {
    switch (this.kind) {
      case 'nats': {
        const args = ['-a', '127.0.0.1', '-p', String(this.port)];
        if (this.jetstream) args.push('-js', '-sd', join(this.dir, 'jetstream'));
        if (this.natsConfig === undefined) return args;
        const conf = join(this.dir, 'nats.conf');
        writeFileSync(conf, this.natsConfig);
        return ['-c', conf, ...args];
      }
      case 'redis':
        return [
          '--bind',
          '127.0.0.1',
          '--port',
          String(this.port),
          '--dir',
          this.dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
        ];
      case 'mosquitto': {
        const conf = join(this.dir, 'mosquitto.conf');
        const lines = [
          `listener ${this.port} 127.0.0.1`,
          'allow_anonymous true',
          'persistence true',
          `persistence_location ${this.dir}/`,
          'log_dest stdout',
          'max_queued_messages 100000',
        ];
        if (process.getuid?.() === 0) lines.push('user root');
        writeFileSync(conf, `${lines.join('\n')}\n`);
        return ['-c', conf];
      }
    }
  }

  private async spawn(): Promise<void> {
    let error: Error | undefined;
    for (const bin of BINARIES[this.kind]) {
      const child = spawn(bin, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      const failed = await new Promise<Error | undefined>((resolve) => {
        child.once('error', resolve);
        child.once('spawn', () => resolve(undefined));
      });
      if (failed !== undefined) {
        error = failed;
        continue;
      }
      this.child = child;
      running.add(child);
      child.once('exit', () => running.delete(child));
      child.stdout!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
      child.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-4000)));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) break;
        if (await portOpen(this.port)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`fault tests: ${this.kind} on port ${this.port} did not start: ${this.log}`);
    }
    throw new Error(
      `fault tests: cannot start ${this.kind} (${error?.message}); install it with scripts/setup-debian.sh`,
    );
  }

  /** Sends `signal` to the server's PID and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, signal);
    await exited;
    this.child = undefined;
  }

  /**
   * Starts it again on the same port: `fresh` = with an empty directory (the server lost what
   * it kept), else the directory it had.
   */
  async restart(opts: { fresh?: boolean; signal?: NodeJS.Signals; downMs?: number } = {}): Promise<void> {
    await this.kill(opts.signal ?? 'SIGKILL');
    if (opts.fresh === true) {
      rmSync(this.dir, { recursive: true, force: true });
      this.dir = mkdtempSync(join(tmpdir(), `wasmsg-fault-${this.kind}-${this.port}-`));
    }
    if (opts.downMs !== undefined) await new Promise((r) => setTimeout(r, opts.downMs));
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TCP proxy on a port of its own in front of a server: `cut()` drops every connection and
 * stops listening for a while — the server is away, as far as the client can tell — then
 * listens again on the same port. For servers the tests cannot restart cheaply (RabbitMQ).
 */
export class TcpProxy {
  private readonly sockets = new Set<import('node:net').Socket>();
  private server: import('node:net').Server | undefined;
  /** Set by silence(): connections are accepted and never answered. */
  private silent = false;
  /** Client connections accepted so far, and those still open. */
  accepted = 0;
  readonly clients = new Set<import('node:net').Socket>();
  private onAccept: (() => void) | undefined;
  /** Set by dropWhen(): makes each new connection's watch over what its client sends. */
  private watch: (() => (data: Buffer) => boolean) | undefined;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
    /** A slow link: each connection reaches the server this long after it was accepted. */
    private readonly delayMs: number,
  ) {}

  static async start(target: { host: string; port: number }, delayMs = 0): Promise<TcpProxy> {
    const p = new TcpProxy(await freePort(), target, delayMs);
    await p.listen();
    return p;
  }

  private listen(): Promise<void> {
    const server = createServer((client) => {
      this.accepted++;
      this.clients.add(client);
      client.on('close', () => this.clients.delete(client));
      this.onAccept?.();
      if (this.silent) {
        this.sockets.add(client);
        client.on('error', () => {});
        client.on('close', () => this.sockets.delete(client));
        client.resume(); // what the client says is read and dropped (so its end is seen)
        return;
      }
      this.sockets.add(client);
      client.on('error', () => {});
      client.on('close', () => this.sockets.delete(client));
      const forward = (): void => {
        if (client.destroyed) return;
        const upstream = createConnection(this.target);
        this.sockets.add(upstream);
        upstream.on('error', () => {});
        upstream.on('close', () => this.sockets.delete(upstream));
        const seen = this.watch?.();
        if (seen === undefined) client.pipe(upstream);
        else
          client.on('data', (data: Buffer) => {
            if (!seen(data)) upstream.write(data);
            else {
              client.destroy();
              upstream.destroy();
            }
          });
        upstream.pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      };
      if (this.delayMs > 0) setTimeout(forward, this.delayMs);
      else forward();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Drops every connection, refuses new ones for `downMs`, then accepts them again. */
  async cut(downMs: number): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    for (const s of this.sockets) s.destroy();
    await closed;
    await new Promise((r) => setTimeout(r, downMs));
    await this.listen();
  }

  /**
   * From now on each new connection's client data goes through a watch of its own (`watch()`
   * makes one) before it is forwarded: once the watch returns true, that data is not forwarded
   * and the connection is dropped, both ends — the server lost at a chosen packet.
   */
  dropWhen(watch: () => (data: Buffer) => boolean): void {
    this.watch = watch;
  }

  /** Drops every connection; from then on accepts connections and never answers (a hung server). */
  silence(): void {
    this.silent = true;
    for (const s of this.sockets) s.destroy();
  }

  /** Resolves once `n` client connections have been accepted in all. */
  acceptedCount(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.accepted < n) return;
        this.onAccept = undefined;
        resolve();
      };
      this.onAccept = check;
      check();
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}
