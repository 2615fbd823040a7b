/**
 * The one handler interface the rest of the engine sees, whatever the component's world:
 * a message in, a result and an outbox out. Plain data only: these cross threads.
 */

export type ChannelKind = 'topic' | 'queue';

/** The guest-visible error variant, shared by both worlds (SPEC.md). */
export type MessagingError =
  { readonly tag: 'timeout' } | { readonly tag: 'connection' | 'permission-denied' | 'other'; readonly val: string };

export interface InboundMessage {
  readonly payload: Uint8Array;
  /** Channel (topic, subject, stream, queue) the message came from. */
  readonly channel: string;
  readonly kind?: ChannelKind;
  /** Name of the broker it came from (default `default`). */
  readonly broker?: string;
  readonly key?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  /** Broker timestamp, ms since the epoch. */
  readonly timestamp?: number;
  readonly partition?: number;
  /** Broker position (Kafka offset, stream id, sequence). */
  readonly offset?: string;
}

/** One thing the handler published, to be sent by the engine (and confirmed before the input is acked). */
export interface OutboxEntry {
  readonly broker: string;
  readonly kind: ChannelKind;
  readonly channel: string;
  readonly data: Uint8Array;
  /** Headers in the neutral binary-mode form: CloudEvents attributes as `ce_<name>`, `content-type`, metadata. */
  readonly headers: Record<string, string>;
}

export type HandlerResult =
  | { readonly tag: 'ok' }
  | { readonly tag: 'error'; readonly error: MessagingError }
  | { readonly tag: 'trap'; readonly message: string };

export interface CallOutcome {
  readonly result: HandlerResult;
  readonly outbox: OutboxEntry[];
}

/** A message's outcome in a world C batch: a handler result, or not settled to keep its lane's order. */
export type BatchMessageResult = HandlerResult | { readonly tag: 'skipped' };

/** What one world C handler call gives: a result per message, in batch order, and the batch's outputs. */
export interface BatchOutcome {
  readonly results: BatchMessageResult[];
  /**
   * Everything the guest sent during the call; empty unless at least one message is `ok`. The
   * outputs belong to the batch, not to a message: the engine attributes them to the first ok one.
   */
  readonly outbox: OutboxEntry[];
}

/** World C's `format-spec`: how a message's data is framed. */
export type FormatSpec = 'cloudevents' | 'http' | 'amqp' | 'mqtt' | 'kafka' | 'raw';

/** Which brokers and channels a component may use. Omitted lists allow everything. */
export interface Grants {
  /** Broker names `broker.open` / `client.connect` may resolve. */
  readonly brokers?: readonly string[];
  /** Channel patterns (`*` matches any run of characters) the component may publish/send to. */
  readonly publish?: readonly string[];
  /** Channel patterns the component may subscribe to. */
  readonly subscribe?: readonly string[];
}

export interface LogLine {
  readonly component: string;
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}
export type Logger = (line: LogLine) => void;

/** What the caller gives a component instance: the broker names it can reach and its grants. */
export interface HostConfig {
  /** Broker names known to the host; anything else is `connection("unknown broker 'x'")`. */
  readonly brokers: readonly string[];
  readonly grants?: Grants;
  /** Where the guest's stdout/stderr go (WASI components); default: the process's stderr. */
  readonly logger?: Logger;
  /** Default broker for outputs of world B (which names no broker per message). */
  readonly defaultBroker?: string;
  /**
   * World C: the `format` of a message without CloudEvents attributes, per broker name (e.g.
   * `kafka` for a Kafka broker); brokers not named here give `raw`.
   */
  readonly brokerFormats?: Readonly<Record<string, FormatSpec>>;
  /**
   * `auto` (default): the direct canonical-ABI binding where the component fits it (see
   * `ComponentInfo.binding`), else jco's glue; `jco`: always jco's glue.
   */
  readonly binding?: 'auto' | 'jco';
  /** What one handler call may publish (defaults: 10 000 messages, 64 MiB); past it the call fails. */
  readonly limits?: { readonly maxOutputs?: number; readonly maxOutputBytes?: number };
}
