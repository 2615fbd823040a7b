import { z } from 'zod';
import { ErrorCode, OptionError } from '../errors.js';
import { didYouMean } from '../engine/suggest.js';
import { MAX_TIMER_MS, TIMER_LIMIT_MESSAGE } from '../engine/timer-limit.js';
import { DEFAULTS } from './adapter-defaults.js';
import { CONNECT_TIMEOUT_MS } from './deadline.js';
import { badChar } from './mqtt-text.js';

/**
 * The options each kind of broker adapter takes (`brokers[].options`, and the adapters'
 * constructors): one zod schema per family, stating each option's type, range and unit. They are
 * checked where an adapter is made — `createBroker` (the CLI's config file, the engine's
 * `brokers: [...]`, `wasmsg validate`) and each adapter's constructor (a library caller's
 * `new RedisAdapter({...})`) — so a bad value fails there, naming the option, instead of
 * reaching the client library or the adapter's arithmetic (`batch: 0` became nats.js's 100,
 * `fetchExpiresMs: 500` failed every pull, `receiveMaximum: 0` or `70000` became mqtt.js's
 * 65535, `claimIdleMs: -5` claimed other consumers' entries at once, every 50 ms, `prefetch:
 * '10'` failed at subscribe in amqplib's words). An unknown key is refused with the nearest
 * known one. Each option's `.describe()` feeds docs/config.md (scripts/config-doc.mjs).
 * Pass-through objects of the client libraries (`client`, `consumer`, `socket`) are checked to
 * be mappings only: their libraries check the rest.
 */

const WHOLE_MS = 'must be a whole number of milliseconds';

/** A wait in whole ms above 0 that becomes a timer (at most Node's timers' limit). */
const timerMs = (): z.ZodNumber =>
  z.number().int(WHOLE_MS).positive('must be more than 0 ms').max(MAX_TIMER_MS, TIMER_LIMIT_MESSAGE);

/** A default in ms as docs/config.md shows it: `30000 (30 s)`. */
const msDefault = (ms: number): string => `${ms} (${ms / 1000} s)`;

/** A mapping handed to a client library as it is (its own keys, checked by it). */
const passThrough = (what: string): z.ZodOptional<z.ZodNullable<z.ZodObject>> =>
  // (null too: YAML's `client:` with nothing after it, which the adapters always took as none)
  z.looseObject({}).nullish().describe(what);

/** The connect deadline every network adapter takes (deadline.ts); the engine's schema checks it too. */
export const connectTimeoutMs = timerMs()
  .optional()
  .describe(
    "Kafka, NATS, Redis, AMQP, MQTT: a connect that has not reached a broker that answers within this long fails (`E_BROKER_UNAVAILABLE` naming the broker, its URL and this deadline), whatever the server does meanwhile. Default: the client library's own connect timeout when given (Kafka `client.requestTimeout`, NATS `client.timeout`, Redis and MQTT `client.connectTimeout`, AMQP `socket.timeout`), else 10 000; given both, this one wins. NATS, Redis, AMQP and MQTT get it as that library timeout too: it bounds each reconnection attempt as well. Kafka: each subscription's consumer too, its connect and its group join, counted from the cluster's last answer (a join that waits for the group's other members is no silence: the group's coordinator is asked meanwhile); it fails naming the consumer group. A join that keeps crashing on an error kafkajs does not retry (no refusal) is given up after 4 crashes in a row over 3 of these deadlines.",
  )
  .meta({ 'x-default': msDefault(CONNECT_TIMEOUT_MS) });

/** kafkajs's heartbeat interval as the adapter sets it (kafka.ts), unless `consumer.heartbeatInterval`. */
export const KAFKA_HEARTBEAT_MS = 1000;
/** The adapter's session timeout (kafka.ts), unless `sessionTimeoutMs` or `consumer.sessionTimeout`. */
export const KAFKA_SESSION_TIMEOUT_MS = 10_000;

