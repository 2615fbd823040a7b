import type { MessageTuple } from '../../codec/batch.js';
import { Msg } from '../../codec/layout.js';
import type { HostState } from '../host-state.js';
import { setHeader } from '../host-text.js';
import type { InboundMessage, MessagingError } from '../types.js';
import { HANDLER_EXPORT, KNOWN_IMPORTS, postReturnName } from './fit.js';
import { Guest, type Imports, Wasm, trap } from './guest.js';
import { HandleTable } from './handles.js';
import { RELEASED_MESSAGE } from './traps.js';
import { importObject } from './world-a.js';

/**
 * World B (wasi:messaging@0.2.0-draft) without jco: `handle(own<message>)` and the `types`,
 * `producer` and `request-reply` imports, with the resource tables kept here. Messages are host
 * objects; the guest holds handles. A message's metadata is built from the record's headers
 * only when the guest asks for it.
 *
 * Layouts: option<string> / list<u8> / option<list<…>> results are written through a return
 * pointer (tag u8 0, ptr 4, len 8 — or ptr 0, len 4 for a list); result<_, error> as in world A;
 * result<own<client>, error>: handle at 4.
 */

const HANDLER = HANDLER_EXPORT.b;
const EMPTY = new Uint8Array(0);
const NOT_SUPPORTED: MessagingError = {
  tag: 'other',
  val: 'not supported: request-reply needs a broker with replies, not available in this host yet',
};

class Message {
  data: Uint8Array;
  topic: string | undefined = undefined;
  contentType: string | undefined = undefined;
  /** Metadata, or the inbound headers it is made from on first use. */
  private meta: Array<[string, string]> | undefined = undefined;
  private headers: Readonly<Record<string, string>> | undefined = undefined;
  released = false;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  static inbound(payload: Uint8Array, channel: string, headers: Readonly<Record<string, string>> | undefined): Message {
    const m = new Message(payload);
    m.topic = channel;
    if (headers !== undefined && headers !== null) {
      m.contentType = headers['content-type'];
      m.headers = headers;
    }
    return m;
  }

  metadata(): Array<[string, string]> | undefined {
    if (this.headers !== undefined) {
      const h = this.headers;
      this.headers = undefined;
      let meta: Array<[string, string]> | undefined;
      for (const k in h) if (k !== 'content-type') (meta ??= []).push([k, h[k]!]);
      this.meta = meta;
    }
    return this.meta;
  }

  setMetadata(meta: Array<[string, string]> | undefined): void {
    this.headers = undefined;
    this.meta = meta;
  }
}

interface Client {
  readonly name: string;
  connected: boolean;
}

class RequestOptions {
  timeoutMs: number | undefined;
  expectedReplies: number | undefined;
}

export class DirectWorldB {
  readonly guest: Guest;
  private readonly messages = new HandleTable<Message>();
  private readonly clients = new HandleTable<Client>();
  private readonly options = new HandleTable<RequestOptions>();
  /** Messages not yet sent or dropped: released (data freed) after each call, counted as leaked. */
  private readonly live = new Set<Message>();

  constructor(
    module: WebAssembly.Module,
    private readonly state: HostState,
  ) {
    const instance = new Wasm.Instance(module, this.imports());
    this.guest = new Guest(instance, HANDLER, postReturnName(HANDLER));
  }

  call(msg: InboundMessage): MessagingError | null {
    return this.invoke(Message.inbound(msg.payload, msg.channel, msg.headers));
  }

  callTuple(m: MessageTuple): MessagingError | null {
    return this.invoke(Message.inbound(m[Msg.payload], m[Msg.channel], m[Msg.headers]));
  }

  /** Releases every message still alive (the guest kept its handle); returns how many. */
  releaseLive(): number {
    const n = this.live.size;
    if (n > 0) {
      for (const m of this.live) this.release(m);
      this.live.clear();
    }
    return n;
  }

  private newMessage(m: Message): number {
    this.live.add(m);
    return this.messages.add(m);
  }

  private release(m: Message): void {
    m.data = EMPTY;
    m.setMetadata(undefined);
    m.released = true;
    this.live.delete(m);
  }

  private invoke(m: Message): MessagingError | null {
    return this.guest.callForResult(this.newMessage(m));
  }

  private storeOptionString(ret: number, s: string | undefined): void {
    const g = this.guest;
    g.check(ret, 12, 4);
    if (s === undefined) g.u8[ret] = 0;
    else {
      g.u8[ret] = 1;
      g.storeString(ret + 4, s);
    }
  }

