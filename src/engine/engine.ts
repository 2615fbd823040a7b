import { EventEmitter } from 'node:events';
import { Piscina } from 'piscina';
import type { BrokerAdapter, BrokerRecord, Consumer, OutRecord } from '../brokers/adapter.js';
import { MemoryBroker } from '../brokers/memory.js';
import { SCHEMES, createBroker, schemeOf } from '../brokers/connect.js';
import { type ResultTuple, type MessageTuple, outboxFromTuples, readResponse, writeRequest } from '../codec/batch.js';
import { HDR_PROGRESS, HEADER_BYTES, Status } from '../codec/layout.js';
import { type CompiledComponent, loadComponent } from '../component/load.js';
import { compileGrants } from '../component/grants.js';
import { formatOfScheme } from '../component/host-c.js';
import { ComponentInstance } from '../component/instance.js';
import type { FormatSpec, MessagingError, OutboxEntry } from '../component/types.js';
import { ErrorCode, OptionError, WasmsgError, describe } from '../errors.js';
import type { PoolTask, PoolTaskResult, PoolWorkerData, WarmUpTask } from '../workers/pool-worker.js';
import { type EngineOptionsInput, type ResolvedOptions, resolveOptions } from './options.js';
import { type EngineStats, StatsRecorder } from './stats.js';

/**
 * The engine: one object owns the path every message travels (docs/ARCHITECTURE.md).
 * Adapters deliver batches → messages queue in ordering lanes → batches are written into arena
 * slots and run on the piscina pool → results settle: ok → outputs published and confirmed →
 * ack; err/trap → retry with backoff, then dead-letter, then ack.
 *
 * Ordering invariant: a lane (partition, or partition+key) has at most one batch in flight, and
 * a failed message goes back to the front of its lane (the worker skips the lane's later
 * messages in that batch), so a lane's messages are handled in broker order. Mode `none` has
 * no lanes. Memory is bounded: at most `maxInFlightBatches` slots, and intake pauses when the
 * engine holds `highWater` messages.
 */

interface Pending {
  readonly rec: BrokerRecord;
  readonly consumer: Consumer;
  readonly component: number;
  readonly broker: string;
  readonly lane: Lane;
  attempts: number;
  readonly receivedAt: number;
  lastError: string;
  /** Set for messages fed through `process()`: outputs and the outcome go to the caller, not to brokers. */
  readonly sink?: (outcome: ProcessResult) => void;
}

/** What `engine.process()` yields per input, in input order. */
export type ProcessResult =
  | { readonly status: 'ok'; readonly input: ProcessInput; readonly outputs: OutboxEntry[] }
  | { readonly status: 'failed'; readonly input: ProcessInput; readonly error: string; readonly attempts: number };

/** One input of `engine.process()`. */
export interface ProcessInput {
  readonly value: Uint8Array;
  readonly key?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly channel?: string;
  readonly partition?: number;
  readonly timestamp?: number;
}

interface Lane {
  readonly id: number;
  readonly key: string;
  readonly component: number;
  readonly exclusive: boolean;
  readonly queue: Pending[];
  busy: boolean;
  blockedUntil: number;
}

interface InFlight {
  readonly slot: number;
  readonly messages: Pending[];
  readonly controller: AbortController;
  readonly timer: NodeJS.Timeout;
}

export type EngineEvents = {
  /** Every message settled (acked after ok, or acked after dead-lettering). */
  settled: [{ record: BrokerRecord; outcome: 'ok' | 'dead-lettered' }];
  deadLettered: [{ record: BrokerRecord; error: string; attempts: number }];
  error: [Error];
};

const SLOT_OVERHEAD = 64 * 1024;

export class Engine extends EventEmitter<EngineEvents> {
  readonly options: ResolvedOptions;
  private readonly adapters = new Map<string, BrokerAdapter>();
  private readonly ownedAdapters: BrokerAdapter[] = [];
  private components: CompiledComponent[] = [];
  private pool: Piscina | undefined;
  private arena!: SharedArrayBuffer;
  private slotBytes = 0;
  private freeSlots: number[] = [];
  private readonly consumers: Consumer[] = [];
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new Set<Lane>();
  private readonly inFlight = new Set<InFlight>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly stats = new StatsRecorder();
  private nextLaneId = 1;
  private uniqueLane = -1;
  private buffered = 0;
  private queued = 0;
  private publishing = 0;
  private paused = false;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private lingerTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private readonly highWater: number;

