import { Packr, Unpackr } from 'msgpackr';
import type { InboundMessage, MessagingError, OutboxEntry } from '../component/types.js';
import { setHeader } from '../component/host-text.js';
import { HEADER_BYTES, Msg, Res, Status, type StatusValue, align8 } from './layout.js';

/**
 * Batch codec: msgpack (msgpackr) into and out of arena slots. Used on both sides of the thread
 * boundary; it holds no thread-specific state.
 */

const packr = new Packr({ useRecords: false, variableMapSize: true });
/** Requests only (main thread): packs straight into the slot it is given before each pack. */
const requestPackr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
/** Responses are read in the main thread and their outputs outlive the slot: copy the bytes out. */
const responseUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

export type MessageTuple = [
  payload: Uint8Array,
  channel: string,
  partition: number,
  offset: string,
  key: string | null,
  headers: Record<string, string>,
  timestamp: number,
  lane: number,
  broker: string,
];

export type ResultTuple = [status: StatusValue, error: MessagingError | string | null, outbox: OutboxTuple[] | null];
export type OutboxTuple = [
  broker: string,
  kind: 'topic' | 'queue',
  channel: string,
  data: Uint8Array,
  headers: Record<string, string>,
];

export interface Request {
  /** Index of the component in the engine's component list. */
  readonly component: number;
  readonly messages: MessageTuple[];
}

/**
 * Payloads this big go into the slot apart from the msgpack, from the slot's end down, each at an
 * offset congruent (mod 8) with its source's: V8 copies to or from shared memory a word at a time
 * only when both sides are congruent, else a byte at a time — 8× slower (370 vs 42 µs a MiB
 * here). The msgpack tuple then holds [offset, length] in the payload's place.
 */
export const OUT_OF_BAND = 2048;
/** Room left for the msgpack before payloads stop going out of band (they then go inside it). */
const MSGPACK_ROOM = 64 * 1024;

/**
 * Writes a request straight into the slot, after its header (msgpackr packs into the buffer it
 * is given: no intermediate buffer, no copy). Returns its length; when it does not fit,
 * msgpackr has moved to a buffer of its own, and the bytes come back to be sent inline (payloads
 * put out of band stay in the slot). The tuples' payloads are replaced: the caller drops them.
 */
export function writeRequest(slot: Buffer, req: Request): { length: number; inline?: Uint8Array } {
  let end = slot.length;
  for (const m of req.messages) {
    const p = m[Msg.payload];
    if (p.length < OUT_OF_BAND) continue;
    let at = end - p.length;
    at -= (((at - p.byteOffset) % 8) + 8) % 8;
    if (at < HEADER_BYTES + MSGPACK_ROOM) continue;
    slot.set(p, at);
    end = at;
    (m as unknown as [PayloadRef])[Msg.payload] = [at, p.length];
  }
  const target = slot.subarray(HEADER_BYTES, end);
  requestPackr.useBuffer(target);
  const bytes = requestPackr.pack([req.component, req.messages]);
  if (bytes.buffer === target.buffer && bytes.byteOffset === target.byteOffset) return { length: bytes.length };
  return { length: bytes.length, inline: new Uint8Array(bytes) };
}

/**
 * msgpackr decodes a map key `__proto__` as `__proto_` (its guard against prototype pollution),
 * so headers holding that name cross the thread boundary as a flat array of name/value pairs
 * instead, rebuilt on the other side with the name kept as data. Every other header object
 * goes as a map: one own-property check per message.
 */
export function packHeaders(h: Readonly<Record<string, string>>): Record<string, string> {
  return Object.hasOwn(h, '__proto__')
    ? (Object.entries(h).flat() as unknown as Record<string, string>)
    : (h as Record<string, string>);
}

/** The headers object of `packHeaders`' output (a flat array of pairs rebuilt as an object). */
export function unpackHeaders(h: Record<string, string> | string[] | null | undefined): Record<string, string> {
  if (!Array.isArray(h)) return (h ?? {}) as Record<string, string>;
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < h.length; i += 2) setHeader(out, h[i]!, h[i + 1]!);
  return out;
}

/** Where an out-of-band payload lies in its slot. */
type PayloadRef = [offset: number, length: number];

/**
 * Decodes a request in place: payloads are views into the slot. `from` holds the msgpack (the
 * slot itself, or the inline copy of a request that did not fit it).
 */
export function readRequest(from: Uint8Array, length: number, slot: Uint8Array = from): Request {
  const [component, messages] = unpackr.unpack(from.subarray(HEADER_BYTES, HEADER_BYTES + length)) as [
    number,
    MessageTuple[],
  ];
  for (const m of messages) {
    if (Array.isArray(m[Msg.headers])) m[Msg.headers] = unpackHeaders(m[Msg.headers]);
    const p = m[Msg.payload] as Uint8Array | PayloadRef;
    if (Array.isArray(p)) m[Msg.payload] = slot.subarray(p[0], p[0] + p[1]);
  }
  return { component, messages };
}

export function toInbound(m: MessageTuple): InboundMessage {
  return {
    payload: m[Msg.payload],
    channel: m[Msg.channel],
    partition: m[Msg.partition],
    offset: m[Msg.offset],
    key: m[Msg.key],
    headers: m[Msg.headers],
    timestamp: m[Msg.timestamp],
    broker: m[Msg.broker],
  };
}

/** Writes results after the request; returns where and how long, or the bytes when they do not fit. */
export function writeResponse(
  slot: Uint8Array,
  requestLength: number,
  results: ResultTuple[],
): { offset: number; length: number; inline?: Uint8Array } {
  const bytes = packr.pack(results);
  const offset = align8(HEADER_BYTES + requestLength);
  if (offset + bytes.length > slot.length) return { offset: 0, length: bytes.length, inline: new Uint8Array(bytes) };
  slot.set(bytes, offset);
  return { offset, length: bytes.length };
}

export function readResponse(bytes: Uint8Array): ResultTuple[] {
  return responseUnpackr.unpack(bytes) as ResultTuple[];
}

export function outboxFromTuples(tuples: OutboxTuple[] | null): OutboxEntry[] {
  if (tuples === null) return [];
  return tuples.map((t) => ({ broker: t[0], kind: t[1], channel: t[2], data: t[3], headers: unpackHeaders(t[4]) }));
}

export function outboxToTuples(entries: OutboxEntry[]): OutboxTuple[] | null {
  return entries.length === 0
    ? null
    : entries.map((o) => [o.broker, o.kind, o.channel, o.data, packHeaders(o.headers)]);
}

export { Res, Status };
