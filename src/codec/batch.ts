import { Packr, Unpackr } from 'msgpackr';
import type { InboundMessage, MessagingError, OutboxEntry } from '../component/types.js';
import { NO_HEADERS, setHeader } from '../component/host-text.js';
import { HDR_COUNT, HEADER_BYTES, Msg, Res, Status, type StatusValue, align8 } from './layout.js';

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
  /** A string, or the embedded broker's integer position (the binding writes its digits; `toInbound` makes the string). */
  offset: string | number,
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
  /** Where the request ends in its slot (the response is written after it). */
  readonly end: number;
}

/** What the main thread gives `writeRequest` per message (the engine's Pending has this shape). */
export interface Outgoing {
  readonly rec: {
    readonly value: Uint8Array;
    readonly channel: string;
    readonly partition: number;
    readonly offset: string;
    /** The offset as an integer, when the broker has one (SequencedRecord): sent instead of the string. */
    readonly seq?: number;
    readonly key: string | null;
    readonly headers: Readonly<Record<string, string>>;
    readonly timestamp: number;
  };
  readonly broker: string;
}

/**
 * Payloads this big are placed in the slot at an offset congruent (mod 8) with their source's:
 * V8 copies to or from shared memory a word at a time only when both sides are congruent, else a
 * byte at a time — 8× slower (370 vs 42 µs a MiB here). Smaller ones are packed tightly.
 */
export const OUT_OF_BAND = 2048;

/**
 * A request in its slot, columnar (one pass over the batch, no per-message tuple or msgpack
 * value for the fixed-size fields):
 *
 *   [header][Int32 × INTS per message][Float64 timestamps][msgpack: component, strings, offsets,
 *   keys, headers, in-band payloads] … free … [payloads, from the slot's end down]
 *
 * The Int32 columns per message: payload offset and length (length -1: the payload is in the
 * msgpack's in-band list, at that index — only when it could not fit the slot), partition, lane,
 * and the indexes of its channel and broker in the batch's string table. Keys and headers are
 * null as a whole when no message has one. The header's count word says how many messages.
 * Offsets are strings, or integers for records that have one (SequencedRecord, the embedded
 * broker's): the worker keeps the integer, the direct bindings write its digits into guest memory
 * and `toInbound` makes the string where one is needed.
 */
const INTS = 6;
const I_PAYLOAD = 0;
const I_LENGTH = 1;
const I_PARTITION = 2;
const I_LANE = 3;
const I_CHANNEL = 4;
const I_BROKER = 5;

function columns(n: number): { ints: number; floats: number; meta: number } {
  const ints = HEADER_BYTES;
  const floats = align8(ints + 4 * INTS * n);
  return { ints, floats, meta: floats + 8 * n };
}

/** Bytes of a request's columns for `n` messages (the rest of the slot holds msgpack and payloads). */
export function columnBytes(n: number): number {
  return columns(n).meta;
}

/** Room in a slot beyond the columns and twice the payloads: the request's msgpack, the response's. */
const SLOT_OVERHEAD = 64 * 1024;

/**
 * Bytes of one arena slot for batches of up to `maxMessages` messages and `maxBytes` payload
 * bytes: the request's columns (32 bytes a message, at fixed places: they must fit), twice the
 * payloads (the request's and the response's) and SLOT_OVERHEAD. A msgpack or payload that does
 * not fit goes inline instead; columns cannot.
 */
export function slotBytesFor(maxMessages: number, maxBytes: number): number {
  return align8(columnBytes(maxMessages) + maxBytes * 2 + SLOT_OVERHEAD);
}

type Meta = [
  component: number,
  strings: string[],
  offsets: Array<string | number>,
  keys: Array<string | null> | null,
  headers: Array<Record<string, string> | null> | null,
  inBand: Uint8Array[] | null,
];

const meta: Meta = [0, [], [], null, null, null];
const offsets: Array<string | number> = [];
const keys: Array<string | null> = [];
const headerList: Array<Record<string, string> | null> = [];

/**
 * Writes a request straight into its slot: columns, payloads copied once, and one small msgpack
 * of the strings (msgpackr packs into the buffer it is given: no intermediate buffer). `laneOf(i)`
 * is message i's lane. Returns the msgpack's length; when it does not fit, msgpackr has moved to
 * a buffer of its own and those bytes come back to be sent inline (the columns and the payloads
 * that fit stay in the slot).
 */
