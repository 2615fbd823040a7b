import { randomBytes } from 'node:crypto';
import { NO_HEADERS, escapeControl, setHeader } from '../component/host-text.js';
import { ErrorCode, WasmsgError, describe } from '../errors.js';
import type { BatchListener, BrokerRecord } from './adapter.js';
import { BrokerError } from '../errors.js';
import { logger } from '../log.js';

/**
 * Small pieces every real-broker adapter shares. Nothing here imports a client library.
 */

export { NO_HEADERS, setHeader };

/** An empty payload (shared: payloads are read-only). */
export const NO_BYTES = new Uint8Array(0);

/** Query parameters that carry secrets (`redis://h/s?password=…`: ioredis takes them as options). */
const SECRET_PARAM = /^(pass(word|wd)?|token|secret|api[-_]?key|auth.*|sasl.*|.*_(password|token|secret))$/i;

/**
 * The URL with any password replaced, for messages, logs and reports: the user-info password and
 * secret-looking query parameters. Unchanged (not normalised) when it holds none.
 */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    let changed = false;
    if (u.password !== '') {
      u.password = '***';
      changed = true;
    }
    for (const key of [...u.searchParams.keys()]) {
      if (SECRET_PARAM.test(key)) {
        u.searchParams.set(key, '***');
        changed = true;
      }
    }
    return changed ? u.toString() : url;
  } catch {
    return url;
  }
}

/** A command line with every broker URL in it redacted (`redact`), lists of them included. */
export function redactCommand(args: readonly string[]): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i;
  return args
    .map((a) =>
      a
        .split(',')
        .map((part) => (url.test(part) ? redact(part) : part))
        .join(','),
    )
    .join(' ');
}

export function unreachable(url: string, cause: unknown): BrokerError {
  return new BrokerError(
    ErrorCode.brokerUnavailable,
    `cannot reach ${redact(url)}: ${describe(cause)}`,
    { url: redact(url) },
    { cause },
  );
}

/** Headers that name an output's partition key: CloudEvents' `partitionkey` extension in each binding, or plain metadata. */
const PARTITION_KEY_HEADERS = [
  'ce_partitionkey',
  'ce-partitionkey',
  'cloudEvents:partitionkey',
  'cloudEvents_partitionkey',
  'partitionkey',
] as const;

/**
 * The key an output is published with: the partition key its handler set — world A's
 * CloudEvents extension `partitionkey` (neutral header `ce_partitionkey`), world B/C's metadata
 * `partitionkey` (or the extension in another binding's prefix) — else the key of the input it
 * was published for, so a relay keeps each key on one partition downstream. An empty string is
 * a key.
 */
export function outputKey(
  headers: Readonly<Record<string, string>>,
  inputKey: string | null | undefined,
): string | null {
  for (const name of PARTITION_KEY_HEADERS) {
    if (Object.hasOwn(headers, name)) {
      const v = headers[name];
      if (typeof v === 'string') return v;
    }
  }
  return inputKey ?? null;
}

/**
 * `text` with every character `bad` refuses, and then every `%` too, written as `%XX` (its
 * UTF-8 bytes): `decodeURIComponent` gives the original back. Text with nothing bad in it is
 * returned unchanged, `%` included, so only values a broker could not carry change at all.
 */
export function percentEncode(text: string, bad: (codePoint: number, index: number, text: string) => boolean): string {
  let needed = false;
  for (let i = 0; i < text.length && !needed; i++) {
    const cp = text.codePointAt(i)!;
    if (bad(cp, i, text)) needed = true;
    if (cp > 0xffff) i++;
  }
  if (!needed) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    if (cp === 0x25 || bad(cp, i, text)) {
      for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    } else out += ch;
    if (cp > 0xffff) i++;
  }
  return out;
}

/**
 * A header name as it goes out on a broker that cannot carry the characters `bad` refuses
 * (NATS, MQTT): those and, in a name that has any `%`, every `%` percent-encoded, so no two
 * names share a wire name and `headerNameIn` reads each back as it was. Before, a `%` was
 * escaped only in a name that had a bad character too: `a\tb` went out as `a%09b`, as did the
 * name `a%09b` itself (one replaced the other, its value lost). Names with neither go out
 * byte-identical (what other clients send and read).
 */
export function headerNameOut(name: string, bad: (codePoint: number) => boolean): string {
  return percentEncode(name, (cp) => cp === 0x25 || bad(cp));
}

