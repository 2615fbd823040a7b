import { SCHEMES, schemeOf } from '../brokers/connect.js';
import { slotBytesFor } from '../codec/batch.js';
import { compileGrants } from '../component/grants.js';
import { defaultComponentName } from '../component/name.js';
import { ErrorCode, OptionError } from '../errors.js';
import { warnEnvLogging } from '../log.js';
import { describeIssue } from './option-issues.js';
import { EngineOptionsSchema, schemeList, type ResolvedOptions } from './options-schema.js';

/**
 * Options resolved once, at the edge: `resolveOptions` validates against the schema
 * (engine/options-schema.ts), fills defaults and returns a new object (the caller's is never
 * mutated); errors name the field and what is allowed, and an unknown key gets the nearest known
 * one as a suggestion (engine/option-issues.ts). Then the checks the schema cannot make: the batch
 * memory across fields (here, in `resolveOptions`) and the brokers (`checkBrokers`). The module
 * the rest of the code imports options from: it re-exports the schema and the issue helpers.
 */

export {
  CORES,
  DEFAULT_WORKERS,
  MAX_WORKERS,
  MAX_BATCH_MESSAGES,
  MAX_TIMER_MS,
  SubscriptionSchema,
  GrantsSchema,
  ComponentSchema,
  BrokerSpecSchema,
  EngineOptionsSchema,
} from './options-schema.js';
export type { EngineOptionsInput, ResolvedOptions } from './options-schema.js';
export { formatPath, levenshtein, suggest, optionIssues } from './option-issues.js';
export type { OptionIssue } from './option-issues.js';

export function resolveOptions(input: unknown): ResolvedOptions {
  // the environment's options: a WASMSG_LOG_LEVEL or WASMSG_LOG_FORMAT that names no level or
  // format is said once, not ignored
  warnEnvLogging();
  const parsed = EngineOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap(describeIssue);
    const first = issues[0]!;
    throw new OptionError(ErrorCode.badOption, first.message, { option: first.path, issues });
  }
  const o = parsed.data;
  const maxInFlightBatches = o.maxInFlightBatches ?? o.workers * 2;
  // the arena is allocated at start, in one piece: refuse here what cannot be allocated there
  const arena = maxInFlightBatches * slotBytesFor(o.batch.maxMessages, o.batch.maxBytes);
  if (arena > MAX_ARENA_BYTES) {
    throw new OptionError(
      ErrorCode.badOption,
      `options.maxInFlightBatches × (batch.maxBytes × 2 + 32 B × batch.maxMessages + 64 KiB) is ${arena} bytes of batch memory, more than ${MAX_ARENA_BYTES} (lower maxInFlightBatches or batch.maxBytes)`,
      { option: 'maxInFlightBatches', arena },
    );
  }
  return {
    ...o,
    components: o.components.map((c) => ({ ...c, subscriptions: c.subscriptions ?? [] })),
    maxInFlightBatches,
  };
}

/** The most memory the batch arena may take (one SharedArrayBuffer). */
export const MAX_ARENA_BYTES = 2 * 1024 ** 3;

/**
 * The checks across fields that the schema cannot make: broker names unique (among the adapters
 * passed to the engine and `options.brokers`), URL schemes supported (`SCHEMES` of
 * brokers/connect.ts), component names unique (`componentNameIssues`), every subscription's broker,
 * every broker a component's grants name and the dead-letter broker known, every subscription's
 * channel within its component's `grants.subscribe`. `default`
 * always counts as known: the engine adds the embedded broker under that name when no adapter
 * or URL takes it. Throws an OptionError naming the field.
 */
export function checkBrokers(options: ResolvedOptions, adapterNames: readonly string[]): void {
  const first = brokerIssues(options, adapterNames)[0];
  if (first !== undefined) throw first;
}

