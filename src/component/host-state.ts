import { compileGrants, type GrantCheck } from './grants.js';
import type { HostConfig, MessagingError, OutboxEntry } from './types.js';

/**
 * Per-instance state the host imports share: the outbox the caller drains after each call,
 * subscriptions, and the broker names and grants. Host imports must never throw anything but
 * a valid error variant into the guest (jco turns any other throw into a trap that poisons the
 * instance), so every import body runs through `guard`.
 */
/** The most subscription tokens an instance keeps (see HostState.subscribe). */
export const MAX_SUBSCRIPTIONS = 4096;

export class HostState {
  readonly outbox: OutboxEntry[] = [];
  readonly subscriptions = new Map<string, { broker: string; kind: string; channel: string }>();
  readonly brokers: ReadonlySet<string>;
  readonly grants: GrantCheck;
  readonly defaultBroker: string;
  private nextToken = 1;
  private readonly maxOutputs: number;
  private readonly maxOutputBytes: number;
  private outputs = 0;
  private outputBytes = 0;
  /** Set when a call went past an output limit: the call's result becomes this error. */
  exceeded: MessagingError | undefined;

  constructor(config: HostConfig) {
    this.brokers = new Set(config.brokers);
    this.grants = compileGrants(config.grants);
    this.defaultBroker = config.defaultBroker ?? config.brokers[0] ?? 'default';
    this.maxOutputs = config.limits?.maxOutputs ?? DEFAULT_MAX_OUTPUTS;
    this.maxOutputBytes = config.limits?.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  }

  /** A handler call starts: its outputs are counted from zero. */
  beginCall(): void {
    this.outputs = 0;
    this.outputBytes = 0;
    this.exceeded = undefined;
  }

  /**
   * Admits `count` outputs of `bytes` bytes for the call in progress, or returns the error to
   * give the guest when they go past the limits — and then the whole call fails with it, so what
   * one input may make the host hold is bounded whatever the guest does with the error.
   */
  admit(count: number, bytes: number): MessagingError | null {
    this.outputs += count;
    this.outputBytes += bytes;
    if (this.outputs <= this.maxOutputs && this.outputBytes <= this.maxOutputBytes) return null;
    this.exceeded ??= {
      tag: 'other',
      val: `output limit: a call may publish ${this.maxOutputs} messages and ${this.maxOutputBytes} bytes (limits.maxOutputs, limits.maxOutputBytes)`,
    };
    return this.exceeded;
  }

  /** Resolves a broker name for open/connect, or the error variant to return to the guest. */
  checkBroker(name: string): MessagingError | null {
    if (!this.brokers.has(name)) return { tag: 'connection', val: `unknown broker '${name}'` };
    return this.grants.open(name);
  }

  /**
   * A world A `subscribe`: its token (the engine's subscriptions come from the configuration, so
   * a token only serves `unsubscribe`). At most MAX_SUBSCRIPTIONS are kept, the oldest dropped
   * past it: a guest that subscribes on every message grew the map without bound (≈ 180 B a
   * message per worker).
   */
  subscribe(broker: string, kind: string, channel: string): string {
    const token = this.newToken();
    this.subscriptions.set(token, { broker, kind, channel });
    if (this.subscriptions.size > MAX_SUBSCRIPTIONS) this.subscriptions.delete(this.subscriptions.keys().next().value!);
    return token;
  }

  newToken(): string {
    return `sub-${this.nextToken++}`;
  }

  drainOutbox(): OutboxEntry[] {
    return this.outbox.splice(0, this.outbox.length);
  }
}

/** Outputs one handler call may publish, by default (HostConfig.limits). */
export const DEFAULT_MAX_OUTPUTS = 10_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** Throws the variant to the guest (jco lowers a thrown non-Error as `err(value)`). */
export function fail(error: MessagingError): never {
  throw error;
}

function isVariant(e: unknown): e is MessagingError {
  return (
    typeof e === 'object' && e !== null && !(e instanceof Error) && typeof (e as { tag?: unknown }).tag === 'string'
  );
}

/** Runs a host import body; anything it throws that is not an error variant becomes `other(message)`. */
export function guard<T>(body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (isVariant(e)) throw e;
    const error: MessagingError = { tag: 'other', val: `host error: ${e instanceof Error ? e.message : String(e)}` };
    throw error;
  }
}
