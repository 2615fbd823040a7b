import type { MessageTuple } from '../../codec/batch.js';
import { Msg } from '../../codec/layout.js';
import { hasCloudEventAttributes } from '../cloudevents.js';
import {
  type GuestConfiguration,
  Meta,
  type Settlement,
  errorText,
  isReservedMeta,
  notSupported,
  settleMessage,
} from '../host-c.js';
import type { HostState } from '../host-state.js';
import { NO_HEADERS, setHeader } from '../host-text.js';
import type { FormatSpec, MessagingError } from '../types.js';
import { HANDLER_EXPORT, KNOWN_IMPORTS, configureExport, postReturnName } from './fit.js';
import { Guest, type Imports, Wasm, trap, trapMessage } from './guest.js';
import { HandleTable } from './handles.js';
import { importObject } from './world-a.js';

/**
 * World C (batch delivery) without jco: the whole batch lowered into the guest as one
 * `list<message>` and one `handler(ptr, len)` call. Same semantics as host-c.ts (jco's path):
 * the same metadata names, the same error resources and texts, the same recognition of a
 * message handed back to complete-message / abandon-message.
 *
 * Layouts: message (24 B, align 4): data ptr 0, len 4; format u8 8; metadata option tag 12,
 * ptr 16, len 20. result<_, error> (8 B): tag u8 0, error handle 4. result<client, error>: the
 * same with the client handle at 4. guest-configuration: channels ptr/len, extensions option
 * tag, ptr, len (at 4 in configure's result).
 */

const MESSAGE = 24;
const FORMATS: readonly FormatSpec[] = ['cloudevents', 'http', 'amqp', 'mqtt', 'kafka', 'raw'];
const FORMAT_INDEX: Readonly<Record<FormatSpec, number>> = {
  cloudevents: 0,
  http: 1,
  amqp: 2,
  mqtt: 3,
  kafka: 4,
  raw: 5,
};
const RESERVED_PREFIX = new TextEncoder().encode('wasmsg-');
const META_BYTES = Object.fromEntries(
  Object.entries(Meta).map(([name, key]) => [name, new TextEncoder().encode(key)]),
) as Record<keyof typeof Meta, Uint8Array>;
/** Dropped from what `send` publishes: the host's names but `wasmsg-key`, which a forwarded message's output keeps as its key (settle.ts). */
const RESERVED_BYTES = Object.entries(META_BYTES)
  .filter(([name]) => name !== 'key')
  .map(([, bytes]) => bytes);
const RESERVED_MIN = Math.min(...Object.values(Meta).map((k) => k.length));
const RESERVED_MAX = Math.max(...Object.values(Meta).map((k) => k.length));

/** configure() returned err or trapped (the message says which): the instance is unusable. */
export class ConfigureError extends Error {}

interface Client {
  readonly name: string;
}

export class DirectWorldC {
  readonly guest: Guest;
  readonly configuration: GuestConfiguration;
  private readonly clients = new HandleTable<Client>();
  private readonly errors = new HandleTable<string>();
  private lastText = '';
  private batch: { readonly tuples: readonly MessageTuple[]; readonly settled: Settlement[] } | null = null;
  /** What the guest settled in the last call, kept for a call that trapped. */
  private settledLast: Settlement[] = [];
  private readonly configureFn: (...args: number[]) => number;

  constructor(
    module: WebAssembly.Module,
    private readonly state: HostState,
    shape: 'c' | 'c010',
    private readonly brokerFormats: Readonly<Record<string, FormatSpec>> = {},
  ) {
    const handler = HANDLER_EXPORT[shape];
    const instance = new Wasm.Instance(module, this.imports(shape));
    this.guest = new Guest(instance, handler, postReturnName(handler));
    this.configureFn = instance.exports[configureExport(handler)] as (...args: number[]) => number;
    this.configuration = this.configure(postReturnName(configureExport(handler)), instance);
  }

