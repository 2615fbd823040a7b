import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ADAPTER_OPTION_SCHEMAS, connectTimeoutMs } from '../brokers/adapter-options.js';
import { SCHEMES } from '../brokers/connect.js';
import { MAX_TIMER_MS, TIMER_LIMIT_MESSAGE } from './timer-limit.js';

/**
 * The options schema: one zod schema for the library's options and the CLI's config file (JSON or
 * YAML), with each key's type, default and bounds, and the defaults that depend on the machine
 * (worker threads). Every key carries its description (`.describe()`): docs/config.md is
 * generated from them (`npm run docs:config`), never written by hand. Validation with messages
 * that name the field is in engine/option-issues.ts; resolving and the checks across fields in
 * engine/options.ts, the module everything else imports.
 */

const positiveInt = z.number().int().positive();
const channelKind = z.enum(['queue', 'topic']);

/** Cores of this machine (what `os.availableParallelism()` reports). */
export const CORES = availableParallelism();
/**
 * The default number of worker threads: one per core but one, at least 1. Handlers are
 * synchronous CPU work, so a worker per core runs them at full speed, and the main thread keeps
 * a core for intake, batching, publishing and settlement.
 */
export const DEFAULT_WORKERS = Math.max(1, CORES - 1);
/**
 * The most worker threads accepted: 4 per core, and at least 16. More workers than cores only
 * share the cores, and each costs a thread with its own warm component instances (tens of MB):
 * 64 took 1.5 GB, 1000 never finished starting.
 */
export const MAX_WORKERS = Math.max(16, 4 * CORES);
/** (Node's timers' limit: engine/timer-limit.ts, shared with the broker adapters' options.) */
export { MAX_TIMER_MS };
/** A wait in ms that becomes a timer: ≥ 0 and at most MAX_TIMER_MS. */
const timerMs = z.number().nonnegative().max(MAX_TIMER_MS, TIMER_LIMIT_MESSAGE);
/** Most messages in one batch (`batch.maxMessages`). */
/** The engine's `instantiateTimeoutMs` when none is given (the bench's preparing of its components takes it too). */
export const DEFAULT_INSTANTIATE_TIMEOUT_MS = 60_000;
export const MAX_BATCH_MESSAGES = 65_536;

/** `kafka: sessionTimeoutMs, …; nats: …`: the keys each kind of broker takes (adapter-options.ts). */
const optionKeysByFamily = Object.entries(ADAPTER_OPTION_SCHEMAS)
  .map(([family, schema]) => `${family}: ${Object.keys(schema.shape).join(', ')}`)
  .join('; ');

/** The supported URL schemes, for messages. */
export const schemeList = SCHEMES.join(', ');
const urlPattern = new RegExp(`^(${[...SCHEMES].sort((a, b) => b.length - a.length).join('|')})://`);

export const SubscriptionSchema = z
  .strictObject({
    broker: z
      .string()
      .min(1)
      .default('default')
      .describe('Name of the broker to consume from (one of `brokers[].name`, or `default`).'),
    channel: z
      .string()
      .min(1)
      .describe('Channel to consume: Kafka topic, NATS subject, Redis stream, AMQP queue, MQTT topic filter.'),
    kind: channelKind
      .default('queue')
      .describe('`queue`: competing consumers in `group`; `topic`: this engine gets every message.'),
    group: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Consumer group of a `queue` subscription (default `wasmsg`; Kafka: `wasmsg.<topic>`, as kafkajs needs a group's members to read the same topics). A `topic` subscription has a group only on Kafka: its own, named `<group>-<random>` (default prefix `wasmsg`); other brokers refuse a group there.",
      ),
  })
  .describe('One input of a component.');

export const GrantsSchema = z
  .strictObject({
    brokers: z.array(z.string().min(1)).optional().describe('Brokers the component may open (default: all).'),
    publish: z
      .array(z.string().min(1))
      .optional()
      .describe('Channels it may publish to; `*` at the end matches a prefix (default: all).'),
    subscribe: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Channels it may subscribe to (world A), take from `configure()` (world C) or be given by its `subscriptions` (a subscription outside them is refused) (default: all).',
      ),
  })
  .describe('What the component may do through the host imports; absent lists allow everything.');

