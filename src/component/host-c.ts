import { setHeader } from './host-text.js';
import { hasCloudEventAttributes } from './cloudevents.js';
import { HostState, fail, guard } from './host-state.js';
import type {
  BatchMessageResult,
  BatchOutcome,
  FormatSpec,
  HandlerResult,
  InboundMessage,
  MessagingError,
  OutboxEntry,
} from './types.js';

/**
 * Host imports of world C (batch delivery: `messaging-guest.handler(list<message>)`, labelled
 * wasi:messaging@0.2.0-draft or @0.1.0). Messages are plain records, copied into the guest for
 * each call; the guest tells the host which message it means by the record's metadata, where
 * the host put the message's position (`Meta`). Errors are resources: every error the host
 * returns is an `error` handle it creates and whose text it remembers; `error.trace()` returns
 * the text of the last one. Clients are passed owned to `send` and the consumer functions,
 * which consume them.
 */

/**
 * Metadata the host adds to each message of a batch, after the broker's headers (broker headers
 * with these names are dropped). `send` removes them from the headers it publishes, so a guest
 * can forward a message as it got it.
 */
export const Meta = {
  /** Channel (topic, subject, stream, queue) the message came from. */
  channel: 'wasmsg-channel',
  /** Partition, when the broker has partitions (0 otherwise). */
  partition: 'wasmsg-partition',
  /** Broker position (Kafka offset, stream id, sequence). */
  offset: 'wasmsg-offset',
  /** Message key, when it has one. */
  key: 'wasmsg-key',
  /** Name of the broker it came from. */
  broker: 'wasmsg-broker',
  /** Broker timestamp, ms since the epoch. */
  timestamp: 'wasmsg-timestamp',
  /** Position in this batch (0-based): how `complete-message` / `abandon-message` find the message. */
  index: 'wasmsg-index',
} as const;
const RESERVED: ReadonlySet<string> = new Set(Object.values(Meta));

/** The `message` record as jco presents it. */
export interface GuestMessage {
  data: Uint8Array;
  format: FormatSpec;
  metadata?: Array<[string, string]> | undefined;
}

/** The `guest-configuration` record as jco presents it. */
export interface GuestConfiguration {
  channels: string[];
  extensions?: Array<[string, string]> | undefined;
}

/** What the guest did to one message of the batch itself: complete-message, abandon-message, or nothing. */
export type Settlement = 'complete' | 'abandon' | undefined;

export interface WorldCHost {
  readonly imports: Record<string, Record<string, unknown>>;
  /** Starts a batch: the records to pass to `handler`, in order. */
  begin(msgs: readonly InboundMessage[]): GuestMessage[];
  /** Ends the batch: what the guest settled itself, per message. */
  end(): Settlement[];
  /**
   * The error variant for a value jco threw out of an export, when it is one of the host's
   * error resources (jco throws the guest's `err` payload: here an `error` handle).
   */
  guestError(thrown: unknown): { readonly tag: 'other'; readonly val: string } | undefined;
  /** Client and error handles the guest holds: neither consumed nor dropped. */
  liveHandles(): number;
}

const symbolDispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');

/** What a message the guest abandoned is settled with (retried, then dead-lettered). */
export const ABANDONED: HandlerResult = {
  tag: 'error',
  error: { tag: 'other', val: 'abandoned by the guest (abandon-message)' },
};
const OK: HandlerResult = { tag: 'ok' };
const SKIPPED: BatchMessageResult = { tag: 'skipped' };

/** The text of an error resource: `<tag>: <text>` (`timeout`; an `other` error's text alone). */
export function errorText(e: MessagingError): string {
  if (e.tag === 'other') return e.val;
  return 'val' in e ? `${e.tag}: ${e.val}` : e.tag;
}

/** The `format` of an inbound message: CloudEvents when it carries their attributes, else its broker's kind. */
export function formatOf(msg: InboundMessage, brokerFormats: Readonly<Record<string, FormatSpec>> = {}): FormatSpec {
  if (msg.headers !== undefined && hasCloudEventAttributes(msg.headers)) return 'cloudevents';
  return brokerFormats[msg.broker ?? 'default'] ?? 'raw';
}

