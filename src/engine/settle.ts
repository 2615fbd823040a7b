import type { BrokerAdapter, BrokerRecord, Consumer, OutRecord } from '../brokers/adapter.js';
import { outputKey } from '../brokers/common.js';
import { type ResultTuple, outboxFromTuples, readResponse, unpackHeaders } from '../codec/batch.js';
import { Status } from '../codec/layout.js';
import type { MessagingError } from '../component/types.js';
import { describe } from '../errors.js';
import type { SubscriptionCounters } from './counters.js';
import type { Dispatcher, InFlight } from './dispatch.js';
import { type Arrival, type Lane, type Lanes, NO_LANES, type Pending, holdLanes } from './lanes.js';
import type { ResolvedOptions } from './options.js';
import type { StatsRecorder } from './stats.js';
import { carryTrace } from './trace.js';
import type { PoolTaskResult } from '../workers/protocol.js';

/**
 * Settlement (main thread): what happens to each message of a batch that came back — one path
 * for completed and crashed batches.
 *
 *   ok        → its outputs are published (all of the batch's, per broker), and once every
 *               broker confirmed them the inputs are acked (at-least-once end to end);
 *   err/trap  → a failed attempt: back to the front of its lane after an exponential backoff,
 *               or, after `retries.maxAttempts`, published to the dead-letter channel, then acked;
 *   skipped   → back to the front of its lane (an earlier message of its lane failed);
 *   publish of the outputs failed → a failed attempt of each of those inputs (never a crash);
 *   dead-letter publish failed    → tried again with backoff while the engine runs.
 *
 * A crashed or timed-out batch is settled the same way: the message the worker was calling
 * (its progress word) failed, the others were not run and go back to their lanes.
 */

export interface SettleHost {
  readonly options: ResolvedOptions;
  readonly stats: StatsRecorder;
  readonly lanes: Lanes;
  readonly dispatcher: Dispatcher;
  running(): boolean;
  broker(name: string): BrokerAdapter;
  componentName(index: number): string;
  /** These messages left the engine (acked or handed back): backpressure. */
  released(list: readonly Pending[]): void;
  /** Batches or publishes finished: stop() may be waiting for none to be left. */
  checkDrained(): void;
  /**
   * Messages acknowledged, all with one outcome (one call per acknowledged batch, or per message
   * acked alone), and their records in the same order where the caller made them already (a
   * batch's, for the consumer's acks).
   */
  settled(list: readonly Pending[], outcome: 'ok' | 'dead-lettered', records?: readonly BrokerRecord[]): void;
  deadLettered(p: Pending): void;
}

const OK_NO_OUTPUT: ResultTuple = [Status.ok, null, null];

/** A crashed batch's culprit, settled like a trap but with its own text. */
const CRASHED = -1;

export class Settler {
  /** Publishes (outputs or dead letters) not yet confirmed. */
  publishing = 0;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Messages waiting out a backoff outside any queue (`none` lanes, dead-letter retries). */
  private readonly waiting = new Set<Pending>();

  constructor(private readonly host: SettleHost) {}

  complete(flight: InFlight, res: PoolTaskResult): void {
    const d = this.host.dispatcher;
    if (res.allOk === true) {
      this.host.stats.recordWorker(res.timing, flight.messages.length);
      d.learn(flight, res.timing, flight.messages.length);
      d.finish(flight);
      this.settleBatch(flight.messages, () => OK_NO_OUTPUT);
      return;
    }
    const results = readResponse(d.response(flight, res));
    // the handler's time is spread over the messages it was called for (not those skipped behind a failure)
    let called = 0;
    for (const r of results) if (r[0] !== Status.skipped) called++;
    this.host.stats.recordWorker(res.timing, flight.messages.length, called);
    d.learn(flight, res.timing, called);
    d.finish(flight);
    this.settleBatch(flight.messages, (i) => results[i]!);
  }