export const ComponentSchema = z
  .strictObject({
    path: z.string().min(1).describe("The component (`.wasm`). In a config file, relative to the file's directory."),
    name: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Name in metrics, logs and dead letters (default: the file's name without `.wasm`); unique among the components (the same file twice needs a name for each).",
      ),
    /**
     * Required for world A and B components. A world C component given none subscribes to the
     * channels its `configure()` returns (broker `default`, kind `queue`), read when the engine starts.
     */
    subscriptions: z
      .array(SubscriptionSchema)
      .min(1)
      .optional()
      .describe(
        'Its inputs. Required for worlds A and B; a world C component given none consumes the channels its `configure()` returns (broker `default`, kind `queue`).',
      ),
    grants: GrantsSchema.optional(),
    /** `auto`: the direct canonical-ABI binding where the component fits it, else jco's glue; `jco`: always jco's glue. */
    binding: z
      .enum(['auto', 'jco'])
      .default('auto')
      .describe(
        "`auto`: the direct canonical-ABI binding where the component fits it, else jco's glue; `jco`: always jco's glue.",
      ),
    maxOutputs: z
      .number()
      .int()
      .positive()
      .max(1_000_000)
      .default(10_000)
      .describe(
        'The most messages one handler call may publish; past it the call fails (retried, then dead-lettered) and publishes nothing.',
      ),
    maxOutputBytes: z
      .number()
      .int()
      .positive()
      .max(2 ** 31 - 1)
      .default(64 * 1024 * 1024)
      .describe('The most payload bytes one handler call may publish; past it the call fails and publishes nothing.'),
    maxMemoryBytes: z
      .number()
      .int()
      .min(65536)
      .max(4 * 1024 ** 3)
      .default(256 * 1024 * 1024)
      .describe(
        'The most linear memory the guest may have, in bytes (rounded up to 64 KiB pages): past it `memory.grow` returns -1, as the spec gives on failure, instead of the host allocating without bound.',
      ),
  })
  .describe('One component and what it consumes.');

export const BrokerSpecSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .describe('The name components open and subscriptions refer to; `default` replaces the embedded broker.'),
    url: z
      .string()
      .regex(urlPattern, `must be a URL with one of the schemes ${schemeList} (e.g. kafka://host:9092)`)
      .describe(
        `Where the broker is; schemes: ${schemeList}. The path, if any, is ignored here (channels come from subscriptions).`,
      ),
    /**
     * Passed to the adapter: client options (TLS, SASL, auth) and adapter knobs. Their keys and
     * values are checked where the adapter is made, against its family's schema
     * (brokers/adapter-options.ts); `connectTimeoutMs`, which every adapter but the embedded one
     * takes, here as well (the same schema).
     */
    options: z
      .looseObject({ connectTimeoutMs })
      .optional()
      .describe(
        `Passed to the adapter: the client library's options (TLS, SASL, passwords) and the adapter's own. Each kind of broker takes its own keys (${optionKeysByFamily}); each key's type, range and default: "brokers[].options by scheme" below. Any other key (did-you-mean), or a value out of its type or range, is refused when the broker is made (\`run\`, \`validate\`, \`engine.start()\`, \`createBroker()\`), naming \`brokers.<name>.options.<key>\`.`,
      ),
  })
  .describe('A broker reached by URL, connected when the engine starts.');

