import { type MessageTuple, toInbound } from '../../codec/batch.js';
import { Msg } from '../../codec/layout.js';
import {
  type CloudEvent,
  SYNTHETIC_TYPE,
  eventToHeaders,
  isPlainRecord,
  messageToEvent,
  sourceOf,
  timeOf,
} from '../cloudevents.js';
import type { HostState } from '../host-state.js';
import { NO_HEADERS } from '../host-text.js';
import type { ChannelKind, InboundMessage, MessagingError } from '../types.js';
import { HANDLER_EXPORT, KNOWN_IMPORTS, postReturnName } from './fit.js';
import { decimalLength, writeDecimal } from './bytes.js';
import { Guest, type Imports, Wasm, trap } from './guest.js';
import { HandleTable } from './handles.js';

/**
 * World A (wasi:messaging@0.1.0-draft) without jco: `on-receive(event)` lowered by hand into
 * the guest's memory, and the host imports (broker.open, publish, subscribe, unsubscribe) lifted
 * by hand. Layouts (canonical ABI, align 4):
 *
 *   event (104 B): specversion 0, ty 8, source 16, id 24 (string = ptr, len);
 *                  data option<list<u8>> tag 32, ptr 36, len 40;
 *                  datacontenttype 44, dataschema 56, subject 68, time 80 (option<string>: tag, +4 ptr, +8 len);
 *                  extensions option<list<tuple<string,string>>> tag 92, ptr 96, len 100
 *   result<_, error> (16 B): tag u8 0; error tag u8 4, its string 8/12
 *   publish params (120 B, passed by pointer: 30 flat values > 16): broker 0, channel tag 4 + string 8/12, event 16
 */

const EVENT = 104;
const HANDLER = HANDLER_EXPORT.a;

interface Broker {
  readonly name: string;
}

export class DirectWorldA {
  readonly guest: Guest;
  private readonly brokers = new HandleTable<Broker>();

  constructor(
    module: WebAssembly.Module,
    private readonly state: HostState,
  ) {
    const instance = new Wasm.Instance(module, this.imports());
    this.guest = new Guest(instance, HANDLER, postReturnName(HANDLER));
  }

  /** Calls on-receive with a message the caller holds as an object (the `call` and library path). */
  call(msg: InboundMessage): MessagingError | null {
    return this.invoke(this.lowerEvent(messageToEvent(msg)));
  }

  /**
   * Calls on-receive straight from a batch's message tuple: a record with no CloudEvents
   * attributes (the usual case) is synthesised into guest memory field by field, with no event
   * object; only a record that carries attributes goes through the CloudEvents mapping.
   */
  callTuple(m: MessageTuple): MessagingError | null {
    const headers = m[Msg.headers] ?? NO_HEADERS;
    if (!isPlainRecord(headers)) return this.invoke(this.lowerEvent(messageToEvent(toInbound(m))));
    const g = this.guest;
    const ptr = g.alloc(4, EVENT);
    g.storeString(ptr, '1.0');
    g.storeString(ptr + 8, SYNTHETIC_TYPE);
    g.storeString(ptr + 16, sourceOf(m[Msg.broker], m[Msg.channel]));
    this.storeId(ptr + 24, m[Msg.channel], m[Msg.partition] ?? 0, m[Msg.offset]);
    g.u8[ptr + 32] = 1;
    g.storeBytes(ptr + 36, m[Msg.payload]);
    const contentType = headers['content-type'];
    this.storeOption(ptr + 44, contentType);
    g.u8[ptr + 56] = 0;
    this.storeOption(ptr + 68, m[Msg.key] ?? undefined);
    // as messageToEvent: a timestamp the record lacks is no `time`
    const ts = m[Msg.timestamp];
    this.storeOption(ptr + 80, ts === undefined ? undefined : timeOf(ts));
    let n = 0;
    for (const k in headers) if (k !== 'content-type') n++;
    if (n === 0) g.u8[ptr + 92] = 0;
    else {
      g.u8[ptr + 92] = 1;
      const base = g.alloc(4, n * 16);
      let i = 0;
      for (const k in headers) {
        if (k === 'content-type') continue;
        g.storeString(base + i * 16, k);
        g.storeString(base + i * 16 + 8, headers[k]!);
        i++;
      }
      g.dv.setUint32(ptr + 96, base, true);
      g.dv.setUint32(ptr + 100, n, true);
    }
    return this.invoke(ptr);
  }

