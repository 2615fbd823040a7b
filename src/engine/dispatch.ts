import { Piscina } from 'piscina';
import { slotBytesFor, writeRequest } from '../codec/batch.js';
import { HDR_PROGRESS, HDR_THREAD, PROGRESS_DONE, PROGRESS_WAITING } from '../codec/layout.js';
import type { PoolTask, PoolTaskResult, PoolWorkerData } from '../workers/protocol.js';
import { type Lane, type Lanes, type Pending, streamOf } from './lanes.js';
import type { ResolvedOptions } from './options.js';
import { destroyPool, startPool } from './pool.js';
import type { StatsRecorder } from './stats.js';

/**
 * Dispatch (main thread): ready lanes → batches → arena slots → the piscina pool.
 *
 * The arena is one SharedArrayBuffer of `maxInFlightBatches` slots; a batch in flight owns one
 * slot, so memory for batches is fixed by configuration. A batch is packed (msgpack) straight
 * into its slot and the task posted is two integers. While every worker has a batch, a batch
 * that is not full waits up to `lingerMs` for more messages.
 *
 * Keeping workers busy under `partition`/`key` ordering: an exclusive lane has one batch in
 * flight, so a batch that took every ready lane would leave the other workers idle until it
 * returned. A batch takes at most ⌈ready lanes ÷ idle workers⌉ lanes (⌈ready ÷ free slots⌉
 * when that is more), so the ready lanes spread over the workers that would otherwise wait, each
 * batch still up to its cap (`cap`). Spreading over every free slot instead (4 with 2
 * workers) split each burst of a fixed-rate producer into one small batch per partition: twice
 * the tasks, wake-ups and settlements the workers could use, on the main thread.
 */

export interface InFlight {
  readonly slot: number;
  readonly component: number;
  readonly messages: Pending[];
  /** The watchdog stopped its worker: the handler ran past `handlerTimeoutMs`. */
  timedOut: boolean;
  /** The progress word as the watchdog last saw it, and since when (see `watch`). */
  seen: number;
  since: number;
}

const NO_MESSAGES: Pending[] = [];
/** A component's batches hold at most this many messages until one of them has returned (its cost is unknown). */
const FIRST_BATCH = 32;
/**
 * Under `partition`/`key` ordering a batch is not cut below this (the default before batches were
 * cut): an ordered lane has one batch in flight and waits for its outputs' confirmation between
 * batches, so small batches would slow each lane.
 */
const ORDERED_FLOOR = 256;
/** Weight of a returned batch in a component's cost per message (a moving average over ≈ the last 4). */
const COST_WEIGHT = 0.25;

/** The messages held before intake pauses when a batch takes `cap`: twice what the slots carry (see Dispatcher.highWater). */
export function highWaterAt(options: Pick<ResolvedOptions, 'maxInFlightBatches'>, cap: number): number {
  return options.maxInFlightBatches * 2 * cap;
}

export class Dispatcher {
  readonly inFlight = new Set<InFlight>();
  private pool: Piscina | undefined;
  private arena!: SharedArrayBuffer;
  /** The arena as Int32 words, for the slot headers, and each slot as bytes: views made once, not per batch. */
  private words!: Int32Array;
  private slots: Buffer[] = [];
  private slotBytes = 0;
  private freeSlots: number[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Messages queued in lanes (not yet in a batch). */
  queued = 0;
  private uniqueLane = -1;
  /** Each component's worker µs a message (see `learn`), NaN until one of its batches returned. */
  private usPerMessage: number[] = [];
  /** World C components (a batch is one handler call): cut only to stay well within `handlerTimeoutMs`. */
  private perCall: boolean[] = [];
  /**
   * Each component's batch cap now (see `cap`), and the most any takes (FIRST_BATCH at least):
   * made at start and when a cost is learned, not on every pump, intake and settlement.
   */
  private caps: number[] = [];
  private largest = 0;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly lanes: Lanes,
    private readonly stats: StatsRecorder,
    /** Whether new batches may be sent (the engine is running). */
    private readonly running: () => boolean,
    private readonly onResult: (flight: InFlight, res: PoolTaskResult) => void,
    private readonly onCrash: (flight: InFlight, err: unknown) => void,
  ) {}