/** Every problem checkBrokers finds, in its order (`wasmsg validate` lists them all). */
export function brokerIssues(options: ResolvedOptions, adapterNames: readonly string[]): OptionError[] {
  const issues: OptionError[] = [];
  /** A problem of `options.<option>`, named in its message. */
  const issue = (option: string, why: string, context: Record<string, unknown> = {}): void =>
    void issues.push(new OptionError(ErrorCode.badOption, `options.${option}: ${why}`, { option, ...context }));
  const adapters = new Set<string>();
  for (const name of adapterNames) {
    if (adapters.has(name)) {
      issues.push(
        new OptionError(ErrorCode.badOption, `brokers: two brokers are named '${name}'`, { option: 'brokers' }),
      );
    }
    adapters.add(name);
  }
  const fromUrls = new Set<string>();
  for (const [i, b] of options.brokers.entries()) {
    if (adapters.has(b.name) || fromUrls.has(b.name)) {
      issue(`brokers[${i}].name`, `two brokers are named '${b.name}'`);
    }
    if (!SCHEMES.includes(schemeOf(b.url) as (typeof SCHEMES)[number])) {
      issue(`brokers[${i}].url`, `unsupported scheme in '${b.url}' (schemes: ${schemeList})`);
    }
    fromUrls.add(b.name);
  }
  // the order of the engine's registry: the adapters, the embedded `default` if added, the URLs
  const implicit = adapters.has('default') || fromUrls.has('default') ? [] : ['default'];
  const known = new Set([...adapters, ...implicit, ...fromUrls]);
  const urlOf = new Map(options.brokers.map((b) => [b.name, b.url]));
  issues.push(...componentNameIssues(options));
  options.components.forEach((c, i) => {
    // a grant of a broker that does not exist grants nothing: a typo (`defualt`) denied the
    // component every broker at each call, and was accepted without a word
    for (const [k, b] of (c.grants?.brokers ?? []).entries()) {
      if (!known.has(b)) {
        issue(`components[${i}].grants.brokers[${k}]`, `no broker named '${b}' (known: ${[...known].join(', ')})`);
      }
    }
    const grants = compileGrants(c.grants);
    for (const [j, s] of c.subscriptions.entries()) {
      if (!known.has(s.broker)) {
        issue(
          `components[${i}].subscriptions[${j}].broker`,
          `no broker named '${s.broker}' (known: ${[...known].join(', ')})`,
        );
      }
      // the engine subscribes on the component's behalf, as it does to its configure()
      // channels (configure.ts): within its grants.subscribe too. Before, the component got the
      // messages of a channel its grants refuse it (a typo in either list), without a word
      if (grants.subscribe(s.broker, s.channel) !== null) {
        issue(
          `components[${i}].subscriptions[${j}].channel`,
          `'${s.channel}' is not among the channels its grants.subscribe allows (${c.grants!.subscribe!.join(', ') || 'none'})`,
          { channel: s.channel },
        );
      }
      // a topic subscription gets every message: only Kafka gives it a group (its own, named
      // after this one); elsewhere a group there was ignored without a word (an adapter passed
      // in is not checked: its broker is not known here)
      const url = urlOf.get(s.broker);
      const scheme =
        url !== undefined ? schemeOf(url) : s.broker === 'default' && !adapters.has('default') ? 'memory' : undefined;
      if (s.kind === 'topic' && s.group !== undefined && scheme !== undefined && scheme !== 'kafka') {
        issue(`components[${i}].subscriptions[${j}].group`, topicGroupRefused(scheme));
      }
    }
  });
  const dlq = options.deadLetter.broker;
  if (dlq !== undefined && !known.has(dlq)) {
    issue('deadLetter.broker', `no broker named '${dlq}'`);
  }
  return issues;
}

/**
 * Each component's name (its `name`, else its file's base name, as the loader names it) is its
 * own: the name labels its metrics series, its log lines and its dead letters'
 * `x-wasmsg-component`, so two of one name could not be told apart there (two components of one
 * file, each with its own subscriptions, need a `name` each).
 */
function componentNameIssues(options: ResolvedOptions): OptionError[] {
  const issues: OptionError[] = [];
  const first = new Map<string, number>();
  options.components.forEach((c, i) => {
    const name = c.name ?? defaultComponentName(c.path);
    const j = first.get(name);
    if (j === undefined) {
      first.set(name, i);
      return;
    }
    const fromFile = [j, i].filter((k) => options.components[k]!.name === undefined);
    const after =
      fromFile.length === 0
        ? ''
        : fromFile.length === 2
          ? ', after their file'
          : `, components[${fromFile[0]}] after its file`;
    issues.push(
      new OptionError(
        ErrorCode.badOption,
        `options.components[${i}].name: components[${j}] and components[${i}] are both named '${name}'${after} (a name labels a component's metrics, logs and dead letters: each must be unique)${fromFile.length === 0 ? '' : `; give ${fromFile.length === 2 ? 'each' : `components[${fromFile[0]}]`} a name of its own (name: ...)`}`,
        { option: `components[${i}].name` },
      ),
    );
  });
  return issues;
}

/** Why a `topic` subscription's group is refused on a broker other than Kafka (CLI and options). */
export function topicGroupRefused(scheme: string): string {
  return `a topic subscription on ${scheme === 'memory' ? 'the embedded broker' : scheme} has no group (this engine gets every message): drop the group, or use kind queue (only Kafka names a topic reader's own group after it)`;
}
