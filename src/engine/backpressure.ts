import type { Consumer } from '../brokers/adapter.js';
import type { Dispatcher } from './dispatch.js';
import type { Pending } from './lanes.js';

/**
 * Intake backpressure (main thread): the messages and payload bytes the engine holds, from
 * intake until acked or handed back (queued, in flight, publishing), against the high-water
 * marks; the adapters' consumers are paused at a mark and resumed at half of it.
 *
 * Two marks, each with its own hysteresis:
 * - the engine's: `Dispatcher.highWater()` messages (from the largest batch any component takes
 *   now) or `highWaterBytes` payload bytes, the consumers of every component holding messages
 *   paused (one holding none takes one more delivery, then pauses until it is settled);
 * - each component's: `Dispatcher.highWaterOf(component)` messages of that component (from the
 *   batch it takes now), only the consumers that feed it paused. A slow handler's batches are
 *   cut (dispatch.ts `cap`), so beside a fast component the engine's mark alone would let it
 *   hold up to `maxInFlightBatches × 2 × maxMessages` messages, each waiting its turn that long.
 *
 * With one component the two marks are the same number: one pause, as before.
 */
export class Backpressure {
  /** Messages held, and their payload bytes. */
  held = 0;
  heldBytes = 0;
  /** By component: messages held, the consumers feeding it, whether its own mark is reached, whether its consumers are paused. */
  private readonly heldBy: number[] = [];
  private readonly consumersBy: Consumer[][] = [];
  private readonly fullBy: boolean[] = [];
  private readonly pausedBy: boolean[] = [];
  /** By component: the messages of engine.process() among those held. */
  private readonly callerBy: number[] = [];
  /** The engine's mark is reached (every consumer paused). */
  private full = false;
  private readonly spaceWaiters: Array<() => void> = [];

  constructor(
    private readonly dispatcher: Dispatcher,
    /** Whether consumers may be resumed (the engine is running). */
    private readonly running: () => boolean,
  ) {}

  /** A consumer feeding `component`: paused at once if that component's intake is. */
  addConsumer(component: number, consumer: Consumer): void {
    this.ensure(component);
    this.consumersBy[component]!.push(consumer);
    if (this.pausedBy[component] === true) consumer.pause();
  }

  /** Every consumer, for pausing and closing on stop. */
  *consumers(): Iterable<Consumer> {
    for (const list of this.consumersBy) yield* list;
  }

  /** True while any consumer is paused by backpressure. */
  paused(): boolean {
    for (let c = 0; c < this.pausedBy.length; c++) if (this.pausedBy[c] && this.consumersBy[c]!.length > 0) return true;
    return false;
  }

  /** `n` messages of `component` with `bytes` of payload came in (`caller`: through engine.process()). */
  hold(component: number, n: number, bytes: number, caller = false): void {
    this.ensure(component);
    this.held += n;
    this.heldBytes += bytes;
    this.heldBy[component]! += n;
    if (caller) this.callerBy[component]! += n;
    this.apply(component);
  }

  /** `list` is no longer held (acked, dead-lettered or handed back to its broker). */
  release(list: readonly Pending[]): void {
    const n = list.length;
    let bytes = 0;
    let component = -1; // the one component of the list, -2 when mixed (stop, retries of several)
    for (let i = 0; i < n; i++) {
      const p = list[i]!;
      bytes += p.rec.value.length;
      this.heldBy[p.component]!--;
      if (p.sink !== undefined) this.callerBy[p.component]!--;
      component = component === -1 || component === p.component ? p.component : -2;
    }
    if (n === 0) return;
    this.held -= n;
    this.heldBytes -= bytes;
    this.apply(component);
  }

  /** Resolves when intake may have opened again (engine.process() waits here, then asks `closed`). */
  waitForSpace(): Promise<void> {
    return new Promise<void>((r) => this.spaceWaiters.push(r));
  }

  /**
   * Whether `component`'s intake is closed: the engine's mark or its own was reached, and it has
   * not come down to half since — what pauses its consumers. engine.process() feeds no more while
   * this holds: with the same hysteresis as the consumers (before, it fed again at the first
   * message released, held the component at its mark, and the consumers never resumed).
   */
  closed(component: number): boolean {
    const held = this.heldBy[component] ?? 0;
    if ((this.full && held > 0) || this.fullBy[component] === true) return true; // as `check` pauses
    // beside broker subscriptions, process() takes at most half the component's mark: filling it
    // at once whenever it opened, it kept the consumers paused for good
    const consumers = this.consumersBy[component]?.length ?? 0;
    return consumers > 0 && (this.callerBy[component] ?? 0) >= this.dispatcher.highWaterOf(component) / 2;
  }

  private apply(touched: number): void {
    const d = this.dispatcher;
    const mark = d.highWater();
    const markBytes = d.highWaterBytes;
    const over = this.held >= mark || this.heldBytes >= markBytes;
    const was = this.full;
    if (over) this.full = true;
    else if (this.held <= mark / 2 && this.heldBytes <= markBytes / 2) this.full = false;
    if (was !== this.full || touched === -2) {
      for (let c = 0; c < this.heldBy.length; c++) this.check(c);
    } else if (touched >= 0) this.check(touched);
    // each waiter asks again whether its component's intake opened
    if (this.spaceWaiters.length > 0) for (const w of this.spaceWaiters.splice(0)) w();
  }

  /** Component c's own mark, then its consumers paused or resumed to match. */
  private check(c: number): void {
    const mark = this.dispatcher.highWaterOf(c);
    const held = this.heldBy[c]!;
    if (held >= mark) this.fullBy[c] = true;
    else if (held <= mark / 2) this.fullBy[c] = false;
    // at the engine's mark, a component holding nothing keeps its consumers: a slow one's backlog
    // (its big payloads past the byte mark) paused a fast, idle one for as long as it lasted;
    // once it holds a delivery it pauses too, until that is settled
    const pause = (this.full && held > 0) || this.fullBy[c]!;
    if (pause && !this.pausedBy[c]) {
      this.pausedBy[c] = true;
      for (const consumer of this.consumersBy[c]!) consumer.pause();
    } else if (!pause && this.pausedBy[c] === true && this.running()) {
      this.pausedBy[c] = false;
      for (const consumer of this.consumersBy[c]!) consumer.resume();
    }
  }

  private ensure(component: number): void {
    while (this.heldBy.length <= component) {
      this.heldBy.push(0);
      this.consumersBy.push([]);
      this.fullBy.push(false);
      this.pausedBy.push(false);
      this.callerBy.push(0);
    }
  }
}
