import { EventEmitter } from 'node:events';
import type { BrokerAdapter, BrokerRecord, Consumer } from '../brokers/adapter.js';
import { MemoryBroker } from '../brokers/memory.js';
import { connectAll, createBroker } from '../brokers/connect.js';
import { type CompiledComponent, loadComponent } from '../component/load.js';
import { ErrorCode, OptionError, WasmsgError } from '../errors.js';
import { brokerFormats, subscriptionsFromConfigure, warnDeadLettersDropped } from './configure.js';
import { type ChannelStats, type ConsumerLag, SubscriptionCounters, channelStats, readLag } from './counters.js';
import { Backpressure } from './backpressure.js';
import { Dispatcher, highWaterAt } from './dispatch.js';
import { type Arrival, Lanes, PROCESS_BROKER, type Pending, type ProcessOutcome } from './lanes.js';
import { type EngineOptionsInput, type ResolvedOptions, checkBrokers, resolveOptions } from './options.js';
import { type ProcessInput, type ProcessResult, processStream } from './process.js';
import type { EngineEvents } from './events.js';
import { SettleCount } from './settle-count.js';
import { Settler } from './settle.js';
import { type EngineHistograms, type EngineStats, StatsRecorder } from './stats.js';

export type { ProcessInput, ProcessResult } from './process.js';
export type { EngineEvents } from './events.js';