/** The record the guest gets for message `index` of a batch. */
export function toGuestMessage(
  msg: InboundMessage,
  index: number,
  brokerFormats?: Readonly<Record<string, FormatSpec>>,
): GuestMessage {
  const metadata: Array<[string, string]> = [];
  const headers = msg.headers ?? {};
  for (const k in headers) if (!RESERVED.has(k)) metadata.push([k, headers[k]!]);
  metadata.push([Meta.channel, msg.channel]);
  if (msg.partition !== undefined) metadata.push([Meta.partition, String(msg.partition)]);
  if (msg.offset !== undefined) metadata.push([Meta.offset, msg.offset]);
  if (msg.key !== undefined && msg.key !== null) metadata.push([Meta.key, msg.key]);
  if (msg.broker !== undefined) metadata.push([Meta.broker, msg.broker]);
  if (msg.timestamp !== undefined) metadata.push([Meta.timestamp, String(msg.timestamp)]);
  metadata.push([Meta.index, String(index)]);
  return { data: msg.payload, format: formatOf(msg, brokerFormats), metadata };
}

/**
 * The per-message results of one handler call. A message the guest completed is ok, one it
 * abandoned is an error (`ABANDONED`); the others take the handler's result. To keep each lane's
 * order, every message after a failed one in its lane is `skipped` (run again later), whatever
 * happened to it. The outputs go out only when at least one message is ok.
 */
export function settleBatch(
  handler: HandlerResult,
  settled: readonly Settlement[],
  lanes: readonly unknown[],
  outbox: OutboxEntry[],
): BatchOutcome {
  const failed = new Set<unknown>();
  const results = settled.map((s, i): BatchMessageResult => {
    const lane = lanes[i];
    if (failed.has(lane)) return SKIPPED;
    const r = s === 'complete' ? OK : s === 'abandon' ? ABANDONED : handler;
    if (r.tag !== 'ok') failed.add(lane);
    return r;
  });
  return { results, outbox: results.some((r) => r.tag === 'ok') ? outbox : [] };
}

/** Where each message of a batch came from, for recognising a message the guest hands back. */
export interface BatchPositions {
  readonly length: number;
  position(i: number): [channel: string, partition: number | undefined, offset: string | undefined];
}

/**
 * `complete-message` / `abandon-message`: finds the batch message the guest means by its
 * `wasmsg-index` metadata (checked against its channel, partition and offset) and records how
 * it was settled. Throws the error variant to return to the guest when it is not one of the
 * batch's, or was already settled the other way.
 */
export function settleMessage(
  settled: Settlement[],
  metadata: ReadonlyArray<readonly [string, string]> | undefined,
  how: 'complete' | 'abandon',
  batch: BatchPositions,
): void {
  const fn = `${how}-message`;
  const meta = new Map(metadata ?? []);
  const raw = meta.get(Meta.index);
  const notOurs = `${fn}: not a message of this batch`;
  if (raw === undefined) fail({ tag: 'other', val: `${notOurs} (its metadata has no ${Meta.index})` });
  const i = /^\d+$/.test(raw) ? Number(raw) : -1;
  if (!(i >= 0 && i < batch.length)) {
    fail({ tag: 'other', val: `${notOurs} (${Meta.index} '${raw}'; the batch has ${batch.length} messages)` });
  }
  const [channel, partition, offset] = batch.position(i);
  const want: Array<[string, string | undefined]> = [
    [Meta.channel, channel],
    [Meta.partition, partition === undefined ? undefined : String(partition)],
    [Meta.offset, offset],
  ];
  for (const [name, value] of want) {
    if (value !== undefined && meta.get(name) !== value) {
      fail({
        tag: 'other',
        val: `${notOurs} (${Meta.index} ${i} has ${name} '${value}', this message says '${meta.get(name) ?? '(none)'}')`,
      });
    }
  }
  const before = settled[i];
  if (before !== undefined && before !== how) {
    fail({
      tag: 'other',
      val: `${fn}: message ${i} of the batch was already ${before === 'complete' ? 'completed' : 'abandoned'}`,
    });
  }
  settled[i] = how;
}

/** The `not supported` text of the pull functions, and of update-guest-configuration. */
export function notSupported(fn: string, channel?: string): string {
  return channel === undefined
    ? `not supported: ${fn}: subscriptions are fixed when the engine starts (configure() is read once)`
    : `not supported: ${fn}: this host pushes messages to handler (the channels of configure() or the engine's subscriptions); a guest cannot pull from '${channel}'`;
}

/** Metadata names the host adds (dropped from broker headers on the way in and from `send`'s outputs). */
export function isReservedMeta(name: string): boolean {
  return RESERVED.has(name);
}