  /** The worker died or the batch timed out: the message it was calling failed; the rest go back. */
  crashed(flight: InFlight, err: unknown): void {
    const d = this.host.dispatcher;
    const timedOut = flight.timedOut;
    const at = d.progress(flight);
    d.finish(flight);
    const why = timedOut
      ? `timeout: handler ran longer than ${this.host.options.handlerTimeoutMs} ms`
      : `worker crashed: ${describe(err)}`;
    const crashed: ResultTuple = [CRASHED as never, why, null];
    const skipped: ResultTuple = [Status.skipped, null, null];
    this.settleBatch(flight.messages, (i) => (i === at ? crashed : skipped));
  }

  private settleBatch(messages: readonly Pending[], resultOf: (i: number) => ResultTuple): void {
    const { lanes } = this.host;
    // sized once (then cut to what it holds): grown by push, it was reallocated ≈ 6 times a batch
    const ok: Pending[] = new Array<Pending>(messages.length);
    let okCount = 0;
    const outputs = new Map<string, OutRecord[]>();
    /** Outputs per input subscription, counted as published once their brokers confirm them. */
    let outputsBy: Map<SubscriptionCounters, number> | undefined;
    const back = new Map<Lane, Pending[]>();
    for (let i = 0; i < messages.length; i++) {
      const p = messages[i]!;
      const [status, error, outbox] = resultOf(i);
      if (status === Status.ok) {
        p.sub.processed++;
        if (p.sink !== undefined) {
          p.sink({ status: 'ok', outputs: outboxFromTuples(outbox) });
          this.ack(p, 'ok', performance.now());
          continue;
        }
        ok[okCount++] = p;
        if (outbox !== null) {
          outputsBy ??= new Map();
          outputsBy.set(p.sub, (outputsBy.get(p.sub) ?? 0) + outbox.length);
          for (const o of outbox) {
            const headers = unpackHeaders(o[4]);
            let list = outputs.get(o[0]);
            if (list === undefined) outputs.set(o[0], (list = []));
            list.push({
              kind: o[1],
              channel: o[2],
              headers: carryTrace(headers, p.rec.headers),
              value: o[3],
              key: outputKey(headers, p.rec.key),
            });
          }
        }
      } else if (status === Status.skipped) {
        pushTo(back, p.lane, p);
      } else {
        p.sub.failed++;
        p.lastError =
          status === Status.error
            ? formatError(error as MessagingError)
            : status === Status.trap
              ? `trap: ${String(error)}`
              : String(error);
        if (++p.attempts >= this.host.options.retries.maxAttempts) this.deadLetter(p);
        else pushTo(back, p.lane, p);
      }
    }
    ok.length = okCount;
    // Exclusive lanes whose outputs go out now send nothing more until the broker confirmed them:
    // released at once, the next batch of a key could be published first (kafkajs retries a
    // send that met a metadata refresh after a later one went through).
    const held = outputs.size > 0 ? holdLanes(ok) : NO_LANES;
    this.requeue(back, true);
    const now = performance.now();
    for (const m of messages) if (m.lane.busy && !back.has(m.lane)) lanes.release(m.lane, now);
    if (ok.length > 0) this.publishThenAck(ok, outputs, outputsBy, held);
    this.host.dispatcher.pump();
    this.host.checkDrained();
  }