/**
 * The engine: the public object that owns the path every message travels (main thread;
 * docs/ARCHITECTURE.md). Its parts, each a file:
 *
 *   intake (here)        adapters' batches → Pending messages in ordering lanes
 *   backpressure.ts      messages held against the high-water marks: consumers paused, resumed
 *   lanes.ts             the lanes: partition | key | none, one batch in flight per exclusive lane
 *   dispatch.ts          ready lanes → batches packed into arena slots → the piscina pool
 *   settle.ts            results → publish outputs, then ack | retry | dead-letter
 *   process.ts           engine.process(): the engine as a pipeline stage
 *
 * Memory is bounded: at most `maxInFlightBatches` slots, and intake pauses (adapters' consumers
 * paused) when the engine holds `highWater` messages, resuming at half of it — and a component's
 * own consumers at its own mark (backpressure.ts).
 */

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Engine extends EventEmitter<EngineEvents> {
  readonly options: ResolvedOptions;
  private readonly adapters = new Map<string, BrokerAdapter>();
  private readonly ownedAdapters: BrokerAdapter[] = [];
  private components: CompiledComponent[] = [];
  /** Counters per subscription (and per component fed by process()), read by channelStats(). */
  private readonly subs: SubscriptionCounters[] = [];
  /** By component index, made on first use. */
  private readonly processSubs: Array<SubscriptionCounters | undefined> = [];
  /** Every consumer subscribed (start() returned): what /readyz reports, with the workers warm. */
  private subscribed = false;
  private readonly stats = new StatsRecorder(() => this.allSubs());
  private readonly lanes: Lanes;
  private readonly dispatcher: Dispatcher;
  private readonly settler: Settler;
  private state: State = 'new';
  /** Messages held, from intake until acked or handed back (queued, in flight, publishing). */
  private readonly backpressure: Backpressure;
  private readonly drainWaiters: Array<() => void> = [];
  /** Settles when start() has ended, either way (stop() waits for it). */
  private starting: Promise<void> | undefined;
  /** The one stop (see stop()). */
  private stopping: Promise<void> | undefined;
  private readonly settled = new SettleCount();

  constructor(options: EngineOptionsInput, brokers: readonly BrokerAdapter[] = []) {
    super();
    this.options = resolveOptions(options);
    checkBrokers(
      this.options,
      brokers.map((b) => b.name),
    );
    for (const b of brokers) this.adapters.set(b.name, b);
    if (!this.adapters.has('default') && !this.options.brokers.some((b) => b.name === 'default')) {
      const memory = new MemoryBroker({ name: 'default' });
      this.adapters.set('default', memory);
      this.ownedAdapters.push(memory);
    }
    this.lanes = new Lanes(this.options.ordering);
    const running = (): boolean => this.state === 'running';
    this.dispatcher = new Dispatcher(
      this.options,
      this.lanes,
      this.stats,
      running,
      (flight, res) => this.settler.complete(flight, res),
      (flight, err) => this.settler.crashed(flight, err),
    );
    this.backpressure = new Backpressure(this.dispatcher, running);
    this.settler = new Settler({
      options: this.options,
      stats: this.stats,
      lanes: this.lanes,
      dispatcher: this.dispatcher,
      running,
      broker: (name) => this.broker(name),
      componentName: (i) => this.components[i]?.name ?? String(i),
      batchWorld: (i) => this.components[i]?.family === 'c',
      released: (list) => this.backpressure.release(list),
      checkDrained: () => this.checkDrained(),
      settled: (list, outcome, records) => this.onSettled(list, outcome, records),
      deadLettered: (p) => {
        if (this.listenerCount('deadLettered') > 0) {
          const [record, error, attempts, broker] = [p.rec, p.lastError, p.attempts, p.broker];
          const component = this.components[p.component]?.name ?? String(p.component);
          this.emit('deadLettered', { record, error, attempts, component, broker });
        }
      },
    });
  }

  /** The broker adapter registered under `name` (the embedded one is `default`). */
  broker(name = 'default'): BrokerAdapter {
    const b = this.adapters.get(name);
    if (b === undefined) throw new OptionError(ErrorCode.badOption, `no broker named '${name}'`, { option: 'broker' });
    return b;
  }

  start(): Promise<void> {
    if (this.state !== 'new') {
      return Promise.reject(new WasmsgError(ErrorCode.engineState, `engine cannot start: it is ${this.state}`));
    }
    this.state = 'starting';
    // a start that failed leaves nothing running: stopped as stop() would (what consumers that
    // subscribed delivered drains or goes back; workers and brokers it opened are closed)
    const run = this.startUp().catch(async (err: unknown) => {
      await this.shutdown().catch(() => {}); // the start's own error is the one to report
      throw err;
    });
    this.starting = run.catch(() => {});
    return run;
  }

  private async startUp(): Promise<void> {
    const o = this.options;
    this.components = await Promise.all(
      o.components.map((c) =>
        loadComponent(c.path, {
          maxMemoryBytes: c.maxMemoryBytes,
          ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
          ...(c.name === undefined ? {} : { name: c.name }),
        }),
      ),
    );
    const brokerNames = [...new Set([...this.adapters.keys(), ...o.brokers.map((b) => b.name)])];
    await subscriptionsFromConfigure(o, this.components, brokerNames);
    for (const b of o.brokers) {
      const adapter = await createBroker(b);
      this.adapters.set(b.name, adapter);
      this.ownedAdapters.push(adapter);
    }
    await connectAll(this.adapters.values()); // (a failure once all have ended: see connectAll)
    warnDeadLettersDropped(o, this.adapters);
    const formats = brokerFormats(this.adapters);
    await this.dispatcher.start({
      components: this.components,
      hosts: o.components.map((c) => ({
        brokers: [...this.adapters.keys()],
        binding: c.binding,
        brokerFormats: formats,
        limits: { maxOutputs: c.maxOutputs, maxOutputBytes: c.maxOutputBytes },
        ...(c.grants === undefined ? {} : { grants: c.grants }),
      })),
    });
    this.stats.start();
    this.state = 'running';
    for (const [i, c] of o.components.entries()) {
      for (const s of c.subscriptions) {
        // A broker may deliver before subscribe() resolves (AMQP, MQTT hand out what is queued at
        // once): those batches wait here until the consumer they must be settled on is known.
        const ref: { sub?: SubscriptionCounters } = {};
        const early: Array<readonly BrokerRecord[]> = [];
        const consumer = await this.broker(s.broker).subscribe(
          { channel: s.channel, kind: s.kind, ...(s.group === undefined ? {} : { group: s.group }) },
          (records) => (ref.sub === undefined ? early.push(records) : this.intake(i, s.broker, ref.sub, records)),
        );
        const sub = new SubscriptionCounters(this.components[i]!.name, s.broker, s.channel, consumer);
        ref.sub = sub;
        this.subs.push(sub);
        this.backpressure.addConsumer(i, consumer);
        for (const records of early.splice(0)) this.intake(i, s.broker, sub, records);
      }
    }
    this.subscribed = true;
  }

  /** True while running with every consumer subscribed and every worker warm (what /readyz reports). */
  ready(): boolean {
    return this.state === 'running' && this.subscribed;
  }

  /** True while backpressure has the consumers paused (the engine holds its high-water mark). */
  isPaused(): boolean {
    return this.backpressure.paused();
  }

  /**
   * Graceful: stop intake, let in-flight batches finish and settle, give the rest back (nack),
   * close. Called while start() runs, it waits for start to end first (then there is all of it
   * to stop; a start that failed left nothing running). Every call returns the same stop: a
   * second caller resumes only once everything is stopped, not while the first one drains.
   */
  stop(): Promise<void> {
    if (this.state === 'new') {
      // never started: nothing to stop, and a start() after this one is refused
      this.state = 'stopped';
      this.settled.end();
    }
    return (this.stopping ??= this.stopOnce());
  }

  private async stopOnce(): Promise<void> {
    await this.starting;
    if (this.state === 'stopped') return; // (a start that failed is undone before `starting` resolves)
    return this.shutdown();
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping';
    for (const c of this.backpressure.consumers()) c.pause();
    this.settler.stop();
    await new Promise<void>((resolve) => {
      if (this.dispatcher.inFlight.size === 0 && this.settler.publishing === 0) resolve();
      else this.drainWaiters.push(resolve);
    });
    // Whatever is still queued was never handled: hand it back for redelivery.
    const queued = this.lanes.drainAll();
    for (const p of queued) p.consumer.settle(p.rec, 'nack');
    this.backpressure.release(queued);
    this.settler.stop();
    this.settled.end(); // nothing settles from here on
    // everything is closed even when one close fails (a broker that never connected); the
    // first failure is stop()'s
    let failure: unknown;
    const close = (p: Promise<void>): Promise<void> => p.catch((err: unknown) => void (failure ??= err));
    for (const c of this.backpressure.consumers()) await close(c.close());
    await close(this.dispatcher.destroy());
    for (const a of this.ownedAdapters) await close(a.close());
    this.state = 'stopped';
    if (failure !== undefined) throw failure;
  }

  /**
   * The engine as a pipeline stage: feeds `source` through component `component` (index in
   * options.components) and yields one result per input, in input order, with what the handler
   * published (not sent to any broker). Failures are retried as configured and yielded as
   * `failed` instead of being dead-lettered. Ordering follows `options.ordering`, with
   * `partition` read from each input (default 0).
   */
  process(source: AsyncIterable<ProcessInput> | Iterable<ProcessInput>, component = 0): AsyncGenerator<ProcessResult> {
    if (this.state !== 'running')
      throw new WasmsgError(ErrorCode.engineState, `engine.process needs a started engine (it is ${this.state})`);
    if (this.components[component] === undefined) {
      throw new OptionError(ErrorCode.badOption, `process: no component at index ${component}`, {
        option: 'component',
      });
    }
    return processStream(
      {
        highWater: () => this.dispatcher.highWaterOf(component),
        closed: () => this.backpressure.closed(component),
        waitForSpace: () => this.backpressure.waitForSpace(),
        enqueue: (c, rec, consumer, sink) => {
          if (this.state !== 'running') return consumer.settle(rec, 'nack'); // given back: the stream ends
          const sub = this.processCounters(c);
          sub.received++;
          this.enqueue(c, PROCESS_BROKER, consumer, sub, rec, { at: performance.now() }, sink);
          this.afterIntake(c, 1, rec.value.length, true);
        },
        onEnd: (listener) => this.settled.onEnd(listener),
      },
      source,
      component,
    );
  }

  /**
   * Resolves once `n` messages have settled since the engine started (acked after ok, or after
   * dead-lettering) — cheaper than counting 'settled' events, which allocate one per message.
   * Rejects (E_ENGINE_STATE) if the engine stops, or has stopped, with fewer settled; at once
   * (E_BAD_OPTION) if `n` is not a number ≥ 0.
   */
  waitForSettled(n: number): Promise<void> {
    return this.settled.waitFor(n);
  }

  /** Starts a new stats window: counters, latency histogram and rate clock from zero. */
  resetStats(): void {
    this.emit('statsReset');
    this.stats.reset();
    for (const s of this.allSubs()) s.reset();
  }

  /**
   * Counters per component, broker and subscribed channel (`engine.process()` inputs under
   * broker and channel `process`), added up now: nothing is kept per message for them.
   */
  channelStats(): ChannelStats[] {
    return channelStats(this.allSubs());
  }

  private allSubs(): SubscriptionCounters[] {
    return [...this.subs, ...this.processSubs.filter((s): s is SubscriptionCounters => s !== undefined)];
  }

  /**
   * Consumer lag per subscription whose broker reports it (Consumer.lag), each read bounded by
   * `timeoutMs` (undefined when it did not answer in time).
   */
  consumerLag(timeoutMs = 1000): Promise<ConsumerLag[]> {
    return readLag(this.subs, timeoutMs);
  }

  private processCounters(component: number): SubscriptionCounters {
    return (this.processSubs[component] ??= new SubscriptionCounters(
      this.components[component]!.name,
      'process',
      'process',
      undefined,
    ));
  }

  snapshot(): EngineStats {
    const b = this.backpressure;
    return this.stats.snapshot(this.dispatcher.inFlight.size, b.held, b.heldBytes);
  }

  /** The live latency and handler histograms of the current stats window (read them, do not record into them). */
  histograms(): EngineHistograms {
    return this.stats.histograms();
  }

  // ---- intake and backpressure ----
  private intake(component: number, broker: string, sub: SubscriptionCounters, records: readonly BrokerRecord[]): void {
    const consumer = sub.consumer!;
    if (this.state !== 'running') {
      for (const r of records) consumer.settle(r, 'nack');
      return;
    }
    const arrival: Arrival = { at: performance.now() }; // one clock read per adapter batch: its records arrived together
    let bytes = 0;
    for (let i = 0; i < records.length; i++) {
      const rec = records[i]!;
      bytes += rec.value.length;
      this.enqueue(component, broker, consumer, sub, rec, arrival, undefined);
    }
    sub.received += records.length;
    this.afterIntake(component, records.length, bytes);
  }

  private enqueue(
    component: number,
    broker: string,
    consumer: Consumer,
    sub: SubscriptionCounters,
    rec: BrokerRecord,
    arrival: Arrival,
    sink: ((o: ProcessOutcome) => void) | undefined,
  ): void {
    const lane = this.lanes.laneFor(component, broker, rec);
    const p: Pending =
      sink === undefined
        ? { rec, consumer, component, broker, lane, sub, attempts: 0, arrival, lastError: '' }
        : { rec, consumer, component, broker, lane, sub, attempts: 0, arrival, lastError: '', sink };
    lane.queue.push(p);
    if (lane.queue.length === 1) this.lanes.markReady(lane, arrival.at);
  }

  private afterIntake(component: number, n: number, bytes: number, caller = false): void {
    this.dispatcher.queued += n;
    this.backpressure.hold(component, n, bytes, caller);
    this.dispatcher.pump();
  }

  /** Messages held before intake pauses (Dispatcher.highWater: it follows the batch size). */
  get highWater(): number {
    return this.dispatcher.highWater();
  }

  /** The most `highWater` can be: the mark with full batches (a generator's lead per partition follows it). */
  get peakHighWater(): number {
    return highWaterAt(this.options, this.options.batch.maxMessages);
  }

  private onSettled(
    list: readonly Pending[],
    outcome: 'ok' | 'dead-lettered',
    records: readonly BrokerRecord[] | undefined,
  ): void {
    this.settled.add(list.length);
    if (this.listenerCount('settled') > 0) for (const p of list) this.emit('settled', { record: p.rec, outcome });
    // a message acked alone (process() inputs, dead letters) makes its records array only if asked
    if (this.listenerCount('settledBatch') > 0)
      this.emit('settledBatch', { records: records ?? list.map((p) => p.rec), outcome });
  }

  private checkDrained(): void {
    if (this.dispatcher.inFlight.size === 0 && this.settler.publishing === 0 && this.drainWaiters.length > 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }
}
