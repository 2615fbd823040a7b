import { redact } from '../brokers/common.js';
import { SCHEMES, channelFromUrl, schemeOf } from '../brokers/connect.js';
import { didYouMean } from '../engine/suggest.js';
import { inspectComponent } from '../component/load.js';
import { type EngineOptionsInput, topicGroupRefused } from '../engine/options.js';
import { readConfigFile } from './config.js';
import { checkComponentPath } from './files.js';
import { UsageError } from './usage.js';

/**
 * `wasmsg run`'s flags, and the engine options they make: from `--config <file>`, or from a
 * component file and `--from` / `--topic` / `--kind` / `--group`, with the tuning flags over
 * either. Usage errors (flags that clash) are thrown as UsageError before anything starts.
 */

export interface RunOptions {
  config?: string;
  workers?: number;
  batch?: number;
  linger?: number;
  ordering?: string;
  /** Default `input`; for a world C component, the channels its configure() returns. */
  topic?: string;
  /** Partitions of the embedded broker's channels (default DEFAULT_PARTITIONS). */
  partitions?: number;
  generate?: number;
  /** Payload bytes of a generated message (default DEFAULT_SIZE). */
  size?: number;
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
  /** Seconds between stats lines (0: none; default off a TTY 5, on one the bar: run-output.ts progressMode). */
  statsInterval?: number;
  /** Writes every dead letter of the run to this file, one JSON object a line. */
  deadLetters?: string;
  /** Exit with ExitCode.deadLettered (4) when anything was dead-lettered. */
  failOnDeadLetter?: boolean;
}

/** `--partitions` and `--size` when not given (no commander defaults: a flag given is told from one left out). */
export const DEFAULT_PARTITIONS = 4;
export const DEFAULT_SIZE = 100;

/**
 * `--config` names the components, their inputs and the brokers: the flags that would name them
 * too are refused rather than silently ignored. The tuning flags (--workers, --batch, --linger,
 * --ordering, --binding, --max-attempts, --handler-timeout, --dead-letter, --cache-dir) override
 * the file.
 */
export function checkUsage(component: string | undefined, opts: RunOptions): void {
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
  const scheme = opts.from === undefined ? 'memory' : schemeOf(opts.from);
  if (opts.from !== undefined && !(SCHEMES as readonly string[]).includes(scheme)) {
    // (before: the schema's words about options.brokers[0].url, a config the user never wrote, exit 1)
    throw new UsageError(
      `--from ${redact(opts.from)}: ${scheme === '' ? 'not a broker URL' : `unknown scheme '${scheme}'${schemeHint(scheme)}`} (schemes: ${SCHEMES.filter((x) => x !== 'memory').join(', ')}; e.g. nats://127.0.0.1:4222/orders)`,
      'from',
    );
  }
  if (opts.kind === 'topic' && opts.group !== undefined && scheme !== 'kafka') {
    throw new UsageError(`--group ${opts.group} with --kind topic: ${topicGroupRefused(scheme)}`, 'group');
  }
  if (opts.from !== undefined && opts.generate !== undefined) {
    throw new UsageError('--generate feeds the embedded broker; it cannot be combined with --from', 'generate');
  }
  // flags that would do nothing here are refused, not ignored (`--config` naming another default
  // broker, which leaves no embedded broker for --partitions, is found in run.ts once it is read)
  if (opts.from !== undefined && opts.partitions !== undefined) {
    throw new UsageError(
      "--partitions sets the embedded broker's partitions; it cannot be combined with --from (that broker's channels have their own)",
      'partitions',
    );
  }
  if (opts.from !== undefined && opts.topic !== undefined) {
    throw new UsageError(
      `--topic names a channel of the embedded broker; with --from the URL names the channel (e.g. ${schemeOf(opts.from)}://host/<channel>)`,
      'topic',
    );
  }
  const shaping = (['size', 'keys'] as const).filter((k) => opts[k] !== undefined).map((k) => `--${k}`);
  if (opts.generate === undefined && shaping.length > 0) {
    throw new UsageError(
      `${shaping.join(' and ')} ${shaping.length > 1 ? 'shape' : 'shapes'} the messages --generate makes: without --generate ${shaping.length > 1 ? 'they do' : 'it does'} nothing (add --generate N, or drop ${shaping.length > 1 ? 'them' : 'it'})`,
      shaping[0]!.slice(2),
    );
  }
}
/**
 * The engine options of a run: the config file's or the flags', with the tuning flags over them;
 * and the component path already checked (`checkComponentPath`) on the way, if one was: the
 * positional component, when it had to be inspected (no --topic: world C subscribes to what its
 * configure() returns), checked first for the command's words on a path that is no file.
 */