  /**
   * Failed (and skipped) messages go back to the front of their lanes, in order, after a
   * backoff. `ownBatch`: the lanes' busy flag came from the batch being settled (else a batch of
   * the lane may be in flight, and it stays busy).
   */
  private requeue(back: Map<Lane, Pending[]>, ownBatch: boolean): void {
    const { options, lanes, dispatcher } = this.host;
    const r = options.retries;
    for (const [lane, list] of back) {
      let attempts = 0;
      for (const p of list) {
        attempts = Math.max(attempts, p.attempts);
        if (p.attempts > 0) p.sub.retried++;
      }
      const delay = attempts === 0 ? 0 : Math.min(r.maxBackoffMs, r.backoffMs * 2 ** (attempts - 1));
      if (lane.exclusive) {
        lane.queue.unshiftAll(list);
        dispatcher.queued += list.length;
        lane.blockedUntil = performance.now() + delay;
        if (ownBatch) lane.busy = false;
        if (delay > 0) {
          lanes.ready.delete(lane);
          this.later(delay, () => {
            lane.blockedUntil = 0; // timers may fire a little before performance.now() says they are due
            lanes.markReady(lane, performance.now());
            dispatcher.pump();
          });
        } else lanes.markReady(lane, performance.now());
      } else {
        for (const p of list) this.waiting.add(p);
        this.later(delay, () => {
          for (const p of list) this.waiting.delete(p);
          if (!this.host.running()) {
            for (const p of list) p.consumer.settle(p.rec, 'nack');
            this.host.released(list);
            return;
          }
          lane.queue.unshiftAll(list);
          dispatcher.queued += list.length;
          lanes.markReady(lane, performance.now());
          dispatcher.pump();
        });
      }
    }
  }