export const EngineOptionsSchema = z
  .strictObject({
    components: z.array(ComponentSchema).min(1).describe('The components to run (at least one).'),
    /** Brokers by URL, created at start (adapters can also be passed to the constructor). */
    brokers: z
      .array(BrokerSpecSchema)
      .default([])
      .describe('Brokers by URL. Without one named `default`, `default` is the embedded in-memory broker.'),
    workers: positiveInt
      .max(
        MAX_WORKERS,
        `at most ${MAX_WORKERS} worker threads (4 per core, 16 at least; this machine has ${CORES} cores): more than the cores only share them, and each holds its own component instances`,
      )
      .default(DEFAULT_WORKERS)
      .describe(
        `Worker threads running the handlers. One per core but one: handlers are synchronous CPU work, and the main thread keeps a core for intake, publishing and settlement. More than the cores only share them, each with its own component instances.`,
      )
      .meta({ 'x-default': 'cores − 1, at least 1', 'x-maximum': '4 per core, 16 at least' }),
    batch: z
      .strictObject({
        maxMessages: positiveInt
          .max(MAX_BATCH_MESSAGES)
          .default(1024)
          .describe('Most messages in one batch (one task for a worker).'),
        targetMs: z
          .number()
          .nonnegative()
          .default(10)
          .describe(
            "Cut a slow handler's batches to about this much of a worker's time, at its recent cost per message (at least 1 message; 256 under partition/key ordering; world C batches only to a quarter of handlerTimeoutMs). 0: always up to maxMessages.",
          ),
        maxBytes: positiveInt
          .max(256 * 1024 * 1024)
          .default(1 << 20)
          .describe('Most payload bytes in one batch (a single larger message goes alone).'),
        lingerMs: timerMs
          .default(1)
          .describe('While every worker has a batch, wait up to this long to fill the next one.'),
      })
      .prefault({})
      .describe('How messages are grouped for the workers.'),
    /** Batches in flight at once; with batch.maxBytes it fixes the arena's size. Default 2 per worker. */
    maxInFlightBatches: positiveInt
      .max(4096)
      .optional()
      .describe(
        'Batches in flight at once (default 2 per worker); memory is this × (batch.maxBytes × 2 + 32 B × batch.maxMessages + 64 KiB).',
      ),
    ordering: z
      .enum(['partition', 'key', 'none'])
      .default('partition')
      .describe(
        '`partition`: one batch per partition in flight, in order; `key`: the same per key within a partition; `none`: no order, most parallel.',
      ),
    retries: z
      .strictObject({
        maxAttempts: positiveInt
          .default(3)
          .describe('Attempts per message (the first included) before it is dead-lettered.'),
        backoffMs: timerMs.default(50).describe('Wait before the first retry; doubles each retry.'),
        maxBackoffMs: timerMs.default(5000).describe('Longest wait between retries.'),
      })
      .prefault({})
      .describe('What happens when a handler returns an error or traps.'),
    deadLetter: z
      .strictObject({
        broker: z
          .string()
          .min(1)
          .optional()
          .describe('Broker the dead letters go to (default: the broker the message came from).'),
        channel: z
          .string()
          .min(1)
          .default('wasmsg.dead-letter')
          .describe('Channel (as a queue) of messages that failed `retries.maxAttempts` times.'),
      })
      .prefault({})
      .describe('Where messages go after their last failed attempt (with x-wasmsg-error, -attempts, -source headers).'),
    /** A handler call running longer than this is stopped (its worker is replaced). */
    handlerTimeoutMs: positiveInt
      .max(2 ** 31 - 1)
      .default(30_000)
      .describe(
        'A handler call running longer than this is stopped (its worker is replaced) and counts as a failed attempt.',
      ),
    /** Workers that have not instantiated every component after this long fail the start (a start function that loops). */
    instantiateTimeoutMs: positiveInt
      .max(2 ** 31 - 1)
      .default(DEFAULT_INSTANTIATE_TIMEOUT_MS)
      .describe(
        'Workers that have not instantiated every component after this long fail the start (a start function that loops).',
      ),
    cacheDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Transpile cache directory (default: `$WASMSG_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmsg`, else `~/.cache/wasmsg`). In a config file, relative to the file.',
      ),
  })
  .describe('The options of `new Engine(options)` and the content of a `wasmsg run --config` file.');

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
