import type { Consumer } from '../brokers/adapter.js';
import { within } from '../brokers/common.js';

/**
 * Counters per subscription (main thread): one object per component × broker × subscribed
 * channel (and one per component for `engine.process()`), created at start. Every message the
 * engine holds points at its subscription's object (`Pending.sub`), so counting is a property
 * increment on an object already at hand: no key is built and no map is looked up per message.
 * Scrapes add them up by label (`channelStats`): the cost is paid when someone reads them.
 */
export class SubscriptionCounters {
  received = 0;
  /** Handler returned ok and its outputs were published: counted once a message, when it is acked. */
  processed = 0;
  acked = 0;
  /** Failed attempts (error, trap, crash, timeout, outputs not published). */
  failed = 0;
  retried = 0;
  deadLettered = 0;
  /** Outputs published (confirmed by their brokers) for this subscription's inputs. */
  published = 0;
  /** A lag read still under way: a second scrape waits for it instead of asking the broker again. */
  lagRead: Promise<number | undefined> | undefined;

  constructor(
    /** The component's name. */
    readonly component: string,
    readonly broker: string,
    /** The channel as subscribed (a NATS wildcard stays one label value, whatever subjects match it). */
    readonly channel: string,
    /** The broker's consumer (undefined for `engine.process()`). */
    readonly consumer: Consumer | undefined,
  ) {}

  reset(): void {
    this.received = this.processed = this.acked = this.failed = this.retried = this.deadLettered = this.published = 0;
  }
}

/** What `engine.channelStats()` returns: counters per component, broker and subscribed channel. */
export interface ChannelStats {
  readonly component: string;
  readonly broker: string;
  readonly channel: string;
  readonly received: number;
  readonly processed: number;
  readonly acked: number;
  readonly failed: number;
  readonly retried: number;
  readonly deadLettered: number;
  readonly published: number;
}

/** What `engine.consumerLag()` returns per subscription whose broker reports it. */
export interface ConsumerLag {
  readonly component: string;
  readonly broker: string;
  readonly channel: string;
  /** Messages of the channel not yet acknowledged by this subscription's group; undefined: not known in time. */
  readonly lag: number | undefined;
}

const FIELDS = ['received', 'processed', 'acked', 'failed', 'retried', 'deadLettered', 'published'] as const;
export type Counts = { [K in (typeof FIELDS)[number]]: number };

/** The counters of every subscription added up (the engine's totals). */
export function totals(subs: Iterable<SubscriptionCounters>): Counts {
  const t: Counts = { received: 0, processed: 0, acked: 0, failed: 0, retried: 0, deadLettered: 0, published: 0 };
  for (const s of subs) for (const f of FIELDS) t[f] += s[f];
  return t;
}

/** The counters added up per (component, broker, channel): a component may subscribe to one channel twice. */
export function channelStats(subs: Iterable<SubscriptionCounters>): ChannelStats[] {
  const byLabels = new Map<string, { -readonly [K in keyof ChannelStats]: ChannelStats[K] }>();
  for (const s of subs) {
    const key = JSON.stringify([s.component, s.broker, s.channel]);
    let row = byLabels.get(key);
    if (row === undefined) {
      row = {
        component: s.component,
        broker: s.broker,
        channel: s.channel,
        received: 0,
        processed: 0,
        acked: 0,
        failed: 0,
        retried: 0,
        deadLettered: 0,
        published: 0,
      };
      byLabels.set(key, row);
    }
    for (const f of FIELDS) row[f] += s[f];
  }
  return [...byLabels.values()];
}

/**
 * Each subscription's consumer lag, from the consumers that report it (`Consumer.lag`), each
 * read bounded by `timeoutMs`: a slow or unreachable broker gives `undefined`, never a hung
 * scrape. A read still under way when the next scrape comes is waited for, not repeated.
 */
export async function readLag(subs: readonly SubscriptionCounters[], timeoutMs: number): Promise<ConsumerLag[]> {
  const reads = subs.flatMap((s) => {
    const consumer = s.consumer;
    if (consumer?.lag === undefined) return [];
    // through a promise: an adapter that throws instead of rejecting must not fail the scrape
    const read = (s.lagRead ??= Promise.resolve()
      .then(() => consumer.lag!())
      .then(
        (n) => {
          s.lagRead = undefined;
          return n;
        },
        () => {
          s.lagRead = undefined;
          return undefined;
        },
      ));
    return [
      within(read, timeoutMs).then((lag) => ({
        component: s.component,
        broker: s.broker,
        channel: s.channel,
        lag,
      })),
    ];
  });
  return Promise.all(reads);
}