  private configure(postName: string, instance: { exports: Record<string, unknown> }): GuestConfiguration {
    const g = this.guest;
    let ret: number;
    try {
      ret = g.callExportFn(this.configureFn) >>> 0;
      g.check(ret, 24, 4);
    } catch (e) {
      throw new ConfigureError(`trapped: ${trapMessage(e)}`);
    }
    const tag = g.u8[ret]!;
    if (tag === 1) throw new ConfigureError(`returned err: ${this.takeError(g.dv.getInt32(ret + 4, true))}`);
    if (tag !== 0) trap(`invalid result discriminant ${tag}`);
    const base = g.dv.getUint32(ret + 4, true);
    const n = g.dv.getUint32(ret + 8, true);
    g.check(base, n * 8, 4);
    const channels: string[] = [];
    for (let i = 0; i < n; i++) channels.push(g.loadStringAt(base + i * 8));
    const extTag = g.u8[ret + 12];
    let extensions: Array<[string, string]> | undefined;
    if (extTag === 1) extensions = g.loadPairsAt(ret + 16);
    else if (extTag !== 0) trap(`invalid option discriminant ${extTag}`);
    const post = instance.exports[postName];
    if (typeof post === 'function') g.postReturnWith(post as (ret: number) => void, ret);
    return { channels, extensions };
  }

  /** What the guest settled in the last call (complete/abandon before a trap still count). */
  lastSettled(): Settlement[] {
    return this.settledLast;
  }

  /** Handles the guest holds (clients and errors neither consumed nor dropped). */
  liveHandles(): number {
    return this.clients.size + this.errors.size;
  }

  /**
   * One handler call for the whole batch. Returns the handler's error (null: ok) and what the
   * guest settled itself, per message; throws on a trap.
   */
  callBatch(tuples: readonly MessageTuple[]): { error: MessagingError | null; settled: Settlement[] } {
    const settled = new Array<Settlement>(tuples.length).fill(undefined);
    this.batch = { tuples, settled };
    this.settledLast = settled;
    try {
      const g = this.guest;
      const n = tuples.length;
      const list = g.alloc(4, n * MESSAGE);
      for (let i = 0; i < n; i++) this.lowerMessage(list + i * MESSAGE, tuples[i]!, i);
      const ret = g.callExport2(list, n) >>> 0;
      g.check(ret, 8, 4);
      const tag = g.u8[ret]!;
      let error: MessagingError | null = null;
      if (tag === 1) error = { tag: 'other', val: this.takeError(g.dv.getInt32(ret + 4, true)) };
      else if (tag !== 0) trap(`invalid result discriminant ${tag}`);
      g.postReturn(ret);
      return { error, settled };
    } finally {
      this.batch = null;
    }
  }

  /** As toGuestMessage (host-c.ts), from the tuple: headers, then the position metadata. */
  private lowerMessage(at: number, m: MessageTuple, index: number): void {
    const g = this.guest;
    g.storeBytes(at, m[Msg.payload]);
    const headers = m[Msg.headers] ?? NO_HEADERS;
    const broker = m[Msg.broker];
    const format = hasCloudEventAttributes(headers)
      ? 'cloudevents'
      : (this.brokerFormats[broker ?? 'default'] ?? 'raw');
    g.u8[at + 8] = FORMAT_INDEX[format];
    g.u8[at + 12] = 1;
    let n = 2; // channel, index
    for (const k in headers) if (!isReservedMeta(k)) n++;
    const partition = m[Msg.partition];
    const offset = m[Msg.offset];
    const key = m[Msg.key];
    const ts = m[Msg.timestamp];
    if (partition !== undefined) n++;
    if (offset !== undefined) n++;
    if (key !== undefined && key !== null) n++;
    if (broker !== undefined) n++;
    if (ts !== undefined) n++;
    const base = g.alloc(4, n * 16);
    let p = base;
    const pair = (k: string, v: string): void => {
      g.storeString(p, k);
      g.storeString(p + 8, v);
      p += 16;
    };
    // the host's names are constants: their bytes are encoded once
    const meta = (k: Uint8Array, v: string): void => {
      g.storeAscii(p, k);
      g.storeString(p + 8, v);
      p += 16;
    };
    // a number's digits are written straight into guest memory (no string made per message)
    const metaNumber = (k: Uint8Array, v: number): void => {
      g.storeAscii(p, k);
      g.storeDecimal(p + 8, v);
      p += 16;
    };
    for (const k in headers) if (!isReservedMeta(k)) pair(k, headers[k]!);
    meta(META_BYTES.channel, m[Msg.channel]);
    if (partition !== undefined) metaNumber(META_BYTES.partition, partition);
    // the embedded broker's offsets are integers; other brokers' are strings
    if (typeof offset === 'number') metaNumber(META_BYTES.offset, offset);
    else if (offset !== undefined) meta(META_BYTES.offset, offset);
    if (key !== undefined && key !== null) meta(META_BYTES.key, key);
    if (broker !== undefined) meta(META_BYTES.broker, broker);
    if (ts !== undefined) metaNumber(META_BYTES.timestamp, ts);
    metaNumber(META_BYTES.index, index);
    g.dv.setUint32(at + 16, base, true);
    g.dv.setUint32(at + 20, n, true);
  }