export function worldCImports(state: HostState, brokerFormats?: Readonly<Record<string, FormatSpec>>): WorldCHost {
  /** Handles the guest holds; a guest that never drops them makes the instance rebuild (see instance.ts). */
  const live = new Set<object>();
  let lastText = '';
  let batch: { readonly msgs: readonly InboundMessage[]; readonly settled: Settlement[] } | null = null;

  /** The `error` resource (`Error` to jco). Not a JS Error: jco would take a thrown Error for a trap. */
  class ErrorResource {
    readonly text: string;
    constructor(text: string) {
      this.text = text;
    }
    /** The text of the last error the host returned to this instance ('' when none yet). */
    static trace(): string {
      return lastText;
    }
    [symbolDispose](): void {
      live.delete(this);
    }
  }

  /** The error resource for a variant: created, remembered for trace(), counted as live. */
  function raise(e: MessagingError): ErrorResource {
    const r = new ErrorResource(errorText(e));
    lastText = r.text;
    live.add(r);
    return r;
  }

  /** Runs an import body; whatever it throws reaches the guest as an error resource, never a trap. */
  function call<T>(body: () => T): T {
    try {
      return guard(body);
    } catch (e) {
      throw raise(e as MessagingError);
    }
  }

  class Client {
    readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    static connect(name: string): Client {
      return call(() => {
        const denied = state.checkBroker(name);
        if (denied !== null) fail(denied);
        const c = new Client(name);
        live.add(c);
        return c;
      });
    }
    [symbolDispose](): void {
      live.delete(this);
    }
  }

  function send(c: Client, ch: string, ms: GuestMessage[]): void {
    live.delete(c); // passed owned: consumed, whatever the outcome
    call(() => {
      const denied = state.grants.publish(c.name, ch);
      if (denied !== null) fail(denied);
      const over = state.admit(
        ms.length,
        ms.reduce((n, m) => n + m.data.length, 0),
      );
      if (over !== null) fail(over);
      for (const m of ms) {
        const headers: Record<string, string> = {};
        // the host's names are dropped, but `wasmsg-key`: a forwarded message keeps its key (settle.ts)
        for (const [k, v] of m.metadata ?? []) if (!RESERVED.has(k) || k === Meta.key) setHeader(headers, k, v);
        state.outbox.push({ broker: c.name, kind: 'topic', channel: ch, data: m.data, headers });
      }
    });
  }

  function notPulled(fn: string, c: Client, ch: string): never {
    live.delete(c);
    return call(() => {
      const denied = state.grants.subscribe(c.name, ch);
      if (denied !== null) fail(denied);
      return fail({ tag: 'other', val: notSupported(fn, ch) });
    });
  }

  function settle(m: GuestMessage, how: 'complete' | 'abandon'): void {
    call(() => {
      if (batch === null)
        fail({ tag: 'other', val: `${how}-message: no batch is being handled (call it from handler)` });
      const msgs = batch.msgs;
      settleMessage(batch.settled, m.metadata, how, {
        length: msgs.length,
        position: (i) => [msgs[i]!.channel, msgs[i]!.partition, msgs[i]!.offset],
      });
    });
  }

  return {
    imports: {
      'wasi:messaging/messaging-types': { Client, Error: ErrorResource },
      'wasi:messaging/producer': { send },
      'wasi:messaging/consumer': {
        subscribeTryReceive: (c: Client, ch: string) => notPulled('subscribe-try-receive', c, ch),
        subscribeReceive: (c: Client, ch: string) => notPulled('subscribe-receive', c, ch),
        updateGuestConfiguration: () =>
          call(() => fail({ tag: 'other', val: notSupported('update-guest-configuration') })),
        completeMessage: (m: GuestMessage) => settle(m, 'complete'),
        abandonMessage: (m: GuestMessage) => settle(m, 'abandon'),
      },
    },
    begin(msgs) {
      batch = { msgs, settled: new Array<Settlement>(msgs.length).fill(undefined) };
      return msgs.map((m, i) => toGuestMessage(m, i, brokerFormats));
    },
    end() {
      const settled = batch?.settled ?? [];
      batch = null;
      return settled;
    },
    guestError(thrown) {
      if (!(thrown instanceof ErrorResource)) return undefined;
      live.delete(thrown);
      // A handle jco did not get from the host has no text (cannot happen with a valid component).
      return { tag: 'other', val: typeof thrown.text === 'string' ? thrown.text : '(error without text)' };
    },
    liveHandles() {
      return live.size;
    },
  };
}
