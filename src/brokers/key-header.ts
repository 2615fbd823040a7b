import type { OutRecord } from './adapter.js';
import { NO_HEADERS, headerValue, setHeader, warnLine } from './common.js';

/**
 * The header a record's key rides in on the brokers that have no message key of their own
 * (NATS, AMQP, MQTT), one rule each way: `headersOut` writes it (and drops an output's own header
 * of the name, saying so once per channel: KeyHeaderDrops), `keyAndHeaders` reads it back.
 */

/**
 * The header an output's key travels in on brokers that have no message key of their own
 * (NATS, AMQP, MQTT), and where their adapters read a record's key from. Kafka writes the
 * message key, Redis Streams the entry's `key` field. World C shows a record's key as the
 * metadata `wasmsg-key` (from the record's key, whatever the broker), so the name is the same.
 * An output's key is only ever its record's: where it travels in this header, an output's own
 * header of the name (a Kafka header or Redis field a world B handler forwarded) is not sent.
 */
export const KEY_HEADER = 'wasmsg-key';

/** How a broker's adapter writes an output's headers (one constant per adapter: nothing made per record). */
export interface HeadersOutRule {
  /**
   * CloudEvents binary-mode prefix: the engine's neutral form names attributes `ce_<attr>` (the
   * Kafka binding); each broker's binding uses its own (AMQP `cloudEvents:`, NATS and HTTP
   * `ce-`, MQTT none). Other headers pass unchanged.
   */
  readonly prefix: string;
  /** A name's wire form where the broker's differs (as keyAndHeaders' `rename` reads it back). */
  readonly rename?: (name: string) => string;
  /**
   * The broker's key rides in KEY_HEADER: the record's key is written there (last), and an
   * output's own header of the name — which would be read back as the key — is not sent, told
   * through this (once per channel).
   */
  readonly keyHeader?: KeyHeaderDrops;
}

/** An output's headers as its broker sends them (see HeadersOutRule); a new object, the record's untouched. */
export function headersOut(
  r: Pick<OutRecord, 'channel' | 'headers' | 'key'>,
  rule: HeadersOutRule,
): Record<string, string> {
  const { prefix, rename, keyHeader } = rule;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) {
    const name = k.startsWith('ce_') ? prefix + k.slice(3) : k;
    // (on MQTT, prefix '', a header `ce_wasmsg-key` is this name too)
    if (keyHeader !== undefined && name === KEY_HEADER) keyHeader.dropped(r.channel);
    else setHeader(out, rename === undefined ? name : rename(name), v);
  }
  if (keyHeader !== undefined && r.key !== undefined && r.key !== null) out[KEY_HEADER] = r.key;
  return out;
}

/** Channels KeyHeaderDrops tells of, at most, per broker (a handler may publish to endless channels). */
export const KEY_HEADER_DROPS_TOLD = 1000;

/**
 * Says, once per channel, that an output's own KEY_HEADER was not sent (headersOut): a handler
 * that set it, or forwarded another broker's header of the name (an ordinary header on Kafka and
 * Redis), saw it vanish without a word before. One per broker adapter; a warning through
 * warnLine (escaped: the channel is the guest's text). The line of the last channel it tells of
 * (`limit`, default KEY_HEADER_DROPS_TOLD) says so: no channel after it is told (nor remembered).
 */
export class KeyHeaderDrops {
  private readonly told = new Set<string>();
  constructor(
    /** The broker's configured name (`brokers[].name`). */
    private readonly broker: string,
    /** The adapter's kind and URL, as warnLine takes them; `why`: the broker has no message key. */
    private readonly adapter: { readonly kind: string; readonly url: string; readonly why: string },
    /** Channels told of, at most. */
    private readonly limit = KEY_HEADER_DROPS_TOLD,
  ) {}

  dropped(channel: string): void {
    if (this.told.size >= this.limit || this.told.has(channel)) return;
    this.told.add(channel);
    const once =
      this.told.size < this.limit
        ? 'said once per channel'
        : `said once per channel; channel ${this.limit} told of, the last: no more will be`;
    const { kind, url, why } = this.adapter;
    warnLine(
      kind,
      url,
      `broker '${this.broker}', channel '${channel}': an output's header '${KEY_HEADER}' was not sent: on this broker the name carries the record's key (${why}), and the header would have been read back as the key; an output's key is its metadata 'partitionkey', else its input's (${once})`,
    );
  }
}

/** How a broker's consumer reads a message's header table (one constant per adapter). */
export interface HeadersInRule {
  /** A wire name as the engine's neutral name; undefined: not one of the record's headers. */
  readonly rename?: (name: string) => string | undefined;
  /** A header's value as the engine's string (default headerValue). */
  readonly value?: (v: unknown) => string;
  /**
   * Neutral names read as the key is, the first value of the first one kept: names the broker
   * reserves, read as data under a name of their own (NATS's `Nats-Msg-Id` and its
   * percent-encoded form), which the server reads one value of. Every other header given under
   * two wire names is the later one's; a repeated one's values are joined by `value`.
   */
  readonly once?: ReadonlySet<string>;
}

const PLAIN: HeadersInRule = {};

/** One scratch result, read at once by the caller (keyAndHeaders runs once per message on the main thread). */
const scratch: { key: string | null; headers: Readonly<Record<string, string>> } = { key: null, headers: NO_HEADERS };

/**
 * An inbound record's key and neutral headers from a broker's header table as its client decoded
 * it, as [name, value] pairs — AMQP's headers and MQTT's user properties (`Object.entries`),
 * NATS's MsgHdrs (iterable as [name, values]) — and the broker's content-type property, if any
 * (a header `content-type`, over one of the table's). The key is the KEY_HEADER entry's, else
 * `key`; every other entry is a header, its name given by `rule.rename`. The key entry is found
 * by its name after `rename` too. A KEY_HEADER given several times (MQTT user properties repeat:
 * mqtt.js gives an array; nats.js gives every header's values as an array; or under two wire
 * names) is the first one's: a key is one value, not the values joined as a repeated header's
 * are (`a,b` was a key no producer set). So are the names in `rule.once`.
 *
 * The result is one scratch object, overwritten by the next call; a record without headers gets
 * the shared frozen NO_HEADERS, and no object is made for it.
 */
export function keyAndHeaders(
  pairs: Iterable<readonly [string, unknown]> | undefined,
  key: string | null,
  contentType: unknown,
  rule: HeadersInRule = PLAIN,
): { readonly key: string | null; readonly headers: Readonly<Record<string, string>> } {
  const { rename, value = headerValue, once } = rule;
  let headers: Record<string, string> | undefined;
  let keyed = false;
  if (pairs !== undefined)
    for (const [k, v] of pairs) {
      const name = rename === undefined ? k : rename(k);
      if (name === undefined) continue;
      if (name === KEY_HEADER) {
        if (!keyed) key = headerValue(Array.isArray(v) ? v[0] : v);
        keyed = true;
      } else if (once === undefined || !once.has(name)) setHeader((headers ??= {}), name, value(v));
      else if (headers === undefined || !Object.hasOwn(headers, name))
        setHeader((headers ??= {}), name, headerValue(Array.isArray(v) ? v[0] : v));
    }
  if (typeof contentType === 'string') (headers ??= {})['content-type'] = contentType;
  scratch.key = key;
  scratch.headers = headers ?? NO_HEADERS;
  return scratch;
}
