import type { InboundMessage } from './types.js';

/**
 * World A's CloudEvents mapping (SPEC.md "Event mapping"), neutral of any broker: a record that
 * already carries CloudEvents attributes (binary mode: `ce_` / `ce-` / `cloudEvents:` / `cloudEvents_`
 * headers, or unprefixed MQTT-style user properties; structured mode: a JSON body with content
 * type `application/cloudevents+json`) keeps them; otherwise the host synthesises them from the
 * broker position. Outputs use the binary mode with `ce_` headers; adapters rename per binding.
 */

/** The `event` record as jco presents it to JavaScript. */
export interface CloudEvent {
  specversion: string;
  ty: string;
  source: string;
  id: string;
  data?: Uint8Array | undefined;
  datacontenttype?: string | undefined;
  dataschema?: string | undefined;
  subject?: string | undefined;
  time?: string | undefined;
  extensions?: Array<[string, string]> | undefined;
}

export const SYNTHETIC_TYPE = 'org.wasmsg.message';
const STRUCTURED = 'application/cloudevents+json';
const PREFIXES = ['ce_', 'ce-', 'cloudEvents:', 'cloudEvents_'] as const;
const CONTENT_TYPE = 'content-type';
const OPTIONAL_ATTRS = ['datacontenttype', 'dataschema', 'subject', 'time'] as const;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const SPECVERSION_KEYS = [...PREFIXES.map((p) => `${p}specversion`), 'specversion'];

/**
 * True when `messageToEvent` would synthesise the event from the broker position: no structured
 * content type and no CloudEvents attribute in the headers. Lets a binding lower such a record
 * field by field without building the event object.
 */
export function isPlainRecord(headers: Readonly<Record<string, string>>): boolean {
  const contentType = headers[CONTENT_TYPE];
  if (contentType !== undefined && contentType.startsWith(STRUCTURED)) return false;
  for (const k of SPECVERSION_KEYS) if (headers[k] !== undefined) return false;
  return true;
}

export function messageToEvent(msg: InboundMessage): CloudEvent {
  const headers = msg.headers ?? {};
  const contentType = headers[CONTENT_TYPE];
  if (contentType !== undefined && contentType.startsWith(STRUCTURED)) {
    const structured = fromStructured(msg.payload);
    if (structured !== null) return structured;
  }
  return fromBinary(msg, headers) ?? synthesise(msg, headers);
}

/**
 * True when a record carries CloudEvents attributes that `messageToEvent` would use: a structured
 * mode content type, or binary-mode attributes (world C reports such a message as `cloudevents`).
 */
export function hasCloudEventAttributes(headers: Readonly<Record<string, string>>): boolean {
  return !isPlainRecord(headers);
}

/** The prefix of binary-mode attributes ('' for unprefixed MQTT-style ones), or null: none. */
function binaryPrefix(headers: Readonly<Record<string, string>>): string | null {
  for (let i = 0; i < PREFIXES.length; i++) if (headers[SPECVERSION_KEYS[i]!] !== undefined) return PREFIXES[i]!;
  return headers['specversion'] !== undefined ? '' : null;
}

function fromBinary(msg: InboundMessage, headers: Readonly<Record<string, string>>): CloudEvent | null {
  const prefix = binaryPrefix(headers);
  if (prefix === null) return null;
  const attrs: Record<string, string> = {};
  const extensions: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name === CONTENT_TYPE) continue;
    if (prefix !== '' && !name.startsWith(prefix)) continue;
    const attr = name.slice(prefix.length);
    if (['specversion', 'type', 'source', 'id', ...OPTIONAL_ATTRS].includes(attr)) attrs[attr] = value;
    else extensions.push([attr, value]);
  }
  const event: CloudEvent = {
    specversion: attrs['specversion'] ?? '1.0',
    ty: attrs['type'] ?? SYNTHETIC_TYPE,
    source: attrs['source'] ?? sourceOf(msg.broker, msg.channel),
    id: attrs['id'] ?? positionOf(msg),
    data: msg.payload,
    datacontenttype: headers[CONTENT_TYPE] ?? attrs['datacontenttype'],
    dataschema: attrs['dataschema'],
    subject: attrs['subject'],
    time: attrs['time'],
    extensions: extensions.length > 0 ? extensions : undefined,
  };
  return event;
}