/**
 * A header name as it came in: percent-decoded when it has a `%` and is valid percent-encoding
 * (every name `headerNameOut` wrote), else as it is (another producer's `100%`). Another
 * producer's name holding a valid escape (`x%41`) is read decoded (`xA`) — `wasmsg%2Dkey` too:
 * the decoded name is the one the consumers match with KEY_HEADER, so it is the key, as the
 * literal `wasmsg-key` is (before, it became a header named `wasmsg-key` beside the key).
 */
export function headerNameIn(name: string): string {
  if (!name.includes('%')) return name;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** A publish the broker did not confirm, as the typed error `publish()` rejects with. */
export function publishFailed(
  broker: string,
  url: string,
  cause: unknown,
  context: Record<string, unknown> = {},
): BrokerError {
  if (cause instanceof BrokerError) return cause;
  return new BrokerError(
    ErrorCode.publishFailed,
    `${broker} ${redact(url)}: publish failed: ${escapeControl(describe(cause))}`,
    { url: redact(url), ...context },
    { cause },
  );
}

/**
 * A record this broker cannot carry as it is (a name it cannot take), refused before sending; or
 * another `action` it refuses (a subscription's filter).
 */
export function refused(
  broker: string,
  url: string,
  what: string,
  context: Record<string, unknown> = {},
  action = 'publish',
): BrokerError {
  return new BrokerError(ErrorCode.badInput, cannot(broker, url, action, what), { url: redact(url), ...context });
}

/** `<broker> <url>: cannot <action>: <why>`, the words of refused() and subscribeFailed(). */
function cannot(broker: string, url: string, action: string, why: string): string {
  return `${broker} ${redact(url)}: cannot ${escapeControl(action)}: ${escapeControl(why)}`;
}

/**
 * A subscription that could not be made, as the typed error `subscribe()` rejects with:
 * `<broker> <url>: cannot subscribe to <target>: <why>`, the words of MQTT's refused filter.
 * `refusal`: why the server (`the server refused it: <its words>`) or the client library
 * refused it — `E_BAD_INPUT`, the channel cannot be consumed as named; without one the broker
 * failed meanwhile (`E_BROKER_UNAVAILABLE`, the cause's words). A WasmsgError (the adapter's own
 * check) is passed on as it is.
 */
export function subscribeFailed(
  broker: string,
  url: string,
  target: string,
  cause: unknown,
  refusal: string | undefined,
  context: Record<string, unknown> = {},
): WasmsgError {
  if (cause instanceof WasmsgError) return cause;
  return new BrokerError(
    refusal === undefined ? ErrorCode.brokerUnavailable : ErrorCode.badInput,
    cannot(broker, url, `subscribe to ${target}`, refusal ?? describe(cause)),
    { url: redact(url), ...context },
    { cause },
  );
}

/** Logs a warning about a broker (its adapter's child logger), its text escaped (broker errors quote guest text). */
export function warnLine(broker: string, url: string, err: unknown): void {
  logger(broker, { url: redact(url) }).warn(escapeControl(describe(err)));
}

/**
 * A broker's headers as the engine's neutral strings (inbound mapping is done in cloudevents.ts).
 * Strings, bytes (UTF-8) and numbers as they are; a list of them joined with `,` (MQTT's
 * repeated user properties, an AMQP array). A structured value — an AMQP field table, or an
 * array holding one (RabbitMQ's own `x-death`, on every message it dead-lettered) — as JSON,
 * bytes in it as UTF-8 text; amqplib's typed values (`{'!': 'timestamp' | 'decimal', value}`)
 * as their value, a timestamp in seconds, a decimal in digits. `String()` made each
 * `[object Object]`.
 */
export function headerValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (Array.isArray(v)) return v.every(isScalar) ? v.map(headerValue).join(',') : JSON.stringify(v, asJson);
  if (typeof v === 'object' && v !== null) {
    const t = typedValue(v);
    return t === undefined ? JSON.stringify(v, asJson) : String(t);
  }
  return v === undefined || v === null ? '' : String(v);
}

function isScalar(v: unknown): boolean {
  return typeof v !== 'object' || v === null || v instanceof Uint8Array;
}

/** An amqplib typed value's value (a timestamp's seconds, a decimal's digits), else undefined. */
function typedValue(v: object): number | string | undefined {
  if (!Object.hasOwn(v, '!')) return undefined;
  const { '!': type, value } = v as { '!': unknown; value: unknown };
  if (type === 'timestamp' && typeof value === 'number') return value;
  if (type !== 'decimal' || typeof value !== 'object' || value === null) return undefined;
  const { places, digits } = value as { places?: unknown; digits?: unknown };
  if (typeof places !== 'number' || typeof digits !== 'number') return undefined;
  if (places === 0) return String(digits);
  const d = String(digits).padStart(places + 1, '0');
  return `${d.slice(0, -places)}.${d.slice(-places)}`;
}