  /** Creates the arena and the pool, and waits until every worker holds warm instances. */
  async start(data: Omit<PoolWorkerData, 'arena' | 'slotBytes' | 'control' | 'workers'>): Promise<void> {
    const o = this.options;
    this.usPerMessage = data.components.map(() => NaN);
    this.perCall = data.components.map((c) => c.family === 'c');
    this.caps = data.components.map((_, c) => this.cap(c));
    this.updateLargest();
    this.slotBytes = slotBytesFor(o.batch.maxMessages, o.batch.maxBytes);
    this.arena = new SharedArrayBuffer(this.slotBytes * o.maxInFlightBatches);
    this.words = new Int32Array(this.arena);
    this.slots = Array.from({ length: o.maxInFlightBatches }, (_, i) =>
      Buffer.from(this.arena, i * this.slotBytes, this.slotBytes),
    );
    this.freeSlots = Array.from({ length: o.maxInFlightBatches }, (_, i) => i);
    const workerData: PoolWorkerData = {
      ...data,
      arena: this.arena,
      slotBytes: this.slotBytes,
      control: new SharedArrayBuffer(4),
      workers: o.workers,
    };
    this.pool = await startPool(
      o,
      workerData,
      data.components.map((c) => c.source),
      () => this.watchdog !== undefined,
    );
    const period = Math.min(1000, Math.max(5, Math.floor(o.handlerTimeoutMs / 4)));
    this.watchdog = setInterval(() => this.watch(), period);
    this.watchdog.unref();
  }

  async destroy(): Promise<void> {
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    const started = this.watchdog !== undefined;
    clearInterval(this.watchdog);
    if (this.pool !== undefined) await destroyPool(this.pool, this.options.workers, started);
  }