  private later(delay: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      fn();
    }, delay);
    this.retryTimers.add(t);
  }

  private publishThenAck(
    ok: Pending[],
    outputs: Map<string, OutRecord[]>,
    outputsBy: Map<SubscriptionCounters, number> | undefined,
    held: readonly Lane[],
  ): void {
    if (outputs.size === 0) {
      this.ackAll(ok);
      return;
    }
    this.publishing++;
    const unhold = (): void => {
      const now = performance.now();
      for (const lane of held) this.host.lanes.unhold(lane, now);
    };
    Promise.all([...outputs].map(([broker, records]) => this.host.broker(broker).publish(records))).then(
      () => {
        this.publishing--;
        unhold();
        if (outputsBy !== undefined) for (const [sub, n] of outputsBy) sub.published += n;
        this.ackAll(ok);
        this.host.dispatcher.pump();
        this.host.checkDrained();
      },
      (err: unknown) => {
        // Outputs not confirmed: a failed attempt of each input (retried, then dead-lettered).
        this.publishing--;
        unhold();
        this.failedPublish(ok, `publish failed: ${describe(err)}`);
        this.host.checkDrained();
      },
    );
  }

  private failedPublish(ok: Pending[], why: string): void {
    const { lanes, options } = this.host;
    const back = new Map<Lane, Pending[]>();
    for (const p of ok) {
      p.sub.failed++;
      p.lastError = why;
      if (++p.attempts >= options.retries.maxAttempts) {
        this.deadLetter(p);
        continue;
      }
      // its lane was unheld just now: forgotten if nothing else of it was queued (a new lane then)
      const lane = lanes.laneFor(p.component, p.broker, p.rec);
      pushTo(back, lane, lane === p.lane ? p : { ...p, lane });
    }
    if (!this.host.running()) {
      const all = [...back.values()].flat();
      for (const p of all) p.consumer.settle(p.rec, 'nack');
      this.host.released(all);
      return;
    }
    this.requeue(back, false);
    this.host.dispatcher.pump();
  }

  private deadLetter(p: Pending, tries = 0): void {
    const { options } = this.host;
    if (p.sink !== undefined) {
      p.sub.deadLettered++;
      p.sink({ status: 'failed', error: p.lastError, attempts: p.attempts });
      this.ack(p, 'dead-lettered', performance.now());
      return;
    }
    const broker = options.deadLetter.broker ?? p.broker;
    const headers: Record<string, string> = {
      ...p.rec.headers,
      'x-wasmsg-error': p.lastError,
      'x-wasmsg-attempts': String(p.attempts),
      'x-wasmsg-source': `${p.broker}/${p.rec.channel}/${p.rec.partition}/${p.rec.offset}`,
      'x-wasmsg-component': this.host.componentName(p.component),
    };
    this.publishing++;
    this.host
      .broker(broker)
      .publish([{ kind: 'queue', channel: options.deadLetter.channel, key: p.rec.key, headers, value: p.rec.value }])
      .then(
        () => {
          this.publishing--;
          p.sub.deadLettered++;
          this.host.deadLettered(p);
          this.ack(p, 'dead-lettered', performance.now());
          this.host.checkDrained();
        },
        () => {
          // The dead-letter channel refused it: keep the message and try again, with backoff,
          // as long as the engine runs; on stop it goes back to its broker unacknowledged.
          this.publishing--;
          if (!this.host.running()) {
            p.consumer.settle(p.rec, 'nack');
            this.host.released([p]);
          } else {
            const r = options.retries;
            this.waiting.add(p); // on stop() it goes back to its broker
            this.later(Math.min(r.maxBackoffMs, r.backoffMs * 2 ** Math.min(tries, 20)), () => {
              this.waiting.delete(p);
              this.deadLetter(p, tries + 1);
            });
          }
          this.host.checkDrained();
        },
      );
  }

  private ack(p: Pending, outcome: 'ok' | 'dead-lettered', now: number): void {
    p.consumer.settle(p.rec, 'ack');
    const stats = this.host.stats;
    p.sub.acked++;
    stats.recordLatency(now - p.arrival.at, 1);
    const one = [p];
    this.host.released(one);
    this.host.settled(one, outcome);
  }

  /**
   * Acks a batch's ok messages. Messages of one adapter batch share their arrival, so the
   * latency histogram gets one record per run of them, not one per message.
   */
  private ackAll(ok: readonly Pending[]): void {
    const now = performance.now();
    const stats = this.host.stats;
    let runOf: Arrival | undefined;
    let run = 0;
    // acknowledged per consumer, a run at a time (a broker may do its bookkeeping once per run);
    // one array of the batch's records, sized once (emptied and refilled, it was reallocated as
    // it grew, ≈ 6 times a batch)
    const recs = new Array<BrokerRecord>(ok.length);
    let consumer: Consumer | undefined;
    let runFrom = 0;
    for (let i = 0; i < ok.length; i++) {
      const p = ok[i]!;
      if (p.consumer !== consumer) {
        if (consumer !== undefined) ackRun(consumer, recs, runFrom, i);
        consumer = p.consumer;
        runFrom = i;
      }
      recs[i] = p.rec;
      p.sub.acked++;
      if (p.arrival !== runOf) {
        if (runOf !== undefined) stats.recordLatency(now - runOf.at, run);
        runOf = p.arrival;
        run = 0;
      }
      run++;
    }
    if (runOf !== undefined) stats.recordLatency(now - runOf.at, run);
    if (consumer !== undefined) ackRun(consumer, recs, runFrom, ok.length);
    this.host.released(ok);
    this.host.settled(ok, 'ok', recs);
  }

  /** On stop: cancel backoffs; messages waiting one go back to their brokers. */
  stop(): void {
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const p of this.waiting) p.consumer.settle(p.rec, 'nack');
    this.host.released([...this.waiting]);
    this.waiting.clear();
  }
}

/** Acks `recs[from, to)`: at once where the consumer can, else one by one. */
function ackRun(consumer: Consumer, recs: BrokerRecord[], from: number, to: number): void {
  if (consumer.ackAll !== undefined) consumer.ackAll(from === 0 && to === recs.length ? recs : recs.slice(from, to));
  else for (let i = from; i < to; i++) consumer.settle(recs[i]!, 'ack');
}

function pushTo(back: Map<Lane, Pending[]>, lane: Lane, p: Pending): void {
  let list = back.get(lane);
  if (list === undefined) back.set(lane, (list = []));
  list.push(p);
}

export function formatError(e: MessagingError): string {
  return 'val' in e ? `${e.tag}: ${e.val}` : e.tag;
}