const kafka = z
  .strictObject({
    sessionTimeoutMs: timerMs()
      .optional()
      .describe(
        "The consumer group's session timeout: a member not heard from for this long is dropped and its partitions reassigned. More than the heartbeat interval (1000 ms, or `consumer.heartbeatInterval`: kafkajs refuses it otherwise); the broker takes it within its `group.min.session.timeout.ms` and `group.max.session.timeout.ms` (6 s and 30 min by default).",
      )
      .meta({ 'x-default': msDefault(KAFKA_SESSION_TIMEOUT_MS) }),
    commitIntervalMs: timerMs()
      .optional()
      .describe('How often the acked watermark is committed (and at close).')
      .meta({ 'x-default': String(DEFAULTS.kafka.commitIntervalMs) }),
    client: passThrough('Passed to kafkajs (`ssl`, `sasl`, `connectionTimeout`, `retry`, ...).'),
    consumer: passThrough(
      "Passed to each kafkajs consumer (`partitionAssigners`, `maxBytesPerPartition`, `rackId`, ...; `maxWaitTimeInMs` is 500 here, kafkajs's 5 000 otherwise); not `groupId` (the subscription's group).",
    ),
    connectTimeoutMs,
  })
  .superRefine((o, ctx) => {
    // kafkajs refuses a consumer whose heartbeat interval is not below its session timeout, at
    // subscribe, naming `heartbeatInterval` (which the user may never have set)
    const own = o.consumer ?? {};
    const session = own['sessionTimeout'] ?? o.sessionTimeoutMs ?? KAFKA_SESSION_TIMEOUT_MS;
    const heartbeat = own['heartbeatInterval'] ?? KAFKA_HEARTBEAT_MS;
    if (typeof session !== 'number' || typeof heartbeat !== 'number' || heartbeat < session) return;
    const sessionPath = own['sessionTimeout'] !== undefined ? ['consumer', 'sessionTimeout'] : ['sessionTimeoutMs'];
    const given = own['sessionTimeout'] !== undefined || o.sessionTimeoutMs !== undefined;
    ctx.addIssue({
      code: 'custom',
      path: given ? sessionPath : ['consumer', 'heartbeatInterval'],
      message: given
        ? `must be more than the heartbeat interval, ${heartbeat} ms (consumer.heartbeatInterval, default ${KAFKA_HEARTBEAT_MS}): kafkajs refuses a session timeout not above it`
        : `must be less than the session timeout, ${session} ms (sessionTimeoutMs, default ${KAFKA_SESSION_TIMEOUT_MS}): kafkajs refuses a heartbeat interval not below it`,
    });
  })
  .describe('Kafka (`kafka://`, kafkajs)');

/**
 * The longest pull expiry: nats.js waits for a pull on a timer 5 % longer than its expiry
 * (`Math.round(expires * 1.05)`), which must stay within Node's timers' limit.
 */
export const MAX_FETCH_EXPIRES_MS = Math.floor(MAX_TIMER_MS / 1.05);

