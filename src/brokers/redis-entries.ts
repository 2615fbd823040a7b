import { describe } from '../errors.js';
import type { BrokerRecord } from './adapter.js';
import { NO_BYTES, NO_HEADERS, headerValue, setHeader } from './common.js';

/**
 * Redis Streams entries as the consumer (redis-consumer.ts) reads them: an entry's fields as a
 * record, the batch a record was handed in, entry ids compared, NOGROUP told apart.
 */

/** An entry's fields: the payload, the record's key, and one `h:<name>` field per header. */
export const DATA = 'data';
export const KEY = 'key';
export const HEADER = 'h:';

/**
 * One entry as a record. Field names are matched on their bytes (no string per field), the
 * timestamp is read from the id's digits, and an entry without headers shares one frozen empty
 * object: this runs once per message on the main thread.
 */
export function decodeEntry(
  channel: string,
  idBytes: Buffer,
  fields: Buffer[] | null,
  handed: Handed | undefined,
  index: number,
): HandedRecord {
  fields ??= []; // (filtered out before: see deliver)
  let value: Uint8Array = NO_BYTES;
  let key: string | null = null;
  let headers: Record<string, string> | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    if (equalsAscii(name, DATA)) value = fields[i + 1]!;
    else if (equalsAscii(name, KEY)) key = fields[i + 1]!.toString('utf8');
    else if (name.length >= HEADER.length && name[0] === HEADER_0 && name[1] === HEADER_1)
      setHeader((headers ??= {}), name.toString('utf8', HEADER.length), headerValue(fields[i + 1]));
  }
  let ms = 0; // an id is `<ms>-<seq>`
  for (let i = 0; i < idBytes.length && idBytes[i] !== 0x2d; i++) ms = ms * 10 + idBytes[i]! - 0x30;
  return {
    channel,
    partition: 0,
    offset: idBytes.toString('latin1'),
    key,
    headers: headers ?? NO_HEADERS,
    value,
    timestamp: ms,
    handed,
    index,
  };
}

/**
 * A batch of entries handed to the engine (group readers): their ids, which of them are settled,
 * and how many are not — what `keep` refreshes. A record points at its batch: settling it is two
 * stores, no lookup (a Set of held ids, an add and a delete a message, cost P5 Redis ≈ 5 %).
 */
export interface Handed {
  readonly ids: string[];
  readonly settled: Uint8Array;
  left: number;
}
export interface HandedRecord extends BrokerRecord {
  readonly handed: Handed | undefined;
  readonly index: number;
}

const HEADER_0 = HEADER.charCodeAt(0);
const HEADER_1 = HEADER.charCodeAt(1);

function equalsAscii(b: Buffer, s: string): boolean {
  if (b.length !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** An entry's id and fields; the fields are nil when it was deleted from the stream while pending. */
export type StreamEntry = [Buffer, Buffer[] | null];
/** A read's reply: per stream (one here), its entries; null when none came. */
export type StreamReply = Array<[Buffer, StreamEntry[]]> | null;

/** The server has no such stream or group (it lost them, or they were deleted). */
export function isNoGroup(err: unknown): boolean {
  return describe(err).startsWith('NOGROUP');
}

/** Orders stream entry ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d > 0n ? 1 : -1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e > 0n ? 1 : -1;
}
