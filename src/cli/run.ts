import { createWriteStream } from 'node:fs';
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import type { BrokerAdapter } from '../brokers/adapter.js';
import { MemoryBroker } from '../brokers/memory.js';
import { generate } from '../brokers/synthetic.js';
import { channelFromUrl, createBroker } from '../brokers/connect.js';
import { inspectComponent } from '../component/load.js';
import { Engine } from '../engine/engine.js';
import { type EngineOptionsInput, checkBrokers, resolveOptions } from '../engine/options.js';
import type { EngineStats } from '../engine/stats.js';
import { readConfigFile } from './config.js';
import { serveMetrics } from './metrics.js';
import { checkComponentPath } from './files.js';
import { Budget, LimitedAdapter } from './limit.js';
import { UsageError } from './usage.js';
import { RateLimiter, logger } from '../log.js';
import { redact } from '../brokers/common.js';

export interface RunOptions {
  config?: string;
  workers?: number;
  batch?: number;
  linger?: number;
  ordering?: string;
  /** Default `input`; for a world C component, the channels its configure() returns. */
  topic?: string;
  partitions: number;
  generate?: number;
  size: number;
  keys?: number;
  limit?: number;
  from?: string;
  group?: string;
  kind?: string;
  maxAttempts?: number;
  handlerTimeout?: number;
  deadLetter?: string;
  json?: boolean;
  cacheDir?: string;
  binding?: string;
  /** host:port of the Prometheus endpoint (/metrics, /healthz, /readyz). */
  metrics?: string;
  /** Seconds between stats lines off a TTY (0: none; default 5). */
  statsInterval?: number;
  /** Writes every dead letter of the run to this file, one JSON object a line. */
  deadLetters?: string;
  /** Exit with ExitCode.deadLettered (4) when anything was dead-lettered. */
  failOnDeadLetter?: boolean;
}

/** `wasmsg run`'s exit code when `--fail-on-dead-letter` is given and anything was dead-lettered. */
export const EXIT_DEAD_LETTERED = 4;

/**
 * `--config` names the components, their inputs and the brokers: the flags that would name them
 * too are refused rather than silently ignored. The tuning flags (--workers, --batch, --linger,
 * --ordering, --binding, --max-attempts, --handler-timeout, --dead-letter, --cache-dir) override
 * the file.
 */
function checkUsage(component: string | undefined, opts: RunOptions): void {
  if (opts.config !== undefined) {
    const clash = [
      ...(component === undefined ? [] : [`a component (${component})`]),
      ...(['from', 'group', 'kind', 'topic'] as const).filter((k) => opts[k] !== undefined).map((k) => `--${k}`),
    ];
    if (clash.length > 0) {
      throw new UsageError(
        `--config names the components, their inputs and brokers: it cannot be combined with ${clash.join(', ')} (edit the file, or drop --config)`,
        'config',
      );
    }
  } else if (component === undefined) {
    throw new UsageError('run needs a component file or --config <file>', 'component');
  }
  if (opts.from !== undefined && opts.generate !== undefined) {
    throw new UsageError('--generate feeds the embedded broker; it cannot be combined with --from', 'generate');
  }
}