  /** An error handle the guest passed back (owned): its text, and the handle is gone. */
  private takeError(handle: number): string {
    return this.errors.remove(handle, 'error');
  }

  /** The error resource for a variant: a new handle, its text remembered for trace(). */
  private raise(e: MessagingError): number {
    const text = errorText(e);
    this.lastText = text;
    return this.errors.add(text);
  }

  /** result<_, error> / result<T, error> with T a handle: tag at `ret`, handle at ret+4. */
  private storeOutcome(ret: number, error: MessagingError | null, ok = 0): void {
    const g = this.guest;
    g.check(ret, 8, 4);
    g.u8[ret] = error === null ? 0 : 1;
    g.dv.setInt32(ret + 4, error === null ? ok : this.raise(error), true);
  }

  /** The 6 flattened values of a `message` (or its 24-byte record): data, format, metadata. */
  private liftMessage(
    dataPtr: number,
    dataLen: number,
    format: number,
    metaTag: number,
    metaPtr: number,
    metaLen: number,
    dropReserved = false,
    dataOut?: { buf: Uint8Array; at: number },
  ): { data: Uint8Array; metadata: Array<[string, string]> | undefined } {
    const g = this.guest;
    const data = dataOut === undefined ? g.loadBytes(dataPtr, dataLen) : g.copyInto(dataPtr, dataLen, dataOut);
    if (FORMATS[format] === undefined) trap(`invalid format-spec discriminant ${format}`);
    let metadata: Array<[string, string]> | undefined;
    if (metaTag === 1) {
      g.check(metaPtr, metaLen * 16, 4);
      metadata = [];
      for (let i = 0; i < metaLen; i++) {
        const at = metaPtr + i * 16;
        const keyPtr = g.dv.getUint32(at, true);
        const keyLen = g.dv.getUint32(at + 4, true);
        if (dropReserved && this.isReserved(keyPtr, keyLen)) {
          // dropped, but checked as jco's lifting would read it
          g.check(g.dv.getUint32(at + 8, true), g.dv.getUint32(at + 12, true), 1);
          continue;
        }
        metadata.push([g.loadString(keyPtr, keyLen), g.loadStringAt(at + 8)]);
      }
    } else if (metaTag !== 0) trap(`invalid option discriminant ${metaTag}`);
    return { data, metadata };
  }

  /** Whether the key at (ptr, len) in guest memory is one of the host's `wasmsg-*` names, compared as bytes. */
  private isReserved(ptr: number, len: number): boolean {
    if (len < RESERVED_MIN || len > RESERVED_MAX || ptr + len > this.guest.u8.length) return false;
    const u8 = this.guest.u8;
    for (let i = 0; i < RESERVED_PREFIX.length; i++) if (u8[ptr + i] !== RESERVED_PREFIX[i]) return false;
    next: for (const name of RESERVED_BYTES) {
      if (name.length !== len) continue;
      for (let i = RESERVED_PREFIX.length; i < len; i++) if (u8[ptr + i] !== name[i]) continue next;
      return true;
    }
    return false;
  }

  private settle(how: 'complete' | 'abandon', metadata: Array<[string, string]> | undefined): MessagingError | null {
    const batch = this.batch;
    if (batch === null)
      return { tag: 'other', val: `${how}-message: no batch is being handled (call it from handler)` };
    const tuples = batch.tuples;
    try {
      settleMessage(batch.settled, metadata, how, {
        length: tuples.length,
        position: (i) => {
          const offset = tuples[i]![Msg.offset]; // none (the library's callBatch): not checked, as jco's path
          return [
            tuples[i]![Msg.channel],
            tuples[i]![Msg.partition],
            offset === undefined ? undefined : String(offset),
          ];
        },
      });
      return null;
    } catch (e) {
      return e as MessagingError;
    }
  }