/** JSON.stringify's replacer (`this[key]`: the value before Buffer's toJSON): bytes as text, typed values as theirs. */
function asJson(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) return Buffer.from(raw).toString('utf8');
  return typeof raw === 'object' && raw !== null ? (typedValue(raw) ?? value) : value;
}

/** What `p` resolves to, or undefined once `ms` passed first (its timer cleared either way). */
export function within<T>(p: Promise<T | undefined>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or at once when `signal` aborts (loops that must stop promptly). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * For push-based clients (AMQP, core NATS, MQTT) that deliver whether or not the engine paused
 * intake: deliveries made while paused wait here — bounded by the broker's own in-flight limit
 * (prefetch, receive maximum) — and go out as one batch on resume.
 */
export class HeldDeliveries {
  private paused = false;
  private held: BrokerRecord[] = [];
  /** Payload bytes of `held`. */
  private heldBytes = 0;

  /** Droppable records dropped during the current pause (reported on resume). */
  private dropped = 0;

  constructor(
    private readonly onBatch: BatchListener,
    /**
     * For records nothing else bounds (core NATS: no prefetch, no in-flight limit; MQTT QoS 0:
     * outside receiveMaximum): past `messages` records or `bytes` payload bytes held while
     * paused, a droppable record is dropped, and on resume `dropped` is told how many were.
     */
    private readonly limit: { messages: number; bytes: number; dropped: (n: number) => void } = {
      messages: Infinity,
      bytes: Infinity,
      dropped: () => {},
    },
  ) {}

  /** Records held now (only while paused), and their payload bytes. */
  get size(): number {
    return this.held.length;
  }
  get bytes(): number {
    return this.heldBytes;
  }

  /** `droppable`: at most once (it may be dropped past `limit` while paused); else always held. */
  deliver(record: BrokerRecord, droppable = false): void {
    if (!this.paused) this.onBatch([record]);
    else if (!droppable || (this.held.length < this.limit.messages && this.heldBytes < this.limit.bytes)) {
      this.held.push(record);
      this.heldBytes += record.value.length;
    } else this.dropped++;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    if (this.dropped > 0) this.limit.dropped(this.dropped);
    this.dropped = 0;
    this.paused = false;
    this.heldBytes = 0;
    const held = this.held.splice(0);
    if (held.length > 0) this.onBatch(held);
  }
}

/**
 * The offsets of a consumer whose broker gives a delivery no position (AMQP, MQTT, core NATS):
 * `<token>-<n>`, `n` counting this consumer's deliveries and `token` random per consumer. A
 * record's offset is in its synthesised CloudEvents id (`<channel>/<partition>/<offset>`, on the
 * source `wasmsg://<broker>/<channel>`), which CloudEvents 1.0 requires unique per distinct event:
 * a count alone started at 0 on every consumer, and the next run's first message, or another
 * engine's of the group, had the id of this one's.
 */
export class DeliveryOffsets {
  private readonly token = randomBytes(8).toString('hex');
  private n = 0;
  next(): string {
    return `${this.token}-${this.n++}`;
  }
}

/**
 * How many messages the next read (a Redis XREADGROUP, a JetStream pull) asks for, sized in
 * bytes: as many as make `readBytes` at the message size seen so far (a moving average), from 1
 * to `max`, the first read `first`. A count alone held 512 MiB a read of 1 MiB entries.
 */
export class ReadSizer {
  private perMessage = 0;
  private next: number;
  constructor(
    private readonly max: number,
    first: number,
    /** Bytes a message costs beyond its payload and headers (id, names, framing), about. */
    private readonly overhead = 64,
    private readonly readBytes = 1 << 20,
  ) {
    this.next = Math.min(first, max);
  }
  count(): number {
    return this.next;
  }
  /** A read brought `n` messages of `bytes` in all. */
  learn(n: number, bytes: number): void {
    if (n === 0) return;
    const per = bytes / n + this.overhead;
    this.perMessage = this.perMessage === 0 ? per : (this.perMessage + per) / 2;
    this.next = Math.max(1, Math.min(this.max, Math.floor(this.readBytes / this.perMessage)));
  }
}