async function baseOptions(component: string | undefined, opts: RunOptions): Promise<Record<string, unknown>> {
  if (opts.config !== undefined) return readConfigFile(opts.config);
  if (component === undefined) throw new UsageError('run needs a component file or --config <file>', 'component');
  const kind = opts.kind ?? 'queue';
  const group = opts.group === undefined ? {} : { group: opts.group };
  if (opts.from !== undefined) {
    const channel = channelFromUrl(opts.from);
    if (channel === undefined) {
      throw new UsageError(
        `--from ${opts.from}: the URL names no channel (e.g. kafka://127.0.0.1:9092/orders)`,
        'from',
      );
    }
    // The --from broker is the components' `default` broker: what they publish goes back to it.
    return {
      brokers: [{ name: 'default', url: opts.from }],
      components: [{ path: component, subscriptions: [{ broker: 'default', channel, kind, ...group }] }],
    };
  }
  if (opts.topic === undefined) {
    // No channel named: a world C component subscribes to what its configure() returns.
    await checkComponentPath(component);
    const info = await inspectComponent(component, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
    if (info.family === 'c') return { components: [{ path: component }] };
  }
  return { components: [{ path: component, subscriptions: [{ channel: opts.topic ?? 'input', kind, ...group }] }] };
}

/** The flags that tune the engine, over what the file (or the defaults) say. */
function withFlags(base: Record<string, unknown>, opts: RunOptions): EngineOptionsInput {
  const section = (name: string): Record<string, unknown> => {
    const v = base[name];
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  };
  const options: Record<string, unknown> = { ...base };
  if (opts.workers !== undefined) options['workers'] = opts.workers;
  if (opts.ordering !== undefined) options['ordering'] = opts.ordering;
  if (opts.cacheDir !== undefined) options['cacheDir'] = opts.cacheDir;
  if (opts.handlerTimeout !== undefined) options['handlerTimeoutMs'] = opts.handlerTimeout;
  if (opts.binding !== undefined) options['components'] = withBinding(base, opts.binding);
  if (opts.batch !== undefined || opts.linger !== undefined) {
    options['batch'] = {
      ...section('batch'),
      ...(opts.batch === undefined ? {} : { maxMessages: opts.batch }),
      ...(opts.linger === undefined ? {} : { lingerMs: opts.linger }),
    };
  }
  if (opts.maxAttempts !== undefined) options['retries'] = { ...section('retries'), maxAttempts: opts.maxAttempts };
  if (opts.deadLetter !== undefined) options['deadLetter'] = { ...section('deadLetter'), channel: opts.deadLetter };
  return options as EngineOptionsInput;
}

/** `--binding jco` forces jco's glue on every component (of the file, or the positional one). */
function withBinding(base: Record<string, unknown>, binding: string): unknown[] {
  const components = (base['components'] as Array<Record<string, unknown>> | undefined) ?? [];
  return components.map((c) => ({ ...c, binding }));
}

/** Percentiles never above the max (hdr-histogram rounds a percentile up to its bucket's top). */
function latency(s: EngineStats): EngineStats['latencyMs'] {
  const l = s.latencyMs;
  return { p50: Math.min(l.p50, l.max), p90: Math.min(l.p90, l.max), p99: Math.min(l.p99, l.max), max: l.max };
}

/** The busy window: first message received → last one settled, sampled (see BusyWindow). */
export interface Busy {
  readonly ms: number;
  readonly msgsPerSec: number;
}

export function statsToJSON(s: EngineStats, busy?: Busy): Record<string, unknown> {
  return {
    processed: s.processed,
    acked: s.acked,
    failed: s.failed,
    retried: s.retried,
    deadLettered: s.deadLettered,
    published: s.published,
    received: s.received,
    elapsedMs: Math.round(s.elapsedMs),
    msgsPerSec: Math.round(s.msgsPerSec),
    ...(busy === undefined ? {} : { busyMs: Math.round(busy.ms), busyMsgsPerSec: Math.round(busy.msgsPerSec) }),
    latencyMs: latency(s),
    workerUs: s.workerUs,
  };
}

/**
 * One stats line, its fields named for what they count: `handled ok` (the handler returned ok),
 * `settled` (acked to the broker: handled ok, or dead-lettered after the last attempt).
 */
export function statsLine(s: EngineStats, busy?: Busy): string {
  const rate =
    busy === undefined
      ? `${Math.round(s.msgsPerSec)} msgs/s overall`
      : `${Math.round(busy.msgsPerSec)} msgs/s busy (${(busy.ms / 1000).toFixed(1)} s from first received to last settled), ${Math.round(s.msgsPerSec)} msgs/s overall (${(s.elapsedMs / 1000).toFixed(1)} s)`;
  return `received ${s.received}  handled ok ${s.processed}  settled ${s.acked}  retried ${s.retried}  dead-lettered ${s.deadLettered}  published ${s.published}  ${rate}`;
}

/**
 * First received → last settled, from the counters sampled every `everyMs` (the engine's hot
 * path pays nothing): the window starts at the sample before the first received one and ends at
 * the sample where `acked` last grew, so it errs long (the rate low) by at most two samples.
 */
export class BusyWindow {
  private prevT: number;
  private start: number | undefined;
  private end: number | undefined;
  private lastAcked = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly snapshot: () => Pick<EngineStats, 'received' | 'acked'>,
    everyMs = 50,
  ) {
    this.prevT = performance.now();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): void {
    const t = performance.now();
    const s = this.snapshot();
    if (this.start === undefined && s.received > 0) this.start = this.prevT;
    if (s.acked > this.lastAcked) {
      this.lastAcked = s.acked;
      this.end = t;
    }
    this.prevT = t;
  }

  busy(): Busy | undefined {
    if (this.start === undefined || this.end === undefined) return undefined;
    const ms = Math.max(1, this.end - this.start);
    return { ms, msgsPerSec: (this.lastAcked / ms) * 1000 };
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

export async function runRun(component: string | undefined, opts: RunOptions): Promise<number> {
  checkUsage(component, opts);
  const generateCount = opts.generate;
  const limit = opts.limit ?? generateCount;
  const options = withFlags(await baseOptions(component, opts), opts);
  // every problem reported before anything starts: the schema, the brokers, the component files
  const resolved = resolveOptions(options);
  checkBrokers(resolved, []);
  for (const c of resolved.components) await checkComponentPath(c.path);
  const defaultFromUrl = resolved.brokers.some((b) => b.name === 'default');
  if (generateCount !== undefined && defaultFromUrl) {
    throw new UsageError(
      '--generate feeds the embedded broker, but the config names another default broker',
      'generate',
    );
  }

  const memory = new MemoryBroker({ name: 'default', partitions: opts.partitions });
  let adapters: BrokerAdapter[] = defaultFromUrl ? [] : [memory];
  /** Adapters this command created (the engine closes only its own). */
  const created: BrokerAdapter[] = [];
  let engineOptions = options;
  if (limit !== undefined) {
    // --limit N: the engine is handed N messages in all, by every broker together (limit.ts);
    // brokers given by URL are created here, so that they can be wrapped.
    const budget = new Budget(limit);
    for (const spec of resolved.brokers) created.push(await createBroker(spec));
    adapters = [...adapters, ...created].map((a) => new LimitedAdapter(a, budget));
    engineOptions = { ...options, brokers: [] };
  }
  const engine = new Engine(engineOptions, adapters);
  const metrics =
    opts.metrics === undefined
      ? undefined
      : await serveMetrics(engine, opts.metrics).catch(async (err: unknown) => {
          for (const a of created) await a.close().catch(() => {});
          throw err;
        });
  if (metrics !== undefined)
    logger('run').info({ metrics: `${metrics.url}/metrics` }, `metrics on ${metrics.url}/metrics`);
  try {
    await engine.start();
  } catch (err) {
    metrics?.server.close();
    for (const a of created) await a.close().catch(() => {});
    throw err;
  }
  // one line on stderr once consuming (stdout stays for the results): scripts wait for it
  const log = logger('run');
  const subs = engine.options.components.flatMap((c) =>
    c.subscriptions.map((s) => `${s.broker}/${s.channel} (${s.kind}${s.group === undefined ? '' : ` ${s.group}`})`),
  );
  log.info(`running, consuming ${subs.join(', ')}`);
  const deadLetters = watchDeadLetters(engine, opts.deadLetters);
  if (generateCount === undefined) log.info(waitingHint(engine, resolved.brokers, !defaultFromUrl));
  else if (opts.limit !== undefined && opts.limit > generateCount) {
    // the generator stops short of the limit: say so, or the run seems to hang once it is done
    log.warn(
      `--limit ${opts.limit} is more than --generate ${generateCount}: after the generated messages the run waits for ${opts.limit - generateCount} more from elsewhere (outputs or dead letters fed back, other producers); stop it with Ctrl-C or SIGTERM`,
    );
  }
  const busyWindow = new BusyWindow(() => engine.snapshot());

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  if (limit !== undefined) void engine.waitForSettled(limit).then(resolveDone);
  const onSignal = (): void => resolveDone();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  if (generateCount !== undefined) {
    const channel = engine.options.components[0]!.subscriptions[0]!.channel;
    void generate(memory, channel, {
      count: generateCount,
      size: opts.size,
      ...(opts.keys === undefined ? {} : { keys: opts.keys }),
    });
  }

  const tty = process.stderr.isTTY === true && opts.json !== true;
  let bar: cliProgress.SingleBar | undefined;
  let ticker: NodeJS.Timeout | undefined;
  if (tty && limit !== undefined) {
    bar = new cliProgress.SingleBar(
      { format: 'wasmsg {bar} {value}/{total} | {rate} msgs/s | eta {eta}s', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(limit, 0, { rate: 0 });
    ticker = setInterval(() => {
      const s = engine.snapshot();
      bar!.update(s.acked, { rate: Math.round(s.msgsPerSec) });
    }, 200);
  } else if (tty) {
    ticker = setInterval(() => log.info(statsLine(engine.snapshot(), busyWindow.busy())), 1000);
  } else if ((opts.statsInterval ?? 5) > 0) {
    // off a TTY: a stats line (a log line, with the counters as fields) every few seconds
    ticker = setInterval(
      () => {
        const s = engine.snapshot();
        const busy = busyWindow.busy();
        log.info({ stats: statsToJSON(s, busy) }, statsLine(s, busy));
      },
      (opts.statsInterval ?? 5) * 1000,
    );
  }

  // Nothing else may hold the event loop open (embedded broker, idle pool): wait for `done`.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await done;
  clearInterval(keepAlive);
  if (ticker !== undefined) clearInterval(ticker);
  // stop first (on SIGTERM, in-flight batches drain and settle), then read the stats
  await engine.stop();
  busyWindow.stop(); // first: its window then ends no later than the stats' elapsed time
  const stats = engine.snapshot();
  const busy = busyWindow.busy();
  bar?.update(stats.acked, { rate: Math.round(stats.msgsPerSec) });
  bar?.stop();
  for (const a of created) await a.close();
  await deadLetters.close(stats);
  metrics?.server.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(statsToJSON(stats, busy))}\n`);
  } else {
    const l = latency(stats);
    process.stdout.write(
      [
        statsLine(stats, busy),
        `failed attempts ${stats.failed}`,
        `latency ms  p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}`,
      ].join('\n') + '\n',
    );
  }
  return opts.failOnDeadLetter === true && stats.deadLettered > 0 ? EXIT_DEAD_LETTERED : 0;
}

/** What a run with nothing fed to it waits on, and how to feed it. */
function waitingHint(engine: Engine, brokers: ReadonlyArray<{ name: string; url: string }>, embedded: boolean): string {
  const parts = engine.options.components.flatMap((c) =>
    c.subscriptions.map((sub) => {
      if (sub.broker === 'default' && embedded) {
        return `channel ${sub.channel} of the embedded broker (in this process: nothing else can publish to it; feed it with --generate N, or consume a real broker with --from <url>)`;
      }
      const spec = brokers.find((b) => b.name === sub.broker);
      const where = spec === undefined ? `broker ${sub.broker}` : redact(spec.url);
      return `channel ${sub.channel} of ${where}${sub.group === undefined ? '' : ` as group ${sub.group}`} (publish to it to feed this run)`;
    }),
  );
  return `waiting for messages on ${parts.length === 0 ? 'nothing (no subscriptions)' : parts.join('; ')}; stop with Ctrl-C`;
}

/**
 * Dead letters made visible: each distinct reason logged (a warning) with the component and the
 * message's position, the first 5 of a reason in each 10 s, then how many more; with `file`, each
 * dead letter written to it as one JSON line (payload base64, headers, error, position).
 */
function watchDeadLetters(engine: Engine, file: string | undefined): { close(stats: EngineStats): Promise<void> } {
  const log = logger('run');
  const limiter = new RateLimiter(5, 10_000, (reason, n, ms) =>
    log.warn({ reason, suppressed: n }, `${n} more dead letters in ${ms / 1000} s for the same reason`),
  );
  // retries: the engine emits no per-retry event; the counters, read every 5 s, say how many
  let seen = { retried: 0, failed: 0 };
  const retries = (s: Pick<EngineStats, 'retried' | 'failed'>): void => {
    const retried = s.retried - seen.retried;
    const failed = s.failed - seen.failed;
    if (retried > 0) {
      log.warn(
        { retried, failedAttempts: failed },
        `${retried} retries (${failed} failed attempts) since the last report; a message's reason is logged when it is dead-lettered`,
      );
    }
    seen = { retried: s.retried, failed: s.failed };
  };
  const retryTicker = setInterval(() => retries(engine.snapshot()), 5000);
  retryTicker.unref();
  const out = file === undefined ? undefined : createWriteStream(file, { flags: 'w' });
  let outError: unknown;
  out?.on('error', (err) => (outError = err));
  const owner = (channel: string): { component: string; broker: string } => {
    for (const c of engine.options.components) {
      const sub = c.subscriptions.find((s) => s.channel === channel);
      if (sub !== undefined) return { component: c.name ?? basename(c.path, '.wasm'), broker: sub.broker };
    }
    return { component: '?', broker: '?' };
  };
  engine.on('deadLettered', ({ record, error, attempts }) => {
    const { component, broker } = owner(record.channel);
    const position = { broker, channel: record.channel, partition: record.partition, offset: record.offset };
    const reason = error.length > 500 ? `${error.slice(0, 500)}...` : error;
    if (limiter.allow(reason)) {
      logger(component).warn({ ...position, attempts, reason }, `dead-lettered after ${attempts} attempts`);
    }
    out?.write(
      `${JSON.stringify({
        component,
        ...position,
        key: record.key,
        timestamp: record.timestamp,
        attempts,
        error,
        headers: record.headers,
        payload: Buffer.from(record.value).toString('base64'),
      })}\n`,
    );
  });
  return {
    async close(stats) {
      clearInterval(retryTicker);
      retries(stats);
      limiter.flush();
      if (stats.deadLettered > 0) {
        log.warn(
          { deadLettered: stats.deadLettered, retried: stats.retried, failedAttempts: stats.failed },
          `${stats.deadLettered} messages dead-lettered (${stats.retried} retries, ${stats.failed} failed attempts)${file === undefined ? '' : `, written to ${file}`}`,
        );
      }
      if (out !== undefined) await new Promise<void>((resolve) => out.end(resolve));
      if (outError !== undefined) throw outError;
    },
  };
}