  constructor(options: EngineOptionsInput, brokers: readonly BrokerAdapter[] = []) {
    super();
    this.options = resolveOptions(options);
    for (const b of brokers) {
      if (this.adapters.has(b.name)) {
        throw new OptionError(ErrorCode.badOption, `brokers: two brokers are named '${b.name}'`, { option: 'brokers' });
      }
      this.adapters.set(b.name, b);
    }
    const fromUrls = new Set<string>();
    for (const [i, b] of this.options.brokers.entries()) {
      if (this.adapters.has(b.name) || fromUrls.has(b.name)) {
        throw new OptionError(ErrorCode.badOption, `options.brokers[${i}].name: two brokers are named '${b.name}'`, {
          option: `brokers[${i}].name`,
        });
      }
      if (!SCHEMES.includes(schemeOf(b.url) as (typeof SCHEMES)[number])) {
        throw new OptionError(
          ErrorCode.badOption,
          `options.brokers[${i}].url: unsupported scheme in '${b.url}' (schemes: ${SCHEMES.join(', ')})`,
          {
            option: `brokers[${i}].url`,
          },
        );
      }
      fromUrls.add(b.name);
    }
    if (!this.adapters.has('default') && !fromUrls.has('default')) {
      const memory = new MemoryBroker({ name: 'default' });
      this.adapters.set('default', memory);
      this.ownedAdapters.push(memory);
    }
    const known = new Set([...this.adapters.keys(), ...fromUrls]);
    this.options.components.forEach((c, i) => {
      for (const [j, s] of c.subscriptions.entries()) {
        if (!known.has(s.broker)) {
          throw new OptionError(
            ErrorCode.badOption,
            `options.components[${i}].subscriptions[${j}].broker: no broker named '${s.broker}' (known: ${[...known].join(', ')})`,
            { option: `components[${i}].subscriptions[${j}].broker` },
          );
        }
      }
    });
    const dlq = this.options.deadLetter.broker;
    if (dlq !== undefined && !known.has(dlq)) {
      throw new OptionError(ErrorCode.badOption, `options.deadLetter.broker: no broker named '${dlq}'`, {
        option: 'deadLetter.broker',
      });
    }
    this.highWater = this.options.maxInFlightBatches * this.options.batch.maxMessages * 2;
  }

  /** The broker adapter registered under `name` (the embedded one is `default`). */
  broker(name = 'default'): BrokerAdapter {
    const b = this.adapters.get(name);
    if (b === undefined) throw new OptionError(ErrorCode.badOption, `no broker named '${name}'`, { option: 'broker' });
    return b;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new WasmsgError(ErrorCode.engineState, `engine cannot start: it is ${this.state}`);
    this.state = 'starting';
    const o = this.options;
    this.components = await Promise.all(
      o.components.map((c) =>
        loadComponent(c.path, {
          ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
          ...(c.name === undefined ? {} : { name: c.name }),
        }),
      ),
    );
    await this.subscriptionsFromConfigure();
    for (const b of o.brokers) {
      const adapter = await createBroker(b);
      this.adapters.set(b.name, adapter);
      this.ownedAdapters.push(adapter);
    }
    try {
      await Promise.all([...this.adapters.values()].map((a) => a.connect()));
    } catch (err) {
      for (const a of this.ownedAdapters) await a.close().catch(() => {});
      this.state = 'stopped';
      throw err;
    }
    this.slotBytes = Math.ceil((o.batch.maxBytes * 2 + SLOT_OVERHEAD) / 8) * 8;
    this.arena = new SharedArrayBuffer(this.slotBytes * o.maxInFlightBatches);
    this.freeSlots = Array.from({ length: o.maxInFlightBatches }, (_, i) => i);
    const brokers = [...this.adapters.keys()];
    const brokerFormats = this.brokerFormats();
    const workerData: PoolWorkerData = {
      components: this.components,
      hosts: o.components.map((c) => ({
        brokers,
        binding: c.binding,
        brokerFormats,
        ...(c.grants === undefined ? {} : { grants: c.grants }),
      })),
      arena: this.arena,
      slotBytes: this.slotBytes,
      control: new SharedArrayBuffer(4),
      workers: o.workers,
    };
    this.pool = new Piscina({
      filename: new URL('../workers/pool-worker.js', import.meta.url).href,
      minThreads: o.workers,
      maxThreads: o.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      workerData,
    });
    const warmUp: WarmUpTask = { warmUp: true };
    try {
      await Promise.all(Array.from({ length: o.workers }, () => this.pool!.run(warmUp)));
    } catch (err) {
      await this.pool.destroy();
      this.state = 'stopped';
      throw err instanceof WasmsgError
        ? err
        : new WasmsgError(ErrorCode.instantiate, `engine workers failed to start: ${describe(err)}`);
    }
    this.stats.start();
    this.state = 'running';
    for (const [i, c] of o.components.entries()) {
      for (const s of c.subscriptions) {
        // A broker may deliver before subscribe() resolves (AMQP, MQTT hand out what is queued at
        // once): those batches wait here until the consumer they must be settled on is known.
        const ref: { consumer?: Consumer } = {};
        const early: Array<readonly BrokerRecord[]> = [];
        const consumer = await this.broker(s.broker).subscribe(
          { channel: s.channel, kind: s.kind, ...(s.group === undefined ? {} : { group: s.group }) },
          (records) =>
            ref.consumer === undefined ? early.push(records) : this.intake(i, s.broker, ref.consumer, records),
        );
        ref.consumer = consumer;
        this.consumers.push(consumer);
        if (this.paused) consumer.pause();
        for (const records of early.splice(0)) this.intake(i, s.broker, consumer, records);
      }
    }
  }