export async function runOptions(
  component: string | undefined,
  opts: RunOptions,
): Promise<{ readonly options: EngineOptionsInput; readonly checkedPath: string | undefined }> {
  const base = await baseOptions(component, opts);
  return { options: withFlags(base.options, opts), checkedPath: base.checkedPath };
}

async function baseOptions(
  component: string | undefined,
  opts: RunOptions,
): Promise<{ options: Record<string, unknown>; checkedPath?: string }> {
  if (opts.config !== undefined) return { options: await readConfigFile(opts.config) };
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
      options: {
        brokers: [{ name: 'default', url: opts.from }],
        components: [{ path: component, subscriptions: [{ broker: 'default', channel, kind, ...group }] }],
      },
    };
  }
  const subscribed = { path: component, subscriptions: [{ channel: opts.topic ?? 'input', kind, ...group }] };
  if (opts.topic !== undefined) return { options: { components: [subscribed] } };
  // No channel named: a world C component subscribes to what its configure() returns.
  await checkComponentPath(component);
  const info = await inspectComponent(component, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
  return { options: { components: [info.family === 'c' ? { path: component } : subscribed] }, checkedPath: component };
}

/**
 * The flags that tune the engine, over what the file (or the defaults) say. A flag sets a key of
 * the file's section (`batch`, `retries`, `deadLetter`) or of each of its components only where
 * the file gave a mapping (or a list) or nothing: anything else is left as it was for the schema
 * to report, as without the flag (an empty `batch:` in YAML is null).
 */
function withFlags(base: Record<string, unknown>, opts: RunOptions): EngineOptionsInput {
  const options: Record<string, unknown> = { ...base };
  const within = (name: string, values: Record<string, unknown>): void => {
    const v = base[name];
    if (v === undefined) options[name] = values;
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) options[name] = { ...v, ...values };
  };
  if (opts.workers !== undefined) options['workers'] = opts.workers;
  if (opts.ordering !== undefined) options['ordering'] = opts.ordering;
  if (opts.cacheDir !== undefined) options['cacheDir'] = opts.cacheDir;
  if (opts.handlerTimeout !== undefined) options['handlerTimeoutMs'] = opts.handlerTimeout;
  if (opts.binding !== undefined && Array.isArray(base['components'])) {
    // `--binding jco` forces jco's glue on every component (of the file, or the positional one)
    options['components'] = base['components'].map((c: unknown) =>
      c !== null && typeof c === 'object' && !Array.isArray(c) ? { ...c, binding: opts.binding } : c,
    );
  }
  if (opts.batch !== undefined || opts.linger !== undefined) {
    within('batch', {
      ...(opts.batch === undefined ? {} : { maxMessages: opts.batch }),
      ...(opts.linger === undefined ? {} : { lingerMs: opts.linger }),
    });
  }
  if (opts.maxAttempts !== undefined) within('retries', { maxAttempts: opts.maxAttempts });
  if (opts.deadLetter !== undefined) within('deadLetter', { channel: opts.deadLetter });
  return options as EngineOptionsInput;
}

function schemeHint(scheme: string): string {
  const hint = didYouMean(scheme, SCHEMES);
  return hint === undefined ? '' : ` (${hint})`;
}