const nats = z
  .strictObject({
    jetstream: z
      .boolean()
      .optional()
      .describe('JetStream (at-least-once) or core NATS (at-most-once).')
      .meta({ 'x-default': 'true for `nats://`, false for `nats-core://`' }),
    batch: z
      .number()
      .int('must be a whole number of messages')
      .min(1, 'must be at least 1 message (nats.js would take 0 as 100)')
      .optional()
      .describe('JetStream: messages a pull asks for, fixed.')
      .meta({
        'x-default': `about 1 MiB of messages at the size seen (the first pull 1, at most ${DEFAULTS.nats.pullMax})`,
      }),
    maxAckPending: z
      .number()
      .int('must be a whole number of messages')
      .refine(
        (n) => n >= 1 || n === -1,
        'must be at least 1 message, or -1 for no bound (the server would take 0 as its own default)',
      )
      .optional()
      .describe('JetStream: unacked messages the server hands a consumer at most (its `max_ack_pending`).')
      .meta({ 'x-default': String(DEFAULTS.nats.maxAckPending) }),
    ackWaitMs: timerMs()
      .optional()
      .describe(
        'JetStream: a message not acked for this long is redelivered (its `ack_wait`); one the engine still holds says so each third of it, which restarts the wait.',
      )
      .meta({ 'x-default': msDefault(DEFAULTS.nats.ackWaitMs) }),
    fetchExpiresMs: z
      .number()
      .int(WHOLE_MS)
      .min(1000, 'must be at least 1000 ms (nats.js refuses a shorter pull expiry: every pull would fail)')
      .max(
        MAX_FETCH_EXPIRES_MS,
        `at most ${MAX_FETCH_EXPIRES_MS} ms (nats.js waits 5% longer on a timer of Node's, whose limit is ${MAX_TIMER_MS} ms)`,
      )
      .optional()
      .describe(
        'JetStream: how long a pull waits on a quiet stream (messages that arrive meanwhile are handed over at once).',
      )
      .meta({ 'x-default': msDefault(DEFAULTS.nats.fetchExpiresMs) }),
    publishTimeoutMs: timerMs()
      .optional()
      .describe(
        'JetStream: a publish not confirmed (PubAck) within this long rejects; while the server is away each attempt to publish an output takes this long.',
      )
      .meta({ 'x-default': msDefault(DEFAULTS.nats.publishTimeoutMs) }),
    client: passThrough('Passed to nats.js `connect` (`user`, `pass`, `token`, `tls`, ...).'),
    createStreams: z
      .boolean()
      .optional()
      .describe(
        'JetStream: a subject no stream stores (an input, or an output) gets a stream `WASMSG_<subject>` created; false refuses it instead (streams managed elsewhere).',
      )
      .meta({ 'x-default': 'true' }),
    connectTimeoutMs,
  })
  .describe('NATS (`nats://` JetStream, `nats-core://`; nats.js)');

const redis = z
  .strictObject({
    consumer: z
      .string()
      .min(1, 'must not be empty')
      .optional()
      .describe(
        'Consumer name in the group, stable across restarts (a restarted engine reads its own pending entries again at once); two engines of one group on one host need distinct names.',
      )
      .meta({ 'x-default': '`wasmsg-<hostname>-<group>`' }),
    count: z
      .number()
      .int('must be a whole number of entries')
      .min(1, 'must be at least 1 entry (Redis reads a COUNT of 0 as no limit: the whole stream at once)')
      .optional()
      .describe('Entries a read asks for, fixed.')
      .meta({
        'x-default': `about 1 MiB of entries at the size seen (the first read 1, at most ${DEFAULTS.redis.readMax})`,
      }),
    claimIdleMs: z
      .number()
      .int(WHOLE_MS)
      .positive('must be more than 0 ms (0 would claim entries other consumers are still handling)')
      .optional()
      .describe(
        "Another consumer's pending entry idle this long is claimed (`XCLAIM`); a consumer claims those it still holds again itself each third of it (at most 5 s), so they never are.",
      )
      .meta({ 'x-default': msDefault(DEFAULTS.redis.claimIdleMs) }),
    client: passThrough('Passed to ioredis (`db`, `password`, `tls`, ...).'),
    maxLen: z
      .number()
      .int('must be a whole number of entries')
      .min(1, 'must be at least 1 entry (leave maxLen out for a stream without a bound)')
      .optional()
      .describe('Entries a stream keeps, about (`XADD MAXLEN ~`): older ones are trimmed, read or not.')
      .meta({ 'x-default': 'no bound' }),
    connectTimeoutMs,
  })
  .describe('Redis Streams (`redis://`, `rediss://`; ioredis)');

/** AMQP 0-9-1's basic.qos prefetch-count is a short (16 bits). */
export const MAX_PREFETCH = 65_535;