function fromStructured(payload: Uint8Array): CloudEvent | null {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(payload));
  } catch {
    return null;
  }
  if (typeof doc !== 'object' || doc === null) return null;
  const o = doc as Record<string, unknown>;
  if (typeof o['specversion'] !== 'string' || typeof o['id'] !== 'string') return null;
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  let data: Uint8Array | undefined;
  let datacontenttype = str('datacontenttype');
  if (typeof o['data_base64'] === 'string') data = Buffer.from(o['data_base64'], 'base64');
  else if (typeof o['data'] === 'string') data = encoder.encode(o['data']);
  else if (o['data'] !== undefined) {
    data = encoder.encode(JSON.stringify(o['data']));
    datacontenttype ??= 'application/json';
  }
  const known = new Set(['specversion', 'type', 'source', 'id', 'data', 'data_base64', ...OPTIONAL_ATTRS]);
  const extensions = Object.entries(o)
    .filter(([k]) => !known.has(k))
    .map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
  return {
    specversion: o['specversion'],
    ty: str('type') ?? SYNTHETIC_TYPE,
    source: str('source') ?? '',
    id: o['id'],
    data,
    datacontenttype,
    dataschema: str('dataschema'),
    subject: str('subject'),
    time: str('time'),
    extensions: extensions.length > 0 ? extensions : undefined,
  };
}

function positionOf(msg: InboundMessage): string {
  return `${msg.channel}/${msg.partition ?? 0}/${msg.offset ?? '-'}`;
}

// Per-message string building showed in profiles: the source of the last channel and the ISO
// time of the last timestamp are reused (consecutive messages share both almost always).
let lastBroker: string | undefined = '';
let lastChannel = '';
let lastSource = '';
let lastTs = NaN;
let lastTime: string | undefined = '';

/** The synthesised `source` of a record from `broker` (default `default`) and `channel`. */
export function sourceOf(brokerName: string | undefined, channel: string): string {
  if (brokerName !== lastBroker || channel !== lastChannel) {
    lastBroker = brokerName;
    lastChannel = channel;
    lastSource = `wasmsg://${brokerName ?? 'default'}/${channel}`;
  }
  return lastSource;
}

/** Past it a `Date` is invalid (±100 000 000 days from the epoch). */
const MAX_DATE_MS = 8.64e15;

/**
 * The synthesised `time` of a broker timestamp (ms since the epoch), ISO 8601; none for one no
 * date can hold (a producer's nanoseconds or microseconds taken for milliseconds): the event goes
 * without `time`, as one whose record has no timestamp (before, the mapping threw, and the
 * message was reported as the guest's trap and dead-lettered).
 */
export function timeOf(ts: number): string | undefined {
  if (ts !== lastTs) {
    lastTs = ts;
    lastTime = Number.isFinite(ts) && Math.abs(ts) <= MAX_DATE_MS ? new Date(ts).toISOString() : undefined;
  }
  return lastTime;
}

function synthesise(msg: InboundMessage, headers: Readonly<Record<string, string>>): CloudEvent {
  let extensions: Array<[string, string]> | undefined;
  for (const k in headers) {
    if (k !== CONTENT_TYPE) (extensions ??= []).push([k, headers[k]!]);
  }
  return {
    specversion: '1.0',
    ty: SYNTHETIC_TYPE,
    source: sourceOf(msg.broker, msg.channel),
    id: positionOf(msg),
    data: msg.payload,
    datacontenttype: headers[CONTENT_TYPE],
    dataschema: undefined,
    subject: msg.key ?? undefined,
    time: msg.timestamp === undefined ? undefined : timeOf(msg.timestamp),
    extensions,
  };
}

/** An event published by a guest, as neutral binary-mode headers (`ce_<attr>`, `content-type`). */
export function eventToHeaders(e: CloudEvent): Record<string, string> {
  const h: Record<string, string> = {
    ce_specversion: e.specversion,
    ce_id: e.id,
    ce_source: e.source,
    ce_type: e.ty,
  };
  if (e.subject !== undefined) h['ce_subject'] = e.subject;
  if (e.time !== undefined) h['ce_time'] = e.time;
  if (e.dataschema !== undefined) h['ce_dataschema'] = e.dataschema;
  if (e.datacontenttype !== undefined) h[CONTENT_TYPE] = e.datacontenttype;
  for (const [k, v] of e.extensions ?? []) h[`ce_${k}`] = v;
  return h;
}