export function writeRequest(
  slot: Buffer,
  component: number,
  batch: readonly Outgoing[],
  laneOf: (i: number) => number,
): { length: number; inline?: Uint8Array } {
  const n = batch.length;
  const at = columns(n);
  const base = slot.byteOffset;
  const ints = new Int32Array(slot.buffer, base + at.ints, INTS * n);
  const times = new Float64Array(slot.buffer, base + at.floats, n);
  new Int32Array(slot.buffer, base, HEADER_BYTES / 4)[HDR_COUNT] = n;
  const strings = meta[1];
  strings.length = 0;
  offsets.length = n;
  let anyKey = false;
  let anyHeaders = false;
  let inBand: Uint8Array[] | null = null;
  let end = slot.length;
  const floor = at.meta + MSGPACK_ROOM;
  let lastChannel = '';
  let lastChannelIx = -1;
  let lastBroker = '';
  let lastBrokerIx = -1;
  for (let i = 0, j = 0; i < n; i++, j += INTS) {
    const o = batch[i]!;
    const r = o.rec;
    const p = r.value;
    const len = p.length;
    let to = end - len;
    if (len >= OUT_OF_BAND) to -= (((to - p.byteOffset) % 8) + 8) % 8;
    if (to >= floor) {
      slot.set(p, to);
      end = to;
      ints[j + I_PAYLOAD] = to;
      ints[j + I_LENGTH] = len;
    } else {
      ints[j + I_PAYLOAD] = (inBand ??= []).push(p) - 1;
      ints[j + I_LENGTH] = -1;
    }
    ints[j + I_PARTITION] = r.partition;
    ints[j + I_LANE] = laneOf(i);
    if (r.channel !== lastChannel || lastChannelIx < 0) {
      lastChannel = r.channel;
      lastChannelIx = indexOf(strings, r.channel);
    }
    ints[j + I_CHANNEL] = lastChannelIx;
    if (o.broker !== lastBroker || lastBrokerIx < 0) {
      lastBroker = o.broker;
      lastBrokerIx = indexOf(strings, o.broker);
    }
    ints[j + I_BROKER] = lastBrokerIx;
    times[i] = r.timestamp;
    const seq = r.seq;
    offsets[i] = seq === undefined ? r.offset : seq; // an integer stays one: the worker writes its digits
    const key = r.key;
    if (key !== null) anyKey = true;
    keys[i] = key;
    const h = r.headers;
    if (isEmpty(h)) headerList[i] = null;
    else {
      headerList[i] = packHeaders(h);
      anyHeaders = true;
    }
  }
  keys.length = n;
  headerList.length = n;
  meta[0] = component;
  meta[2] = offsets;
  meta[3] = anyKey ? keys : null;
  meta[4] = anyHeaders ? headerList : null;
  meta[5] = inBand;
  const target = slot.subarray(at.meta, end);
  requestPackr.useBuffer(target);
  const bytes = requestPackr.pack(meta);
  // drop the references (payloads, headers) held for the next batch
  meta[5] = null;
  headerList.fill(null);
  const fitted = bytes.buffer === target.buffer && bytes.byteOffset === target.byteOffset;
  return fitted ? { length: bytes.length } : { length: bytes.length, inline: new Uint8Array(bytes) };
}

/** Room left for the msgpack before payloads stop going into the slot (they then go inside it). */
const MSGPACK_ROOM = 64 * 1024;

function indexOf(strings: string[], s: string): number {
  const i = strings.indexOf(s);
  return i >= 0 ? i : strings.push(s) - 1;
}

function isEmpty(h: Readonly<Record<string, string>>): boolean {
  for (const _ in h) return false;
  return true;
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

/**
 * Decodes a request: tuples whose payloads are views into the slot. `inline` holds the msgpack
 * when it did not fit the slot (the columns and most payloads are still there).
 */
export function readRequest(slot: Uint8Array, length: number, inline?: Uint8Array): Request {
  const n = new Int32Array(slot.buffer, slot.byteOffset, HEADER_BYTES / 4)[HDR_COUNT]!;
  const at = columns(n);
  const ints = new Int32Array(slot.buffer, slot.byteOffset + at.ints, INTS * n);
  const times = new Float64Array(slot.buffer, slot.byteOffset + at.floats, n);
  const [component, strings, offs, keyList, headers, inBand] = unpackr.unpack(
    inline ?? slot.subarray(at.meta, at.meta + length),
  ) as Meta;
  const messages: MessageTuple[] = new Array(n);
  for (let i = 0, j = 0; i < n; i++, j += INTS) {
    const len = ints[j + I_LENGTH]!;
    const from = ints[j + I_PAYLOAD]!;
    const h = headers?.[i];
    const offset = offs[i]!;
    messages[i] = [
      len < 0 ? inBand![from]! : slot.subarray(from, from + len),
      strings[ints[j + I_CHANNEL]!]!,
      ints[j + I_PARTITION]!,
      offset,
      keyList === null ? null : keyList[i]!,
      h === null || h === undefined ? (NO_HEADERS as Record<string, string>) : Array.isArray(h) ? unpackHeaders(h) : h,
      times[i]!,
      ints[j + I_LANE]!,
      strings[ints[j + I_BROKER]!]!,
    ];
  }
  return { component, messages, end: at.meta + (inline === undefined ? length : 0) };
}

export function toInbound(m: MessageTuple): InboundMessage {
  const offset = m[Msg.offset];
  return {
    payload: m[Msg.payload],
    channel: m[Msg.channel],
    partition: m[Msg.partition],
    offset: typeof offset === 'number' ? String(offset) : offset,
    key: m[Msg.key],
    headers: m[Msg.headers],
    timestamp: m[Msg.timestamp],
    broker: m[Msg.broker],
  };
}

/** Writes results after the request; returns where and how long, or the bytes when they do not fit. */
export function writeResponse(
  slot: Uint8Array,
  requestEnd: number,
  results: ResultTuple[],
): { offset: number; length: number; inline?: Uint8Array } {
  const bytes = packr.pack(results);
  const offset = align8(requestEnd);
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