const amqp = z
  .strictObject({
    prefetch: z
      .number()
      .int('must be a whole number of messages')
      .min(0, `must be from 0 to ${MAX_PREFETCH} messages (0: no limit)`)
      .max(MAX_PREFETCH, `must be from 0 to ${MAX_PREFETCH} messages (AMQP's prefetch-count is 16 bits; 0: no limit)`)
      .optional()
      .describe(
        'Unacked deliveries the server may hand a subscription (basic.qos prefetch-count: a count, not bytes); 0: no limit.',
      )
      .meta({ 'x-default': String(DEFAULTS.amqp.prefetch) }),
    socket: passThrough("Passed to amqplib's connect (TLS, `heartbeat`, ...; its `timeout` is `connectTimeoutMs`)."),
    connectTimeoutMs,
  })
  .describe('RabbitMQ (`amqp://`, `amqps://`; amqplib)');

/** MQTT 5's Receive Maximum is a two-byte integer, 0 a protocol error. */
export const MAX_RECEIVE_MAXIMUM = 65_535;

const mqtt = z
  .strictObject({
    clientId: z
      .string()
      .min(1, 'must not be empty')
      .refine(
        (id) => badChar(id) === undefined, // (mqtt-text.ts's one rule)
        'must have no character MQTT servers refuse (control characters, non-characters, unpaired surrogates: Mosquitto closes the connection)',
      )
      .optional()
      .describe(
        "Client id prefix (`<clientId>-pub`, `<clientId>-<n>`; no character MQTT refuses), stable across restarts: a stopped run's sessions are resumed by the next. Without it, sessions live for the run.",
      )
      .meta({ 'x-default': '`wasmsg-<random>`' }),
    receiveMaximum: z
      .number()
      .int('must be a whole number of messages')
      .min(1, `must be from 1 to ${MAX_RECEIVE_MAXIMUM} messages (MQTT 5's Receive Maximum: 0 is a protocol error)`)
      .max(
        MAX_RECEIVE_MAXIMUM,
        `must be from 1 to ${MAX_RECEIVE_MAXIMUM} messages (MQTT 5's Receive Maximum is a two-byte integer)`,
      )
      .optional()
      .describe(
        'QoS 1 and 2 messages the server may send before they are acknowledged (MQTT 5 Receive Maximum; the server may allow fewer).',
      )
      .meta({ 'x-default': String(DEFAULTS.mqtt.receiveMaximum) }),
    client: passThrough('Passed to mqtt.js (`username`, `password`, TLS, ...).'),
    connectTimeoutMs,
  })
  .describe('MQTT 5 (`mqtt://`, `mqtts://`; mqtt.js)');

/** Partitions of an embedded broker's channel at most. */
export const MAX_PARTITIONS = 65_536;

const positiveCount = (unit: string, max?: number): z.ZodNumber => {
  const n = z.number().int(`must be a whole number of ${unit}s`);
  return max === undefined
    ? n.min(1, `must be at least 1 ${unit}`)
    : n.min(1, `must be from 1 to ${max} ${unit}s`).max(max, `must be from 1 to ${max} ${unit}s`);
};

const memory = z
  .strictObject({
    partitions: positiveCount('partition', MAX_PARTITIONS)
      .optional()
      .describe('Partitions of a channel created on first use.')
      .meta({ 'x-default': String(DEFAULTS.memory.partitions) }),
    retention: positiveCount('record')
      .optional()
      .describe(
        'Records a partition keeps for its slowest group before producers are refused (`E_RETENTION`; `produceWhenSpace` waits).',
      )
      .meta({ 'x-default': String(DEFAULTS.memory.retention) }),
    retentionBytes: positiveCount('byte')
      .optional()
      .describe(
        'Bytes a partition keeps for its slowest group (payload bytes plus the characters of key and headers) before producers are refused; a larger record is refused.',
      )
      .meta({ 'x-default': `${DEFAULTS.memory.retentionBytes} (${DEFAULTS.memory.retentionBytes >> 20} MiB)` }),
    maxBatch: positiveCount('record', 1_000_000)
      .optional()
      .describe('Records delivered in one batch at most.')
      .meta({ 'x-default': String(DEFAULTS.memory.maxBatch) }),
  })
  .describe('The embedded broker (`memory://`)');