  /** World C: the `format` of a message without CloudEvents attributes, per broker (`raw` for the others). */
  private brokerFormats(): Record<string, FormatSpec> {
    const formats: Record<string, FormatSpec> = {};
    for (const b of this.options.brokers) formats[b.name] = formatOfScheme(schemeOf(b.url));
    return formats;
  }

  /**
   * A world C component configured without subscriptions subscribes to the channels its
   * `configure()` returns (on broker `default`, kind `queue`): one instance is built here, in the
   * main thread, to ask it. Components of worlds A and B must name their subscriptions.
   */
  private async subscriptionsFromConfigure(): Promise<void> {
    for (const [i, c] of this.options.components.entries()) {
      if (c.subscriptions.length > 0) continue;
      const component = this.components[i]!;
      const option = `components[${i}].subscriptions`;
      if (component.family !== 'c') {
        throw new OptionError(
          ErrorCode.badOption,
          `options.${option}: ${component.name} (${component.world}) needs subscriptions; only a world C component takes them from configure()`,
          { option },
        );
      }
      const brokers = [...new Set([...this.adapters.keys(), ...this.options.brokers.map((b) => b.name)])];
      const instance = await ComponentInstance.create(component, {
        brokers,
        ...(c.grants === undefined ? {} : { grants: c.grants }),
      });
      const channels = [...new Set(instance.configuration?.channels ?? [])];
      if (channels.length === 0) {
        throw new OptionError(
          ErrorCode.badOption,
          `options.${option}: ${component.name}'s configure() names no channels; name its subscriptions in the options`,
          { option },
        );
      }
      const grants = compileGrants(c.grants);
      for (const channel of channels) {
        const denied = grants.subscribe('default', channel);
        if (denied !== null) {
          throw new OptionError(
            ErrorCode.badOption,
            `options.${option}: ${component.name}'s configure() asks for channel '${channel}', which its grants do not allow`,
            { option, channel },
          );
        }
      }
      c.subscriptions.push(...channels.map((channel) => ({ broker: 'default', channel, kind: 'queue' as const })));
    }
  }