  /**
   * Sends batches while there are free slots and ready lanes, or arms the linger timer. Linger:
   * while every worker has a batch, a batch that would not be full waits up to `lingerMs` for
   * more messages (the workers are busy anyway); when it runs out, whatever is ready goes. A
   * worker without a batch is never kept waiting for one to fill.
   */
  pump(flush = false): void {
    const { lingerMs } = this.options.batch;
    while (this.freeSlots.length > 0 && this.lanes.ready.size > 0 && this.running()) {
      if (!flush && lingerMs > 0 && this.inFlight.size >= this.options.workers && this.queued < this.nextCap()) {
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = undefined;
          this.pump(true);
        }, lingerMs);
        return;
      }
      if (!this.dispatchOne()) return;
    }
  }

  /** Builds one batch from ready lanes and runs it; false when nothing could be sent. */
  private dispatchOne(): boolean {
    const ready = this.lanes.ready;
    if (this.freeSlots.length === 0 || ready.size === 0 || !this.running()) return false;
    const { maxBytes } = this.options.batch;
    const idle = this.options.workers - this.inFlight.size;
    const laneCap = Math.ceil(ready.size / Math.max(1, Math.min(this.freeSlots.length, idle)));
    let batch = NO_MESSAGES; // replaced at the first lane (a batch is sized for its component's cap)
    let maxMessages = 0;
    let count = 0;
    let bytes = 0;
    let component = -1;
    let lanes = 0;
    let head: Lane | undefined;
    let apart = false; // world C: the batch's lanes are all process() inputs, or all a broker's
    let stream: object | undefined; // world C: the one process() stream the batch's inputs are of
    for (const lane of ready) {
      if (component === -1) {
        head = lane;
        component = lane.component;
        apart = this.perCall[component]!;
        maxMessages = this.caps[component]!;
        // sized once for the most it can hold, then cut: grown by push, it was reallocated ≈ 6 times
        batch = new Array<Pending>(Math.min(maxMessages, this.queued));
      }
      if (lane.component !== component || (apart && lane.caller !== head!.caller)) continue;
      if (apart && count > 0 && lane.stream !== undefined && lane.stream !== stream) continue;
      const queue = lane.queue;
      const before = count;
      for (let next = queue.peek(); next !== undefined && count < maxMessages; next = queue.peek()) {
        if (count > 0 && bytes + next.rec.value.length > maxBytes) break;
        if (apart && head!.caller) {
          // (under `none` the streams share a lane: a run of one stream's inputs at a time)
          const of = streamOf(next.rec);
          if (count === 0) stream = of;
          else if (of !== stream) break;
        }
        batch[count++] = queue.shift()!;
        bytes += next.rec.value.length;
      }
      // full by bytes before this lane gave anything: it stays ready as it is (marked busy, an
      // ordered lane would wait for a batch that holds none of its messages: held for good)
      if (count === before && count > 0) break;
      if (lane.exclusive) lane.busy = true;
      if (lane.busy || queue.length === 0) ready.delete(lane);
      if (count >= maxMessages || bytes >= maxBytes || ++lanes >= laneCap) break;
    }
    // With several components, the lane this batch began with goes to the back if it has more:
    // the next batch begins with the next lane, so a lane that always has messages (a slow
    // component's backlog) does not keep another component's lanes waiting until it is empty.
    // Not with one: a batch takes at most laneCap lanes, and beginning each with a fresh lane
    // (often a short one) made noop batches 5 % smaller here.
    if (head !== undefined && this.caps.length > 1 && ready.delete(head)) ready.add(head);
    if (count === 0) return false;
    batch.length = count;
    this.queued -= count;
    this.send(component, batch);
    return true;
  }

  private send(component: number, batch: Pending[]): void {
    const slot = this.freeSlots.pop()!;
    this.stats.batches++;
    // no message started yet; the worker stores each index before calling (see crashed()).
    Atomics.store(this.words, this.header(slot, HDR_PROGRESS), PROGRESS_WAITING);
    const written = writeRequest(this.slots[slot]!, component, batch, (i) => {
      const lane = batch[i]!.lane;
      return lane.exclusive ? lane.id : this.uniqueLane--; // `none`: each message a lane of its own
    });
    const task: PoolTask =
      written.inline === undefined
        ? { slot, length: written.length }
        : { slot, length: written.length, inline: written.inline };
    const flight: InFlight = { slot, component, messages: batch, timedOut: false, seen: -1, since: 0 };
    this.inFlight.add(flight);
    this.pool!.run(task).then(
      (res: PoolTaskResult) => this.onResult(flight, res),
      (err: unknown) => this.onCrash(flight, err),
    );
  }

  /**
   * The most messages `component`'s next batch takes: `batch.maxMessages`, or fewer when its
   * handler is slow — about `batch.targetMs` of a worker's time at its recent cost per message,
   * at least 1 (at least ORDERED_FLOOR under `partition`/`key` ordering). Big batches spread a
   * batch's fixed cost (a task and its result crossing threads, waking a worker, settling) over
   * more messages; with a slow handler they would keep a worker busy long after the other ran
   * out of work, and hold each message's ack that long. A world C batch is one call: it is cut
   * only to a quarter of `handlerTimeoutMs`, so a slow but correct batch handler is not stopped.
   */
  private cap(component: number): number {
    const { maxMessages, targetMs } = this.options.batch;
    const perCall = this.perCall[component] === true;
    if (!perCall && targetMs === 0) return maxMessages;
    const us = this.usPerMessage[component]!;
    if (Number.isNaN(us)) return this.markFloor();
    const budgetUs = perCall ? this.perCallBudgetUs() : targetMs * 1000;
    const floor = perCall || this.options.ordering === 'none' ? 1 : ORDERED_FLOOR;
    return Math.min(maxMessages, Math.max(floor, Math.floor(budgetUs / us)));
  }

  /** Payload bytes the engine may hold before intake pauses: as many as the batches in flight can carry, twice. */
  get highWaterBytes(): number {
    return this.options.maxInFlightBatches * this.options.batch.maxBytes * 2;
  }

  /**
   * Messages the engine may hold (queued, in flight, publishing) before intake pauses: twice what
   * the slots carry at the most a batch takes now — fewer for a slow handler (see cap).
   */
  highWater(): number {
    return highWaterAt(this.options, this.caps.length === 0 ? this.options.batch.maxMessages : this.largest);
  }

  /** Messages of `component` held before the consumers feeding it pause: twice what the slots carry at its batch size now. */
  highWaterOf(component: number): number {
    if (this.caps.length === 0) return this.highWater(); // not started
    return highWaterAt(this.options, Math.max(this.markFloor(), this.caps[component]!));
  }

  /** The least batch size a high-water mark counts with: FIRST_BATCH (or maxMessages, when less). */
  private markFloor(): number {
    return Math.min(this.options.batch.maxMessages, FIRST_BATCH);
  }

  /** How many queued messages make the next batch full (for linger): the first ready lane's component's cap. */
  private nextCap(): number {
    for (const lane of this.lanes.ready) return this.caps[lane.component]!;
    return this.options.batch.maxMessages;
  }

  /**
   * A batch returned: its worker's time (decode, calls, encode) over the `called` messages that
   * reached the handler updates its component's cost per message.
   */
  learn(flight: InFlight, timing: readonly number[], called: number): void {
    if (called === 0) return;
    const us = (timing[0]! + timing[1]! + timing[2]!) / called;
    const c = flight.component;
    const was = this.usPerMessage[c]!;
    this.usPerMessage[c] = Number.isNaN(was) ? us : was + (us - was) * COST_WEIGHT;
    this.caps[c] = this.cap(c);
    this.updateLargest();
  }

  /**
   * A world C batch of several messages failed as a whole (its one call timed out, or its worker
   * died), which message is at fault unknown: the component's batches are cut to half of this
   * one (its cost taken as at least that), so that the next ones narrow it down to one message.
   */
  narrow(flight: InFlight): void {
    const c = flight.component;
    const half = Math.max(1, Math.floor(flight.messages.length / 2));
    const us = this.perCallBudgetUs() / half; // cap() gives `half` for it
    const was = this.usPerMessage[c]!;
    this.usPerMessage[c] = Number.isNaN(was) ? us : Math.max(was, us);
    this.caps[c] = this.cap(c);
    this.updateLargest();
  }

  /** A world C batch's budget: a quarter of handlerTimeoutMs, in µs (see cap). */
  private perCallBudgetUs(): number {
    return this.options.handlerTimeoutMs * 250;
  }

  private updateLargest(): void {
    this.largest = this.caps.reduce((most, cap) => Math.max(most, cap), this.markFloor());
  }

  /**
   * The handler timeout applies to each call, not to a batch: a watchdog reads each batch's
   * progress word (the index of the message its worker is calling, -1 while the batch waits for
   * a worker) a few times per timeout; a call that has not moved on for `handlerTimeoutMs` is
   * stopped: the watchdog terminates the thread the batch's header names (piscina rejects its
   * tasks and starts a replacement), and the call is settled as that message's failure; a batch
   * queued behind it on that worker had not started and goes back whole. A correct but slow
   * handler (200 ms a message, a full batch of 1024 with `batch.targetMs` 0) is never cut off.
   * Tasks carry no AbortSignal: piscina gives an abortable task a worker to itself (no next batch
   * waiting in its port), and an AbortController with its listeners cost more per batch than the
   * rest of a send.
   */
  private watch(): void {
    const limit = this.options.handlerTimeoutMs;
    const now = performance.now();
    for (const f of this.inFlight) {
      const at = this.progress(f);
      if (at !== f.seen) {
        f.seen = at;
        f.since = now;
      } else if (at !== PROGRESS_WAITING && at !== PROGRESS_DONE && now - f.since > limit && !f.timedOut) {
        const id = Atomics.load(this.words, this.header(f.slot, HDR_THREAD));
        const thread = this.pool?.threads.find((t) => t.threadId === id);
        if (thread !== undefined) {
          f.timedOut = true;
          void thread.terminate();
        }
      }
    }
  }

  private watchdog: NodeJS.Timeout | undefined;

  /** The batch settled or crashed: its slot is free again. */
  finish(flight: InFlight): void {
    this.inFlight.delete(flight);
    this.freeSlots.push(flight.slot);
  }

  /** The response bytes of a completed batch (in its slot, or inline). */
  response(flight: InFlight, res: PoolTaskResult): Uint8Array {
    return res.inline ?? new Uint8Array(this.arena, flight.slot * this.slotBytes + res.offset, res.length);
  }

  /** Index of the message the worker was calling when its batch was aborted (-1: none started). */
  progress(flight: InFlight): number {
    return Atomics.load(this.words, this.header(flight.slot, HDR_PROGRESS));
  }

  /** Index in `words` of a slot's header word. */
  private header(slot: number, word: number): number {
    return (slot * this.slotBytes) / 4 + word;
  }
}