/** The schema of each family's options (their keys, in this order, are the known ones of did-you-mean). */
export const ADAPTER_OPTION_SCHEMAS = { kafka, nats, redis, amqp, mqtt, memory } as const;
export type AdapterFamily = keyof typeof ADAPTER_OPTION_SCHEMAS;

const FAMILY_OF_SCHEME: Readonly<Record<string, AdapterFamily>> = {
  kafka: 'kafka',
  nats: 'nats',
  'nats-core': 'nats',
  redis: 'redis',
  rediss: 'redis',
  amqp: 'amqp',
  amqps: 'amqp',
  mqtt: 'mqtt',
  mqtts: 'mqtt',
  memory: 'memory',
};

/** The adapter family of a URL scheme (`rediss` → `redis`), or undefined for none. */
export function familyOf(scheme: string): AdapterFamily | undefined {
  return FAMILY_OF_SCHEME[scheme];
}

/** The option names a family takes. */
export function optionNames(family: AdapterFamily): string[] {
  return Object.keys(ADAPTER_OPTION_SCHEMAS[family].shape);
}

/**
 * Checks `options` (`brokers[].options`, without the broker's name and URL) against its
 * family's schema: the first of adapterOptionIssues, thrown.
 */
export function checkAdapterOptions(family: AdapterFamily, broker: string, options: unknown): void {
  const first = adapterOptionIssues(family, broker, options)[0];
  if (first !== undefined) throw first;
}

/**
 * Every problem of `options` against its family's schema, as OptionErrors (E_BAD_OPTION) naming
 * the broker, the option's path (`brokers.<broker>.options.<key>`, also `context.option`) and
 * what is wrong: the unknown keys first (each with did-you-mean), then each value out of its
 * type or range. `validate` lists them all; before, it gave the first one per broker.
 */
export function adapterOptionIssues(family: AdapterFamily, broker: string, options: unknown): OptionError[] {
  const parsed = ADAPTER_OPTION_SCHEMAS[family].safeParse(options ?? {}, { reportInput: true });
  if (parsed.success) return [];
  const at = (path: ReadonlyArray<PropertyKey>): string =>
    ['brokers', broker, 'options', ...path.map(String)].join('.');
  const unknown: OptionError[] = [];
  const values: OptionError[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = optionNames(family);
      for (const key of issue.keys)
        unknown.push(
          new OptionError(
            ErrorCode.badOption,
            `broker '${broker}': unknown option '${key}' (${didYouMean(key, known) ?? `known: ${known.join(', ')}`})`,
            { option: at([...issue.path, key]), broker },
          ),
        );
      continue;
    }
    // a value of the wrong type: what it is, not zod's "Invalid input: expected …" (the string "8" for 8)
    const message =
      issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')
        ? `must be ${issue.expected === 'object' ? 'a mapping' : `a ${issue.expected}`}, got ${valueKind(issue.input)}`
        : issue.message;
    values.push(
      new OptionError(ErrorCode.badOption, `broker '${broker}': ${at(issue.path)}: ${message}`, {
        option: at(issue.path),
        broker,
      }),
    );
  }
  return [...unknown, ...values];
}

/** A value as an error names it: `the string "8"`, `an array`, `null`. */
function valueKind(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${JSON.stringify(v)}`;
}

/**
 * An adapter constructor's check of its own options (`name` and `url` are the broker's, not
 * options): the same schema and error as `createBroker`'s, for a library caller's `new XAdapter({...})`.
 */
export function checkOwnOptions(
  family: AdapterFamily,
  options: { readonly name?: string; readonly url?: string },
): void {
  const { name, url: _url, ...rest } = options;
  checkAdapterOptions(family, name ?? 'default', rest);
}