  /** Graceful: stop intake, let in-flight batches finish and settle, give the rest back (nack), close. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    for (const c of this.consumers) c.pause();
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    await new Promise<void>((resolve) => {
      if (this.inFlight.size === 0 && this.publishing === 0) resolve();
      else this.drainWaiters.push(resolve);
    });
    // Whatever is still queued was never handled: hand it back for redelivery.
    for (const lane of this.lanes.values()) for (const p of lane.queue.splice(0)) p.consumer.settle(p.rec, 'nack');
    this.retryPending.forEach((p) => p.consumer.settle(p.rec, 'nack'));
    this.retryPending.clear();
    for (const c of this.consumers) await c.close();
    await this.pool?.destroy();
    for (const a of this.ownedAdapters) await a.close();
    this.state = 'stopped';
  }

  /**
   * The engine as a pipeline stage: feeds `source` through component `component` (index in
   * options.components) and yields one result per input, in input order, with what the handler
   * published (not sent to any broker). Failures are retried as configured and yielded as
   * `failed` instead of being dead-lettered. Backpressure: the source is not pulled while the
   * engine holds its high-water mark of messages. Ordering follows `options.ordering`, with
   * `partition` read from each input (default 0).
   */
  async *process(
    source: AsyncIterable<ProcessInput> | Iterable<ProcessInput>,
    component = 0,
  ): AsyncGenerator<ProcessResult> {
    if (this.state !== 'running')
      throw new WasmsgError(ErrorCode.engineState, `engine.process needs a started engine (it is ${this.state})`);
    if (this.components[component] === undefined) {
      throw new OptionError(ErrorCode.badOption, `process: no component at index ${component}`, {
        option: 'component',
      });
    }
    const consumer: Consumer = { pause() {}, resume() {}, settle() {}, close: async () => {} };
    const results: Array<Promise<ProcessResult>> = [];
    let sourceDone = false;
    let sourceError: unknown;
    let wakeReader: (() => void) | undefined;
    let wakeFeeder: (() => void) | undefined;
    let next = 0;
    let seq = 0;
    const feed = (async () => {
      try {
        for await (const input of source) {
          // bounded by the engine's high-water mark and by results the caller has not read yet
          while (this.buffered >= this.highWater) await new Promise<void>((r) => this.spaceWaiters.push(r));
          while (results.length - next >= this.highWater) await new Promise<void>((r) => (wakeFeeder = r));
          let resolve!: (r: ProcessResult) => void;
          results.push(new Promise<ProcessResult>((r) => (resolve = r)));
          const rec = {
            channel: input.channel ?? 'process',
            partition: input.partition ?? 0,
            offset: String(seq++),
            key: input.key ?? null,
            headers: input.headers ?? {},
            value: input.value,
            timestamp: input.timestamp ?? Date.now(),
          };
          this.enqueue(component, 'process', consumer, rec, (r) => resolve({ ...r, input } as ProcessResult));
          this.afterIntake(1);
          wakeReader?.();
        }
      } catch (err) {
        sourceError = err;
      } finally {
        sourceDone = true;
        wakeReader?.();
      }
    })();
    for (;;) {
      if (next < results.length) {
        const r = await results[next]!;
        results[next++] = undefined as unknown as Promise<ProcessResult>;
        wakeFeeder?.();
        wakeFeeder = undefined;
        yield r;
        continue;
      }
      if (sourceDone) break;
      await new Promise<void>((r) => (wakeReader = r));
      wakeReader = undefined;
    }
    await feed;
    if (sourceError !== undefined) throw sourceError;
  }