  /**
   * The synthesised id, `<channel>/<partition>/<offset>`. With an ASCII channel and an integer
   * offset (the embedded broker's) its bytes are written straight into guest memory: no offset
   * string and no id string made per message. Anything else goes through the string.
   */
  private storeId(at: number, channel: string, partition: number, offset: string | number | undefined): void {
    const g = this.guest;
    const prefix = this.idPrefix(channel);
    if (
      prefix === undefined ||
      typeof offset !== 'number' ||
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isSafeInteger(partition) ||
      partition < 0
    ) {
      g.storeString(at, `${channel}/${partition}/${offset ?? '-'}`);
      return;
    }
    const partitionDigits = decimalLength(partition);
    const offsetDigits = decimalLength(offset);
    const len = prefix.length + partitionDigits + 1 + offsetDigits;
    const ptr = g.alloc(1, len);
    const u8 = g.u8;
    for (let i = 0; i < prefix.length; i++) u8[ptr + i] = prefix[i]!;
    let to = ptr + prefix.length;
    writeDecimal(u8, to, partitionDigits, partition);
    to += partitionDigits;
    u8[to++] = 0x2f; // '/'
    writeDecimal(u8, to, offsetDigits, offset);
    g.dv.setUint32(at, ptr, true);
    g.dv.setUint32(at + 4, len, true);
  }

  private lastChannel = '';
  private lastPrefix: Uint8Array | undefined;

  /** `<channel>/` as bytes when the channel is ASCII (kept for the next message: a batch shares it), else undefined. */
  private idPrefix(channel: string): Uint8Array | undefined {
    if (channel === this.lastChannel && this.lastPrefix !== undefined) return this.lastPrefix;
    const bytes = new Uint8Array(channel.length + 1);
    for (let i = 0; i < channel.length; i++) {
      const c = channel.charCodeAt(i);
      if (c >= 0x80) return undefined;
      bytes[i] = c;
    }
    bytes[channel.length] = 0x2f; // '/'
    this.lastChannel = channel;
    this.lastPrefix = bytes;
    return bytes;
  }

  private storeOption(at: number, s: string | undefined): void {
    const g = this.guest;
    if (s === undefined) g.u8[at] = 0;
    else {
      g.u8[at] = 1;
      g.storeString(at + 4, s);
    }
  }

  private lowerEvent(e: CloudEvent): number {
    const g = this.guest;
    const ptr = g.alloc(4, EVENT);
    g.storeString(ptr, e.specversion);
    g.storeString(ptr + 8, e.ty);
    g.storeString(ptr + 16, e.source);
    g.storeString(ptr + 24, e.id);
    if (e.data === undefined || e.data === null) g.u8[ptr + 32] = 0;
    else {
      g.u8[ptr + 32] = 1;
      g.storeBytes(ptr + 36, e.data);
    }
    this.storeOption(ptr + 44, e.datacontenttype ?? undefined);
    this.storeOption(ptr + 56, e.dataschema ?? undefined);
    this.storeOption(ptr + 68, e.subject ?? undefined);
    this.storeOption(ptr + 80, e.time ?? undefined);
    if (e.extensions === undefined || e.extensions === null) g.u8[ptr + 92] = 0;
    else {
      g.u8[ptr + 92] = 1;
      g.storePairs(ptr + 96, e.extensions);
    }
    return ptr;
  }

  /** Calls the export with the lowered event, lifts `result<_, error>`, runs post-return. */
  private invoke(eventPtr: number): MessagingError | null {
    return this.guest.callForResult(eventPtr);
  }