  private imports(): Imports {
    const state = this.state;
    const { messages, clients, options } = this;
    const g = (): Guest => this.guest;
    const msg = (h: number | undefined): Message => {
      const m = messages.get(h!, 'message');
      if (m.released) trap(RELEASED_MESSAGE);
      return m;
    };
    const fns: Record<string, (...args: number[]) => number | void> = {
      '[static]client.connect': (ptr, len, ret) =>
        g().openNamed(
          ptr!,
          len!,
          ret!,
          (name) => state.checkBroker(name),
          (name) => clients.add({ name, connected: true }),
        ),
      '[method]client.disconnect': (h, ret) => {
        const guest = g();
        guest.enter();
        clients.get(h!, 'client').connected = false;
        guest.storeResult(ret!, null);
      },
      '[resource-drop]client': (h) => {
        g().enter();
        clients.remove(h!, 'client');
      },
      '[constructor]message': (ptr, len) => {
        const guest = g();
        guest.enter();
        return this.newMessage(new Message(guest.loadBytes(ptr!, len!)));
      },
      '[method]message.topic': (h, ret) => {
        g().enter();
        this.storeOptionString(ret!, msg(h).topic);
      },
      '[method]message.content-type': (h, ret) => {
        g().enter();
        this.storeOptionString(ret!, msg(h).contentType);
      },
      '[method]message.set-content-type': (h, ptr, len) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        m.contentType = guest.loadString(ptr!, len!);
      },
      '[method]message.data': (h, ret) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        guest.check(ret!, 8, 4);
        guest.storeBytes(ret!, m.data);
      },
      '[method]message.set-data': (h, ptr, len) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        m.data = guest.loadBytes(ptr!, len!);
      },
      '[method]message.metadata': (h, ret) => {
        const guest = g();
        guest.enter();
        const meta = msg(h).metadata();
        guest.check(ret!, 12, 4);
        if (meta === undefined) guest.u8[ret!] = 0;
        else {
          guest.u8[ret!] = 1;
          guest.storePairs(ret! + 4, meta);
        }
      },
      '[method]message.add-metadata': (h, kp, kl, vp, vl) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        const pair: [string, string] = [guest.loadString(kp!, kl!), guest.loadString(vp!, vl!)];
        const meta = m.metadata();
        if (meta === undefined) m.setMetadata([pair]);
        else meta.push(pair);
      },
      '[method]message.set-metadata': (h, ptr, len) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        guest.check(ptr!, len! * 16, 4);
        const meta: Array<[string, string]> = new Array(len!);
        for (let i = 0; i < len!; i++) {
          meta[i] = [guest.loadStringAt(ptr! + i * 16), guest.loadStringAt(ptr! + i * 16 + 8)];
        }
        m.setMetadata(meta);
      },
      '[method]message.remove-metadata': (h, ptr, len) => {
        const guest = g();
        guest.enter();
        const m = msg(h);
        const key = guest.loadString(ptr!, len!);
        const meta = m.metadata();
        if (meta !== undefined) m.setMetadata(meta.filter(([k]) => k !== key));
      },
      '[resource-drop]message': (h) => {
        g().enter();
        this.release(messages.remove(h!, 'message'));
      },
      send: (c, tp, tl, h, ret) => {
        const guest = g();
        guest.enter();
        const client = clients.get(c!, 'client');
        const topic = guest.loadString(tp!, tl!);
        const m = messages.remove(h!, 'message');
        if (m.released) trap(RELEASED_MESSAGE);
        let error: MessagingError | null;
        if (!client.connected) error = { tag: 'connection', val: `client for broker '${client.name}' is disconnected` };
        else error = state.grants.publish(client.name, topic) ?? state.admit(1, m.data.length);
        if (error === null) {
          const headers: Record<string, string> = {};
          for (const [k, v] of m.metadata() ?? []) setHeader(headers, k, v); // `__proto__` is data too
          if (m.contentType !== undefined) headers['content-type'] = m.contentType;
          state.outbox.push({ broker: client.name, kind: 'topic', channel: topic, data: m.data, headers });
        }
        // The guest gave up ownership: whatever happened, the host owns and frees it.
        this.release(m);
        guest.storeResult(ret!, error);
      },
      '[constructor]request-options': () => {
        g().enter();
        return options.add(new RequestOptions());
      },
      '[method]request-options.set-timeout-ms': (h, v) => {
        g().enter();
        options.get(h!, 'request-options').timeoutMs = v! >>> 0;
      },
      '[method]request-options.set-expected-replies': (h, v) => {
        g().enter();
        options.get(h!, 'request-options').expectedReplies = v! >>> 0;
      },
      '[resource-drop]request-options': (h) => {
        g().enter();
        options.remove(h!, 'request-options');
      },
      request: (c, tp, tl, h, optTag, opt, ret) => {
        const guest = g();
        guest.enter();
        clients.get(c!, 'client');
        guest.loadString(tp!, tl!);
        msg(h);
        if (optTag === 1) options.remove(opt!, 'request-options');
        else if (optTag !== 0) trap(`invalid option discriminant ${optTag}`);
        guest.storeResult(ret!, NOT_SUPPORTED);
      },
      reply: (h, own, ret) => {
        const guest = g();
        guest.enter();
        msg(h);
        this.release(messages.remove(own!, 'message'));
        guest.storeResult(ret!, NOT_SUPPORTED);
      },
    };
    return importObject(KNOWN_IMPORTS.b, fns);
  }
}
