import type { BrokerRecord, Consumer } from '../brokers/adapter.js';
import type { OutboxEntry } from '../component/types.js';
import type { SubscriptionCounters } from './counters.js';
import { Deque } from './deque.js';

/**
 * Ordering lanes (main thread). A lane is the unit of order: `partition` mode has one per
 * (component, broker, channel, partition), `key` mode one per key within those (a record
 * without a key falls back to its partition's lane), `none` one per component. An exclusive
 * lane (partition, key) has at most one batch in flight, and what failed goes back to its front:
 * that is the whole ordering guarantee. Lanes are found through nested maps (no key string is
 * built per message) with the last lane found kept, since consecutive records of an adapter's
 * batch share their lane almost always.
 */

/** One input message the engine holds, from intake until it is acked or handed back. */
export interface Pending {
  readonly rec: BrokerRecord;
  readonly consumer: Consumer;
  readonly component: number;
  readonly broker: string;
  readonly lane: Lane;
  /** Its subscription's counters (engine/counters.ts): counted on without a lookup. */
  readonly sub: SubscriptionCounters;
  attempts: number;
  /**
   * When the intake call that brought it ran: one object per adapter batch, shared by its
   * messages (a number field here cost each message a boxed double, 16 bytes).
   */
  readonly arrival: Arrival;
  lastError: string;
  /** Set for messages fed through `process()`: outputs and the outcome go to the caller, not to brokers. */
  readonly sink?: (outcome: ProcessOutcome) => void;
}

/** performance.now() of an intake call (one clock read per adapter batch). */
export interface Arrival {
  readonly at: number;
}

/** What `process()`'s caller gets per input, before the input object is attached. */
export type ProcessOutcome =
  | { readonly status: 'ok'; readonly outputs: OutboxEntry[] }
  | { readonly status: 'failed'; readonly error: string; readonly attempts: number };

export interface Lane {
  readonly id: number;
  readonly component: number;
  readonly exclusive: boolean;
  /**
   * Its messages are `engine.process()` inputs (broker `process`): a world C batch never mixes
   * them with a broker's (its outputs are the whole call's, given to the first ok message).
   */
  readonly caller: boolean;
  /**
   * Under `partition`/`key` ordering, the `process()` stream whose inputs it holds: each stream
   * has lanes of its own, and a world C batch takes one stream's inputs only (its outputs go to
   * that stream's caller; see STREAM). Undefined for a broker's lane, and under `none`.
   */
  readonly stream: object | undefined;
  readonly queue: Deque<Pending>;
  busy: boolean;
  /**
   * Publishes of its outputs not yet confirmed (exclusive lanes): the lane sends nothing more, and
   * is not forgotten, until they are — or a later batch's outputs could reach the broker first.
   */
  held: number;
  /** performance.now() before which the lane waits (retry backoff). */
  blockedUntil: number;
  /** Where the lane is registered, so an idle exclusive lane can be forgotten. */
  readonly home: Map<unknown, Lane> | undefined;
  readonly homeKey: unknown;
}

/** The broker name of `engine.process()` inputs. */
export const PROCESS_BROKER = 'process';

/**
 * On each `engine.process()` input's record (process.ts): the stream it came from. A world C
 * batch's outputs are the whole call's, given to its first ok input's caller, so a batch never
 * mixes two streams' inputs — before, concurrent streams received each other's outputs.
 */
export const STREAM = Symbol('wasmsg.process.stream');

/** The `process()` stream of a record; undefined for a broker's. */
export function streamOf(rec: BrokerRecord): object | undefined {
  return (rec as { readonly [STREAM]?: object })[STREAM];
}

export type OrderingMode = 'partition' | 'key' | 'none';

/** By component: broker (or a process() stream), channel, partition. */
type Nested<T> = Map<unknown, Map<string, Map<number, T>>>;
/** Per partition: its lane, and in key mode the lanes of its keys. */
interface PartitionLanes {
  lane: Lane | undefined;
  keys: Map<unknown, Lane> | undefined;
}

export class Lanes {
  /** Lanes with queued messages that may be sent now (insertion-ordered: fair across lanes). */
  readonly ready = new Set<Lane>();
  private readonly byComponent: Array<Nested<PartitionLanes>> = [];
  private readonly unordered: Lane[] = [];
  /** `none`: the lane of each component's `engine.process()` inputs. */
  private readonly unorderedCaller: Lane[] = [];
  private nextId = 1;
  /** Exclusive lanes forgotten since the maps were last swept, and the partitions they held then (see sweep). */
  private forgotten = 0;
  private entries = SWEEP_AFTER;
  private last: { component: number; broker: unknown; channel: string; partition: number; key: unknown; lane: Lane } = {
    component: -1,
    broker: '',
    channel: '',
    partition: -1,
    key: undefined,
    lane: undefined as unknown as Lane,
  };

  constructor(private readonly mode: OrderingMode) {}