  /**
   * Resolves once `n` messages have settled since the engine started (acked after ok, or after
   * dead-lettering) — cheaper than counting 'settled' events, which allocate one per message.
   */
  waitForSettled(n: number): Promise<void> {
    if (this.settledTotal >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.settleWaiters.push({ n, resolve });
      this.settleWaiters.sort((a, b) => a.n - b.n);
      this.nextSettleTarget = this.settleWaiters[0]!.n;
    });
  }

  /** Starts a new stats window: counters, latency histogram and rate clock from zero. */
  resetStats(): void {
    this.stats.reset();
  }

  snapshot(): EngineStats {
    return this.stats.snapshot(this.inFlight.size, this.buffered);
  }

  // ---- intake and lanes ----

  private intake(component: number, broker: string, consumer: Consumer, records: readonly BrokerRecord[]): void {
    if (this.state !== 'running') {
      for (const r of records) consumer.settle(r, 'nack');
      return;
    }
    for (const rec of records) this.enqueue(component, broker, consumer, rec, undefined);
    this.afterIntake(records.length);
  }

  private enqueue(
    component: number,
    broker: string,
    consumer: Consumer,
    rec: BrokerRecord,
    sink: ((r: ProcessResult) => void) | undefined,
  ): void {
    const lane = this.laneFor(component, broker, rec);
    const p: Pending = {
      rec,
      consumer,
      component,
      broker,
      lane,
      attempts: 0,
      receivedAt: performance.now(),
      lastError: '',
      ...(sink === undefined ? {} : { sink }),
    };
    lane.queue.push(p);
    this.markReady(lane);
  }

  private afterIntake(n: number): void {
    this.stats.received += n;
    this.buffered += n;
    this.queued += n;
    this.applyBackpressure();
    this.pump();
  }

  private laneFor(component: number, broker: string, rec: BrokerRecord): Lane {
    const mode = this.options.ordering;
    const key =
      mode === 'none'
        ? `${component}`
        : mode === 'key' && rec.key !== null
          ? `${component}\u0000${broker}\u0000${rec.channel}\u0000${rec.partition}\u0000${rec.key}`
          : `${component}\u0000${broker}\u0000${rec.channel}\u0000${rec.partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = {
        id: this.nextLaneId++,
        key,
        component,
        exclusive: mode !== 'none',
        queue: [],
        busy: false,
        blockedUntil: 0,
      };
      this.lanes.set(key, lane);
    }
    return lane;
  }

  private markReady(lane: Lane): void {
    if (lane.queue.length > 0 && !lane.busy && lane.blockedUntil <= performance.now()) this.ready.add(lane);
  }

  private releaseLane(lane: Lane): void {
    lane.busy = false;
    if (lane.queue.length === 0) {
      this.ready.delete(lane);
      if (lane.exclusive) this.lanes.delete(lane.key); // key mode makes many lanes: keep only live ones
    } else this.markReady(lane);
  }

  private readonly spaceWaiters: Array<() => void> = [];

  private applyBackpressure(): void {
    if (this.spaceWaiters.length > 0 && this.buffered < this.highWater)
      for (const w of this.spaceWaiters.splice(0)) w();
    if (!this.paused && this.buffered >= this.highWater) {
      this.paused = true;
      for (const c of this.consumers) c.pause();
    } else if (this.paused && this.buffered <= this.highWater / 2 && this.state === 'running') {
      this.paused = false;
      for (const c of this.consumers) c.resume();
    }
  }

  // ---- dispatch ----

  private pump(): void {
    if (this.state !== 'running' && this.state !== 'stopping') return;
    const { maxMessages, lingerMs } = this.options.batch;
    while (this.freeSlots.length > 0 && this.ready.size > 0 && this.state === 'running') {
      // Linger: while batches are in flight, wait up to lingerMs for a full batch.
      if (this.queued < maxMessages && this.inFlight.size > 0 && lingerMs > 0) {
        if (this.lingerTimer === undefined) {
          this.lingerTimer = setTimeout(() => {
            this.lingerTimer = undefined;
            this.dispatchOne();
            this.pump();
          }, lingerMs);
        }
        return;
      }
      if (!this.dispatchOne()) return;
    }
  }

  /** Builds one batch from ready lanes and runs it; false when nothing could be sent. */
  private dispatchOne(): boolean {
    if (this.freeSlots.length === 0 || this.ready.size === 0) return false;
    const { maxMessages, maxBytes } = this.options.batch;
    const batch: Pending[] = [];
    let bytes = 0;
    let component = -1;
    for (const lane of this.ready) {
      if (component === -1) component = lane.component;
      if (lane.component !== component) continue;
      while (lane.queue.length > 0 && batch.length < maxMessages) {
        const next = lane.queue[0]!;
        if (batch.length > 0 && bytes + next.rec.value.length > maxBytes) break;
        batch.push(lane.queue.shift()!);
        bytes += next.rec.value.length;
      }
      if (lane.exclusive) lane.busy = true;
      if (lane.busy || lane.queue.length === 0) this.ready.delete(lane);
      if (batch.length >= maxMessages || bytes >= maxBytes) break;
    }
    if (batch.length === 0) return false;
    this.queued -= batch.length;
    this.send(component, batch);
    return true;
  }

  private send(component: number, batch: Pending[]): void {
    const slot = this.freeSlots.pop()!;
    this.stats.batches++;
    const view = new Uint8Array(this.arena, slot * this.slotBytes, this.slotBytes);
    const messages: MessageTuple[] = batch.map((p) => [
      p.rec.value,
      p.rec.channel,
      p.rec.partition,
      p.rec.offset,
      p.rec.key,
      p.rec.headers as Record<string, string>,
      p.rec.timestamp,
      p.lane.exclusive ? p.lane.id : this.uniqueLane--,
      p.broker,
    ]);
    // -1 = no message started yet; the worker stores each index before calling (see crashed()).
    Atomics.store(new Int32Array(this.arena, slot * this.slotBytes, HEADER_BYTES / 4), HDR_PROGRESS, -1);
    const written = writeRequest(view, { component, messages });
    const task: PoolTask =
      written.inline === undefined
        ? { slot, length: written.length }
        : { slot, length: written.length, inline: written.inline };
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.handlerTimeoutMs + batch.length);
    const flight: InFlight = { slot, messages: batch, controller, timer };
    this.inFlight.add(flight);
    this.pool!.run(task, { signal: controller.signal }).then(
      (res: PoolTaskResult) => this.complete(flight, res),
      (err: unknown) => this.crashed(flight, err),
    );
  }

  // ---- settlement ----

  private finishFlight(flight: InFlight): void {
    clearTimeout(flight.timer);
    this.inFlight.delete(flight);
    this.freeSlots.push(flight.slot);
  }

  private complete(flight: InFlight, res: PoolTaskResult): void {
    const bytes = res.inline ?? new Uint8Array(this.arena, flight.slot * this.slotBytes + res.offset, res.length);
    const results: ResultTuple[] = readResponse(bytes);
    this.finishFlight(flight);
    this.stats.recordWorker(res.timing, flight.messages.length);
    const ok: Pending[] = [];
    const outputs = new Map<string, OutRecord[]>();
    const back = new Map<Lane, Pending[]>();
    flight.messages.forEach((p, i) => {
      const [status, error, outbox] = results[i]!;
      if (status === Status.ok) {
        this.stats.processed++;
        if (p.sink !== undefined) {
          const outputs = outboxFromTuples(outbox);
          p.sink({ status: 'ok', input: p.rec as unknown as ProcessInput, outputs });
          this.ack(p, 'ok');
          return;
        }
        ok.push(p);
        for (const o of outboxFromTuples(outbox)) {
          let list = outputs.get(o.broker);
          if (list === undefined) outputs.set(o.broker, (list = []));
          list.push({ kind: o.kind, channel: o.channel, headers: o.headers, value: o.data });
        }
      } else if (status === Status.skipped) {
        pushBack(back, p);
      } else {
        this.stats.failed++;
        p.attempts++;
        p.lastError = status === Status.error ? formatError(error as MessagingError) : `trap: ${String(error)}`;
        if (p.attempts >= this.options.retries.maxAttempts) this.deadLetter(p);
        else pushBack(back, p);
      }
    });
    this.requeue(back);
    for (const m of flight.messages) if (m.lane.busy && !back.has(m.lane)) this.releaseLane(m.lane);
    if (ok.length > 0) this.publishThenAck(ok, outputs);
    this.pump();
    this.checkDrained();
  }

  /** The worker died or the batch timed out: find the culprit from the progress word, retry the rest. */
  private crashed(flight: InFlight, err: unknown): void {
    const timedOut = flight.controller.signal.aborted;
    const at = Atomics.load(new Int32Array(this.arena), (flight.slot * this.slotBytes) / 4 + HDR_PROGRESS);
    this.finishFlight(flight);
    const back = new Map<Lane, Pending[]>();
    flight.messages.forEach((p, i) => {
      if (i === at) {
        this.stats.failed++;
        p.attempts++;
        p.lastError = timedOut
          ? `timeout: handler ran longer than ${this.options.handlerTimeoutMs} ms`
          : `worker crashed: ${describe(err)}`;
        if (p.attempts >= this.options.retries.maxAttempts) {
          this.deadLetter(p);
          return;
        }
      }
      pushBack(back, p);
    });
    this.requeue(back);
    for (const m of flight.messages) if (m.lane.busy && !back.has(m.lane)) this.releaseLane(m.lane);
    this.pump();
    this.checkDrained();
  }

  private readonly retryPending = new Set<Pending>();

  /** Failed (and skipped) messages go back to the front of their lanes, in order, after a backoff. */
  private requeue(back: Map<Lane, Pending[]>): void {
    const r = this.options.retries;
    for (const [lane, list] of back) {
      const attempts = Math.max(...list.map((p) => p.attempts));
      const delay = attempts === 0 ? 0 : Math.min(r.maxBackoffMs, r.backoffMs * 2 ** (attempts - 1));
      if (attempts > 0) this.stats.retried += list.filter((p) => p.attempts > 0).length;
      if (lane.exclusive) {
        lane.queue.unshift(...list);
        this.queued += list.length;
        lane.blockedUntil = performance.now() + delay;
        lane.busy = false;
        if (delay > 0) {
          this.ready.delete(lane);
          const t = setTimeout(() => {
            this.retryTimers.delete(t);
            lane.blockedUntil = 0; // timers may fire a little before performance.now() says they are due
            this.markReady(lane);
            this.pump();
          }, delay);
          this.retryTimers.add(t);
        } else this.markReady(lane);
      } else {
        for (const p of list) this.retryPending.add(p);
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          for (const p of list) this.retryPending.delete(p);
          if (this.state !== 'running') {
            for (const p of list) p.consumer.settle(p.rec, 'nack');
            return;
          }
          lane.queue.unshift(...list);
          this.queued += list.length;
          this.markReady(lane);
          this.pump();
        }, delay);
        this.retryTimers.add(t);
      }
    }
  }

  private publishThenAck(ok: Pending[], outputs: Map<string, OutRecord[]>): void {
    const count = [...outputs.values()].reduce((n, l) => n + l.length, 0);
    if (count === 0) {
      for (const p of ok) this.ack(p, 'ok');
      return;
    }
    this.publishing++;
    Promise.all([...outputs].map(([broker, records]) => this.broker(broker).publish(records))).then(
      () => {
        this.publishing--;
        this.stats.published += count;
        for (const p of ok) this.ack(p, 'ok');
        this.checkDrained();
      },
      (err: unknown) => {
        // Outputs not confirmed: the inputs are not acked; they go back for redelivery.
        this.publishing--;
        this.emit('error', new WasmsgError(ErrorCode.publishFailed, `publish failed: ${describe(err)}`));
        for (const p of ok) {
          p.consumer.settle(p.rec, 'nack');
          this.buffered--;
        }
        this.applyBackpressure();
        this.checkDrained();
      },
    );
  }

  private deadLetter(p: Pending): void {
    if (p.sink !== undefined) {
      this.stats.deadLettered++;
      p.sink({ status: 'failed', input: p.rec as unknown as ProcessInput, error: p.lastError, attempts: p.attempts });
      this.ack(p, 'dead-lettered');
      return;
    }
    const broker = this.options.deadLetter.broker ?? p.broker;
    const headers: Record<string, string> = {
      ...p.rec.headers,
      'x-wasmsg-error': p.lastError,
      'x-wasmsg-attempts': String(p.attempts),
      'x-wasmsg-source': `${p.broker}/${p.rec.channel}/${p.rec.partition}/${p.rec.offset}`,
      'x-wasmsg-component': this.components[p.component]?.name ?? String(p.component),
    };
    this.publishing++;
    this.broker(broker)
      .publish([
        { kind: 'queue', channel: this.options.deadLetter.channel, key: p.rec.key, headers, value: p.rec.value },
      ])
      .then(
        () => {
          this.publishing--;
          this.stats.deadLettered++;
          this.emit('deadLettered', { record: p.rec, error: p.lastError, attempts: p.attempts });
          this.ack(p, 'dead-lettered');
          this.checkDrained();
        },
        (err: unknown) => {
          this.publishing--;
          this.emit('error', new WasmsgError(ErrorCode.publishFailed, `dead-letter publish failed: ${describe(err)}`));
          p.consumer.settle(p.rec, 'nack');
          this.buffered--;
          this.checkDrained();
        },
      );
  }

  private settledTotal = 0;
  private nextSettleTarget = Infinity;
  private readonly settleWaiters: Array<{ n: number; resolve: () => void }> = [];

  private ack(p: Pending, outcome: 'ok' | 'dead-lettered'): void {
    p.consumer.settle(p.rec, 'ack');
    this.stats.acked++;
    if (++this.settledTotal >= this.nextSettleTarget) {
      while (this.settleWaiters.length > 0 && this.settleWaiters[0]!.n <= this.settledTotal)
        this.settleWaiters.shift()!.resolve();
      this.nextSettleTarget = this.settleWaiters[0]?.n ?? Infinity;
    }
    this.buffered--;
    this.stats.recordLatency(performance.now() - p.receivedAt);
    this.applyBackpressure();
    if (this.listenerCount('settled') > 0) this.emit('settled', { record: p.rec, outcome });
  }

  private checkDrained(): void {
    if (this.inFlight.size === 0 && this.publishing === 0 && this.drainWaiters.length > 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }
}

function pushBack(back: Map<Lane, Pending[]>, p: Pending): void {
  let list = back.get(p.lane);
  if (list === undefined) back.set(p.lane, (list = []));
  list.push(p);
}

function formatError(e: MessagingError): string {
  return 'val' in e ? `${e.tag}: ${e.val}` : e.tag;
}
