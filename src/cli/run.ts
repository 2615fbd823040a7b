import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { MemoryBroker } from '../brokers/memory.js';
import { generate } from '../brokers/synthetic.js';
import { channelFromUrl } from '../brokers/connect.js';
import { inspectComponent } from '../component/load.js';
import { Engine } from '../engine/engine.js';
import type { EngineOptionsInput } from '../engine/options.js';
import type { EngineStats } from '../engine/stats.js';
import { ErrorCode, OptionError } from '../errors.js';

export interface RunOptions {
  config?: string;
  workers?: string;
  batch?: string;
  linger?: string;
  ordering?: string;
  /** Default `input`; for a world C component, the channels its configure() returns. */
  topic?: string;
  partitions: string;
  generate?: string;
  size: string;
  keys?: string;
  limit?: string;
  from?: string;
  group?: string;
  kind?: string;
  json?: boolean;
  cacheDir?: string;
  binding?: string;
}

function int(name: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new OptionError(ErrorCode.badOption, `--${name} must be an integer >= ${min}, got '${value}'`, {
      option: name,
      value,
    });
  }
  return n;
}

async function baseOptions(component: string | undefined, opts: RunOptions): Promise<Record<string, unknown>> {
  if (opts.config !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.config, 'utf8');
    } catch (err) {
      throw new OptionError(ErrorCode.badOption, `--config ${opts.config}: ${(err as Error).message}`, {
        option: 'config',
      });
    }
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new OptionError(ErrorCode.badOption, `--config ${opts.config}: not JSON (${(err as Error).message})`, {
        option: 'config',
      });
    }
  }
  if (component === undefined) {
    throw new OptionError(ErrorCode.badOption, 'run needs a component file or --config <file>', {
      option: 'component',
    });
  }
  const kind = opts.kind ?? 'queue';
  const group = opts.group === undefined ? {} : { group: opts.group };
  if (opts.from !== undefined) {
    const channel = channelFromUrl(opts.from);
    if (channel === undefined) {
      throw new OptionError(
        ErrorCode.badOption,
        `--from ${opts.from}: the URL names no channel (e.g. kafka://127.0.0.1:9092/orders)`,
        {
          option: 'from',
        },
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
    const info = await inspectComponent(component, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
    if (info.family === 'c') return { components: [{ path: component }] };
  }
  return { components: [{ path: component, subscriptions: [{ channel: opts.topic ?? 'input', kind, ...group }] }] };
}

/** `--binding jco` forces jco's glue on every component (of the file, or the positional one). */
function withBinding(base: Record<string, unknown>, binding: string): unknown[] {
  const components = (base['components'] as Array<Record<string, unknown>> | undefined) ?? [];
  return components.map((c) => ({ ...c, binding }));
}

export function statsToJSON(s: EngineStats): Record<string, unknown> {
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
    latencyMs: s.latencyMs,
    workerUs: s.workerUs,
  };
}

function statsLine(s: EngineStats): string {
  return `processed ${s.processed}  acked ${s.acked}  retried ${s.retried}  dead-lettered ${s.deadLettered}  published ${s.published}  ${Math.round(s.msgsPerSec)} msgs/s`;
}

export async function runRun(component: string | undefined, opts: RunOptions): Promise<number> {
  const generateCount = int('generate', opts.generate);
  const size = int('size', opts.size, 0)!;
  const keys = int('keys', opts.keys, 0);
  const partitions = int('partitions', opts.partitions)!;
  const limit = int('limit', opts.limit) ?? generateCount;
  const base = await baseOptions(component, opts);
  const options: EngineOptionsInput = {
    ...(base as EngineOptionsInput),
    ...(opts.workers === undefined ? {} : { workers: int('workers', opts.workers)! }),
    ...(opts.ordering === undefined ? {} : { ordering: opts.ordering as 'partition' }),
    ...(opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir }),
    ...(opts.binding === undefined
      ? {}
      : { components: withBinding(base, opts.binding) as EngineOptionsInput['components'] }),
    batch: {
      ...((base['batch'] as object | undefined) ?? {}),
      ...(opts.batch === undefined ? {} : { maxMessages: int('batch', opts.batch)! }),
      ...(opts.linger === undefined ? {} : { lingerMs: int('linger', opts.linger, 0)! }),
    },
  };
  if (opts.from !== undefined && generateCount !== undefined) {
    throw new OptionError(
      ErrorCode.badOption,
      '--generate feeds the embedded broker; it cannot be combined with --from',
      { option: 'generate' },
    );
  }
  const memory = new MemoryBroker({ name: 'default', partitions });
  const defaultFromUrl = (options.brokers ?? []).some((b) => b.name === 'default');
  const engine = new Engine(options, defaultFromUrl ? [] : [memory]);
  await engine.start();
  // one line on stderr once consuming (stdout stays for the results): scripts wait for it
  const subs = engine.options.components.flatMap((c) =>
    c.subscriptions.map((s) => `${s.broker}/${s.channel} (${s.kind}${s.group === undefined ? '' : ` ${s.group}`})`),
  );
  process.stderr.write(`wasmsg: running, consuming ${subs.join(', ')}\n`);

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  if (limit !== undefined) void engine.waitForSettled(limit).then(resolveDone);
  const onSignal = (): void => resolveDone();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  if (generateCount !== undefined) {
    if (defaultFromUrl) {
      throw new OptionError(
        ErrorCode.badOption,
        '--generate feeds the embedded broker, but the config names another default broker',
        { option: 'generate' },
      );
    }
    const channel = engine.options.components[0]!.subscriptions[0]!.channel;
    void generate(memory, channel, { count: generateCount, size, ...(keys === undefined ? {} : { keys }) });
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
    ticker = setInterval(() => process.stderr.write(`${statsLine(engine.snapshot())}\n`), 1000);
  }

  // Nothing else may hold the event loop open (embedded broker, idle pool): wait for `done`.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await done;
  clearInterval(keepAlive);
  const stats = engine.snapshot();
  if (ticker !== undefined) clearInterval(ticker);
  bar?.update(stats.acked, { rate: Math.round(stats.msgsPerSec) });
  bar?.stop();
  await engine.stop();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(statsToJSON(stats))}\n`);
  } else {
    const l = stats.latencyMs;
    process.stdout.write(
      [
        statsLine(stats),
        `failed attempts ${stats.failed}`,
        `latency ms  p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}`,
      ].join('\n') + '\n',
    );
  }
  return 0;
}