  private liftEvent(at: number): CloudEvent {
    const g = this.guest;
    const option = (p: number): string | undefined => {
      const t = g.u8[p];
      if (t === 0) return undefined;
      if (t !== 1) trap(`invalid option discriminant ${t}`);
      return g.loadStringAt(p + 4);
    };
    const specversion = g.loadStringAt(at);
    const ty = g.loadStringAt(at + 8);
    const source = g.loadStringAt(at + 16);
    const id = g.loadStringAt(at + 24);
    let data: Uint8Array | undefined;
    const dataTag = g.u8[at + 32];
    if (dataTag === 1) data = g.loadBytes(g.dv.getUint32(at + 36, true), g.dv.getUint32(at + 40, true));
    else if (dataTag !== 0) trap(`invalid option discriminant ${dataTag}`);
    const datacontenttype = option(at + 44);
    const dataschema = option(at + 56);
    const subject = option(at + 68);
    const time = option(at + 80);
    let extensions: Array<[string, string]> | undefined;
    const extTag = g.u8[at + 92];
    if (extTag === 1) extensions = g.loadPairsAt(at + 96);
    else if (extTag !== 0) trap(`invalid option discriminant ${extTag}`);
    return { specversion, ty, source, id, data, datacontenttype, dataschema, subject, time, extensions };
  }

  private channel(at: number): { kind: ChannelKind; name: string } {
    const tag = this.guest.u8[at];
    if (tag !== 0 && tag !== 1) trap(`invalid channel discriminant ${tag}`);
    return { kind: tag === 0 ? 'queue' : 'topic', name: this.guest.loadStringAt(at + 4) };
  }

  private imports(): Imports {
    const state = this.state;
    const brokers = this.brokers;
    const g = (): Guest => this.guest;
    const fns: Record<string, (...args: number[]) => number | void> = {
      '[static]broker.open': (ptr, len, ret) =>
        g().openNamed(
          ptr!,
          len!,
          ret!,
          (name) => state.checkBroker(name),
          (name) => brokers.add({ name }),
        ),
      '[resource-drop]broker': (h) => {
        g().enter();
        brokers.remove(h!, 'broker');
      },
      publish: (params, ret) => {
        const guest = g();
        guest.enter();
        guest.check(params!, 120, 4);
        const broker = brokers.get(guest.dv.getInt32(params!, true), 'broker');
        const channel = this.channel(params! + 4);
        const event = this.liftEvent(params! + 16);
        const denied = state.grants.publish(broker.name, channel.name) ?? state.admit(1, event.data?.length ?? 0);
        if (denied === null) {
          state.outbox.push({
            broker: broker.name,
            kind: channel.kind,
            channel: channel.name,
            data: event.data ?? new Uint8Array(0),
            headers: eventToHeaders(event),
          });
        }
        guest.storeResult(ret!, denied);
      },
      subscribe: (b, tag, ptr, len, ret) => {
        const guest = g();
        guest.enter();
        const broker = brokers.get(b!, 'broker');
        if (tag !== 0 && tag !== 1) trap(`invalid channel discriminant ${tag}`);
        const name = guest.loadString(ptr!, len!);
        guest.check(ret!, 16, 4);
        const denied = state.grants.subscribe(broker.name, name);
        if (denied !== null) {
          guest.u8[ret!] = 1;
          guest.storeError(ret! + 4, denied);
          return;
        }
        const token = state.subscribe(broker.name, tag === 0 ? 'queue' : 'topic', name);
        guest.u8[ret!] = 0;
        guest.storeString(ret! + 4, token);
      },
      unsubscribe: (b, ptr, len, ret) => {
        const guest = g();
        guest.enter();
        const broker = brokers.get(b!, 'broker');
        const token = guest.loadString(ptr!, len!);
        const sub = state.subscriptions.get(token);
        let error: MessagingError | null = null;
        if (sub === undefined || sub.broker !== broker.name) {
          error = { tag: 'other', val: `unknown subscription token '${token}' on broker '${broker.name}'` };
        } else state.subscriptions.delete(token);
        guest.storeResult(ret!, error);
      },
    };
    return importObject(KNOWN_IMPORTS.a, fns);
  }
}

/** Builds `{module: {name: fn}}` from the known `module#name` keys and functions named by `name`. */
export function importObject(
  known: Readonly<Record<string, string>>,
  fns: Record<string, (...args: number[]) => number | void>,
): Imports {
  const out: Record<string, Record<string, (...args: number[]) => number | void>> = {};
  for (const key of Object.keys(known)) {
    const [module, name] = key.split('#') as [string, string];
    const fn = fns[name];
    if (fn === undefined) throw new Error(`direct binding: no host function for ${key}`);
    (out[module] ??= {})[name] = fn;
  }
  return out;
}