  /** The lane of a record (created on first use). */
  laneFor(component: number, broker: string, rec: BrokerRecord): Lane {
    if (this.mode === 'none') {
      const caller = broker === PROCESS_BROKER;
      const lanes = caller ? this.unorderedCaller : this.unordered;
      return (lanes[component] ??= this.newLane(component, false, undefined, undefined, caller, undefined));
    }
    const key = this.mode === 'key' ? rec.key : null;
    // a process() stream's lanes are its own (its record says which: one compare for a broker's)
    const owner = broker === PROCESS_BROKER ? (streamOf(rec) ?? broker) : broker;
    const last = this.last;
    if (
      last.component === component &&
      last.partition === rec.partition &&
      last.channel === rec.channel &&
      last.broker === owner &&
      last.key === key &&
      last.lane.home?.get(last.lane.homeKey) === last.lane
    ) {
      return last.lane;
    }
    const channels = getOrSet(getOrSet((this.byComponent[component] ??= new Map()), owner), rec.channel);
    let p = channels.get(rec.partition);
    if (p === undefined) channels.set(rec.partition, (p = { lane: undefined, keys: undefined }));
    let lane: Lane;
    const caller = broker === PROCESS_BROKER; // (past the cache of the last lane: not once a message)
    const stream = owner === broker ? undefined : (owner as object);
    if (key === null) {
      const known = p.lane;
      lane =
        known !== undefined && known.home?.get(known.homeKey) === known
          ? known
          : this.partitionLane(component, p, caller, stream);
    } else {
      const keys = (p.keys ??= new Map());
      lane = keys.get(key) ?? this.newLane(component, true, keys, key, caller, stream);
    }
    last.component = component;
    last.broker = owner;
    last.channel = rec.channel;
    last.partition = rec.partition;
    last.key = key;
    last.lane = lane;
    return lane;
  }

  private partitionLane(component: number, p: PartitionLanes, caller: boolean, stream: object | undefined): Lane {
    // registered in a one-entry map of its own, so release() can tell it was forgotten
    const home = new Map<unknown, Lane>();
    const lane = this.newLane(component, true, home, 0, caller, stream);
    p.lane = lane;
    return lane;
  }

  private newLane(
    component: number,
    exclusive: boolean,
    home: Map<unknown, Lane> | undefined,
    homeKey: unknown,
    caller: boolean,
    stream: object | undefined,
  ): Lane {
    const lane: Lane = {
      id: this.nextId++,
      component,
      exclusive,
      caller,
      stream,
      queue: new Deque<Pending>(),
      busy: false,
      held: 0,
      blockedUntil: 0,
      home,
      homeKey,
    };
    home?.set(homeKey, lane);
    return lane;
  }

  markReady(lane: Lane, now: number): void {
    if (lane.queue.length > 0 && !lane.busy && lane.held === 0 && lane.blockedUntil <= now) this.ready.add(lane);
  }

  /** A lane's batch settled: it may send again; an idle exclusive lane is forgotten (key mode makes many). */
  release(lane: Lane, now: number): void {
    lane.busy = false;
    this.idle(lane, now);
  }

  /** Its batch's outputs are published (or failed): the lane may send again. */
  unhold(lane: Lane, now: number): void {
    if (--lane.held === 0 && !lane.busy) this.idle(lane, now);
  }

  private idle(lane: Lane, now: number): void {
    if (lane.queue.length > 0) this.markReady(lane, now);
    else if (lane.held === 0) {
      this.ready.delete(lane);
      if (lane.exclusive && lane.home?.delete(lane.homeKey) === true && ++this.forgotten > this.entries) this.sweep();
    }
  }

  /**
   * Drops the entries of channels, partitions and keys whose lanes were all forgotten: else one
   * would stay for every channel ever seen (≈ 0.8 KB each; an MQTT or NATS wildcard subscription
   * gives each topic a channel of its own). Run once more lanes were forgotten than partitions
   * stood after the last sweep (at least SWEEP_AFTER), so its cost is spread over them.
   */
  private sweep(): void {
    let entries = 0;
    for (const brokers of this.byComponent) {
      for (const [broker, channels] of brokers ?? []) {
        for (const [channel, partitions] of channels) {
          for (const [partition, p] of partitions) {
            const lane = p.lane;
            if (lane !== undefined && lane.home?.get(lane.homeKey) !== lane) p.lane = undefined;
            if (p.keys?.size === 0) p.keys = undefined;
            if (p.lane === undefined && p.keys === undefined) partitions.delete(partition);
            else entries++;
          }
          if (partitions.size === 0) channels.delete(channel);
        }
        if (channels.size === 0) brokers!.delete(broker);
      }
    }
    this.forgotten = 0;
    this.entries = Math.max(SWEEP_AFTER, entries);
  }

  /** Every message still queued, lane by lane (for stop: they are handed back). */
  drainAll(): Pending[] {
    const out: Pending[] = [];
    const visit = (lane: Lane | undefined): void => {
      if (lane !== undefined) for (const p of lane.queue.drain()) out.push(p);
    };
    for (const lane of this.unordered) visit(lane);
    for (const lane of this.unorderedCaller) visit(lane);
    for (const brokers of this.byComponent) {
      for (const channels of brokers?.values() ?? []) {
        for (const partitions of channels.values()) {
          for (const p of partitions.values()) {
            visit(p.lane);
            for (const lane of p.keys?.values() ?? []) visit(lane);
          }
        }
      }
    }
    // lanes forgotten while busy, then refilled, are reachable only through ready
    for (const lane of this.ready) visit(lane);
    return out;
  }
}

export const NO_LANES: readonly Lane[] = [];

/** The fewest forgotten lanes that make the lane maps swept (see Lanes.sweep). */
const SWEEP_AFTER = 4096;

/** The exclusive lanes of `ok` (a batch whose outputs are being published), each held once (see Lane.held). */
export function holdLanes(ok: readonly Pending[]): Lane[] {
  const lanes: Lane[] = [];
  for (const p of ok) {
    const lane = p.lane;
    if (lane.exclusive && !lanes.includes(lane)) {
      lane.held++;
      lanes.push(lane);
    }
  }
  return lanes;
}

function getOrSet<K, V>(m: Map<K, Map<string, V>>, k: K): Map<string, V>;
function getOrSet<K, V>(m: Map<K, Map<number, V>>, k: K): Map<number, V>;
function getOrSet<K>(m: Map<K, Map<unknown, unknown>>, k: K): Map<unknown, unknown> {
  let v = m.get(k);
  if (v === undefined) m.set(k, (v = new Map()));
  return v;
}
