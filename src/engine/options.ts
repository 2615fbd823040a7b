import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ErrorCode, OptionError } from '../errors.js';

/**
 * One schema for the library's options and the CLI's config file. Resolved once, at the edge:
 * `resolveOptions` validates, fills defaults and returns a new object (the caller's is never
 * mutated); errors name the field and what is allowed.
 */

const positiveInt = z.number().int().positive();
const channelKind = z.enum(['queue', 'topic']);

export const SubscriptionSchema = z.strictObject({
  broker: z.string().min(1).default('default'),
  channel: z.string().min(1),
  kind: channelKind.default('queue'),
  group: z.string().min(1).optional(),
});

export const GrantsSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).optional(),
  publish: z.array(z.string().min(1)).optional(),
  subscribe: z.array(z.string().min(1)).optional(),
});

export const ComponentSchema = z.strictObject({
  path: z.string().min(1),
  name: z.string().min(1).optional(),
  /**
   * Required for world A and B components. A world C component given none subscribes to the
   * channels its `configure()` returns (broker `default`, kind `queue`), read when the engine starts.
   */
  subscriptions: z.array(SubscriptionSchema).min(1).optional(),
  grants: GrantsSchema.optional(),
  /** `auto`: the direct canonical-ABI binding where the component fits it, else jco's glue; `jco`: always jco's glue. */
  binding: z.enum(['auto', 'jco']).default('auto'),
});

export const BrokerSpecSchema = z.strictObject({
  name: z.string().min(1),
  url: z.string().regex(/^[a-z][a-z0-9+.-]*:\/\//, 'must be a URL like kafka://host:9092 or nats://host:4222'),
  /** Passed to the adapter: client options (TLS, SASL, auth) and adapter knobs. */
  options: z.record(z.string(), z.unknown()).optional(),
});

export const EngineOptionsSchema = z.strictObject({
  components: z.array(ComponentSchema).min(1),
  /** Brokers by URL, created at start (adapters can also be passed to the constructor). */
  brokers: z.array(BrokerSpecSchema).default([]),
  workers: positiveInt.default(Math.max(1, availableParallelism() - 1)),
  batch: z
    .strictObject({
      maxMessages: positiveInt.default(256),
      maxBytes: positiveInt.default(1 << 20),
      lingerMs: z.number().nonnegative().default(1),
    })
    .prefault({}),
  /** Batches in flight at once; with batch.maxBytes it fixes the arena's size. Default 2 per worker. */
  maxInFlightBatches: positiveInt.optional(),
  ordering: z.enum(['partition', 'key', 'none']).default('partition'),
  retries: z
    .strictObject({
      maxAttempts: positiveInt.default(3),
      backoffMs: z.number().nonnegative().default(50),
      maxBackoffMs: z.number().nonnegative().default(5000),
    })
    .prefault({}),
  deadLetter: z
    .strictObject({
      broker: z.string().min(1).optional(),
      channel: z.string().min(1).default('wasmsg.dead-letter'),
    })
    .prefault({}),
  /** A handler call running longer than this is stopped (its worker is replaced). */
  handlerTimeoutMs: positiveInt.max(2 ** 31 - 1).default(30_000),
  /** Workers that have not instantiated every component after this long fail the start (a start function that loops). */
  instantiateTimeoutMs: positiveInt.max(2 ** 31 - 1).default(60_000),
  cacheDir: z.string().min(1).optional(),
});

export type EngineOptionsInput = z.input<typeof EngineOptionsSchema>;
type ParsedOptions = z.output<typeof EngineOptionsSchema>;
type ResolvedComponent = ParsedOptions['components'][number] & {
  /** Empty until `engine.start()` when they come from a world C component's `configure()`. */
  subscriptions: Array<z.output<typeof SubscriptionSchema>>;
};
export type ResolvedOptions = Omit<ParsedOptions, 'components'> & {
  components: ResolvedComponent[];
  maxInFlightBatches: number;
};

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? String(p) : `${acc}.${String(p)}`),
    '',
  );
}

export function resolveOptions(input: unknown): ResolvedOptions {
  const parsed = EngineOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = formatPath(issue.path);
    throw new OptionError(ErrorCode.badOption, `options${field === '' ? '' : `.${field}`}: ${issue.message}`, {
      option: field,
      issues: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    });
  }
  const o = parsed.data;
  return {
    ...o,
    components: o.components.map((c) => ({ ...c, subscriptions: c.subscriptions ?? [] })),
    maxInFlightBatches: o.maxInFlightBatches ?? o.workers * 2,
  };
}