  private imports(shape: 'c' | 'c010'): Imports {
    const state = this.state;
    const { clients, errors } = this;
    const g = (): Guest => this.guest;
    const pull = (
      fn: string,
      c: number | undefined,
      p: number | undefined,
      l: number | undefined,
      ret: number | undefined,
    ): void => {
      const guest = g();
      guest.enter();
      const client = clients.remove(c!, 'client');
      const channel = guest.loadString(p!, l!);
      const denied = state.grants.subscribe(client.name, channel);
      this.storeOutcome(ret!, denied ?? { tag: 'other', val: notSupported(fn, channel) });
    };
    const settle =
      (how: 'complete' | 'abandon') =>
      (...a: number[]) => {
        const guest = g();
        guest.enter();
        const { metadata } = this.liftMessage(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
        this.storeOutcome(a[6]!, this.settle(how, metadata));
      };
    const fns: Record<string, (...args: number[]) => number | void> = {
      '[static]client.connect': (ptr, len, ret) => {
        const guest = g();
        guest.enter();
        const name = guest.loadString(ptr!, len!);
        const denied = state.checkBroker(name);
        if (denied !== null) this.storeOutcome(ret!, denied);
        else this.storeOutcome(ret!, null, clients.add({ name }));
      },
      '[resource-drop]client': (h) => {
        g().enter();
        clients.remove(h!, 'client');
      },
      '[static]error.trace': (ret) => {
        const guest = g();
        guest.enter();
        guest.check(ret!, 8, 4);
        guest.storeString(ret!, this.lastText);
      },
      '[resource-drop]error': (h) => {
        g().enter();
        errors.remove(h!, 'error');
      },
      send: (c, chp, chl, lp, ll, ret) => {
        const guest = g();
        guest.enter();
        const client = clients.remove(c!, 'client'); // passed owned: consumed, whatever the outcome
        const channel = guest.loadString(chp!, chl!);
        guest.check(lp!, ll! * MESSAGE, 4);
        // one copy-out buffer for every message's data (one allocation per send, not per message)
        let total = 0;
        for (let i = 0; i < ll!; i++) total += guest.dv.getUint32(lp! + i * MESSAGE + 4, true);
        const dataOut = { buf: new Uint8Array(total), at: 0 };
        const out: Array<{ data: Uint8Array; metadata: Array<[string, string]> | undefined }> = [];
        for (let i = 0; i < ll!; i++) {
          const at = lp! + i * MESSAGE;
          const dv = guest.dv;
          out.push(
            this.liftMessage(
              dv.getUint32(at, true),
              dv.getUint32(at + 4, true),
              guest.u8[at + 8]!,
              guest.u8[at + 12]!,
              dv.getUint32(at + 16, true),
              dv.getUint32(at + 20, true),
              true,
              dataOut,
            ),
          );
        }
        const denied = state.grants.publish(client.name, channel) ?? state.admit(out.length, total);
        if (denied === null) {
          for (const m of out) {
            const headers: Record<string, string> = {};
            for (const [k, v] of m.metadata ?? []) setHeader(headers, k, v); // `__proto__` is data too
            state.outbox.push({ broker: client.name, kind: 'topic', channel, data: m.data, headers });
          }
        }
        this.storeOutcome(ret!, denied);
      },
      'subscribe-try-receive': (c, p, l, _t, ret) => pull('subscribe-try-receive', c, p, l, ret),
      'subscribe-receive': (c, p, l, ret) => pull('subscribe-receive', c, p, l, ret),
      'update-guest-configuration': (lp, ll, tag, ep, el, ret) => {
        const guest = g();
        guest.enter();
        guest.check(lp!, ll! * 8, 4);
        for (let i = 0; i < ll!; i++) guest.loadStringAt(lp! + i * 8);
        if (tag === 1) {
          guest.check(ep!, el! * 16, 4);
          for (let i = 0; i < el! * 2; i++) guest.loadStringAt(ep! + i * 8);
        } else if (tag !== 0) trap(`invalid option discriminant ${tag}`);
        this.storeOutcome(ret!, { tag: 'other', val: notSupported('update-guest-configuration') });
      },
      'complete-message': settle('complete'),
      'abandon-message': settle('abandon'),
    };
    return importObject(KNOWN_IMPORTS[shape], fns);
  }
}
