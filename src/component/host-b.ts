import { HostState, fail, guard } from './host-state.js';
import { RELEASED_MESSAGE, trap } from './direct/traps.js';
import { setHeader } from './host-text.js';
import type { InboundMessage } from './types.js';

/**
 * Host imports of world B (wasi:messaging@0.2.0-draft). Messages are host resources: the guest
 * holds handles, the data lives here. Every message alive at the end of a call that the guest
 * neither sent nor dropped is released by `releaseLive()` (its data freed, counted as leaked),
 * so a guest that never drops its handles cannot grow the host's memory with payloads; the
 * instance wrapper rebuilds the instance once the leaked handles themselves add up.
 */

const symbolDispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');
const EMPTY = new Uint8Array(0);

export interface WorldBHost {
  readonly imports: Record<string, Record<string, unknown>>;
  /** Wraps an inbound broker message as a `message` resource for `handle`. */
  inbound(msg: InboundMessage): object;
  /** Releases every message still alive; returns how many there were. */
  releaseLive(): number;
}

export function worldBImports(state: HostState): WorldBHost {
  const live = new Set<Message>();

  class Message {
    data_: Uint8Array;
    topic_: string | undefined;
    contentType_: string | undefined;
    metadata_: Array<[string, string]> | undefined;
    released = false;

    constructor(data: Uint8Array) {
      this.data_ = data;
      live.add(this);
    }
    /** Itself, unless released at the end of an earlier call (then the guest traps: RELEASED_MESSAGE). */
    alive(): this {
      if (this.released) trap(RELEASED_MESSAGE);
      return this;
    }
    topic(): string | undefined {
      return this.alive().topic_;
    }
    contentType(): string | undefined {
      return this.alive().contentType_;
    }
    setContentType(contentType: string): void {
      this.alive().contentType_ = contentType;
    }
    data(): Uint8Array {
      return this.alive().data_;
    }
    setData(data: Uint8Array): void {
      this.alive().data_ = data;
    }
    metadata(): Array<[string, string]> | undefined {
      return this.alive().metadata_;
    }
    addMetadata(key: string, value: string): void {
      (this.alive().metadata_ ??= []).push([key, value]);
    }
    setMetadata(meta: Array<[string, string]>): void {
      this.alive().metadata_ = meta;
    }
    removeMetadata(key: string): void {
      if (this.alive().metadata_ !== undefined) this.metadata_ = this.metadata_!.filter(([k]) => k !== key);
    }
    release(): void {
      this.data_ = EMPTY;
      this.metadata_ = undefined;
      this.released = true;
      live.delete(this);
    }
    [symbolDispose](): void {
      this.release();
    }
  }

  class Client {
    readonly name: string;
    connected = true;
    constructor(name: string) {
      this.name = name;
    }
    static connect(name: string): Client {
      return guard(() => {
        const denied = state.checkBroker(name);
        if (denied !== null) fail(denied);
        return new Client(name);
      });
    }
    disconnect(): void {
      this.connected = false;
    }
  }

  class RequestOptions {
    timeoutMs: number | undefined;
    expectedReplies: number | undefined;
    setTimeoutMs(timeoutMs: number): void {
      this.timeoutMs = timeoutMs;
    }
    setExpectedReplies(expectedReplies: number): void {
      this.expectedReplies = expectedReplies;
    }
  }

  function send(c: Client, topic: string, message: Message): void {
    message.alive(); // a trap, not the error variant: outside guard
    guard(() => {
      try {
        if (!c.connected) fail({ tag: 'connection', val: `client for broker '${c.name}' is disconnected` });
        const denied = state.grants.publish(c.name, topic);
        if (denied !== null) fail(denied);
        const headers: Record<string, string> = {};
        for (const [k, v] of message.metadata_ ?? []) setHeader(headers, k, v);
        if (message.contentType_ !== undefined) headers['content-type'] = message.contentType_;
        const over = state.admit(1, message.data_.length);
        if (over !== null) fail(over);
        state.outbox.push({ broker: c.name, kind: 'topic', channel: topic, data: message.data_, headers });
      } finally {
        // The guest gave up ownership: whatever happened, the host owns and frees it.
        message.release();
      }
    });
  }

  function request(): never {
    return guard(() =>
      fail({
        tag: 'other',
        val: 'not supported: request-reply needs a broker with replies, not available in this host yet',
      }),
    );
  }

  function reply(_replyTo: Message, message: Message): never {
    message.release();
    return request();
  }

  return {
    imports: {
      'wasi:messaging/types': { Client, Message },
      'wasi:messaging/producer': { send },
      'wasi:messaging/request-reply': { RequestOptions, request, reply },
    },
    inbound(msg) {
      const m = new Message(msg.payload);
      m.topic_ = msg.channel;
      const headers = msg.headers ?? {};
      m.contentType_ = headers['content-type'];
      const meta = Object.entries(headers).filter(([k]) => k !== 'content-type');
      m.metadata_ = meta.length > 0 ? meta : undefined;
      return m;
    },
    releaseLive() {
      const n = live.size;
      for (const m of [...live]) m.release();
      return n;
    },
  };
}
