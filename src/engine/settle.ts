import type { BrokerAdapter, BrokerRecord, OutRecord } from '../brokers/adapter.js';
import { type ResultTuple, outboxFromTuples, readResponse } from '../codec/batch.js';
import { PROGRESS_WHOLE_BATCH, Status } from '../codec/layout.js';
import type { MessagingError } from '../component/types.js';
import { describe } from '../errors.js';
import type { SubscriptionCounters } from './counters.js';
import type { Dispatcher, InFlight } from './dispatch.js';
import { type Lane, type Lanes, NO_LANES, type Pending, holdLanes } from './lanes.js';
import type { ResolvedOptions } from './options.js';
import type { StatsRecorder } from './stats.js';
import { ackAll } from './ack.js';
import { BatchOutputs, outRecordOf, publishAll, publishAlone } from './outputs.js';
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
 *   publish of the outputs failed → each input's outputs again on their own (outputs.ts): a
 *               failed attempt of the input whose own failed, never a crash (one input's
 *               output a broker refuses does not fail the others);
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
  /**
   * World C (batch delivery): a batch's outputs are the whole call's, attached to its first ok
   * message; they belong to no one input (no key or trace context inherited, one publish unit).
   */
  batchWorld(index: number): boolean;
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

  /**
   * The worker died or the batch timed out: the message it was calling failed; the rest go back.
   * World C's call for a whole batch of several: none is charged, all go back, and the
   * component's batches are cut to half (Dispatcher.narrow) until the one at fault is alone. A
   * batch whose calls had all returned (PROGRESS_DONE: its result waited for the worker's next
   * turn when that thread was stopped for the batch behind it) goes back whole, nobody charged.
   */
  crashed(flight: InFlight, err: unknown): void {
    const d = this.host.dispatcher;
    const timedOut = flight.timedOut;
    let at = d.progress(flight);
    if (at === PROGRESS_WHOLE_BATCH) {
      if (flight.messages.length === 1) at = 0;
      else d.narrow(flight);
    }
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
    const outputs = new BatchOutputs();
    /** Outputs per input subscription, counted as published once their brokers confirm them. */
    let outputsBy: Map<SubscriptionCounters, number> | undefined;
    const back = new Map<Lane, Pending[]>();
    let batchWorld: boolean | undefined;
    for (let i = 0; i < messages.length; i++) {
      const p = messages[i]!;
      const [status, error, outbox] = resultOf(i);
      if (status === Status.ok) {
        // `processed` (handled ok) is counted when the message is acked: one whose outputs
        // were not published runs again, and was counted once per run
        if (p.sink !== undefined) {
          p.sink({ status: 'ok', outputs: outboxFromTuples(outbox) });
          this.ack(p, 'ok', performance.now());
          continue;
        }
        ok[okCount++] = p;
        if (outbox !== null) {
          outputsBy ??= new Map();
          outputsBy.set(p.sub, (outputsBy.get(p.sub) ?? 0) + outbox.length);
          batchWorld ??= this.host.batchWorld(p.component); // (a batch is one component's)
          for (const o of outbox) outputs.add(o[0], okCount - 1, outRecordOf(o, p.rec, batchWorld));
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
        else {
          p.sub.retried++; // a retry of its own failure (one that goes back unrun is not counted)
          pushTo(back, p.lane, p);
        }
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
      for (const p of list) attempts = Math.max(attempts, p.attempts);
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
    outputs: BatchOutputs,
    outputsBy: Map<SubscriptionCounters, number> | undefined,
    held: readonly Lane[],
  ): void {
    if (outputs.size === 0) {
      ackAll(this.host, ok);
      return;
    }
    this.publishing++;
    const brokerOf = (name: string): BrokerAdapter => this.host.broker(name);
    const done = (): void => {
      this.publishing--;
      const now = performance.now();
      for (const lane of held) this.host.lanes.unhold(lane, now);
    };
    const byBroker = new Map<string, OutRecord[]>();
    for (const [broker, { records }] of outputs.byBroker) byBroker.set(broker, records);
    publishAll(brokerOf, byBroker).then(
      () => {
        done();
        if (outputsBy !== undefined) for (const [sub, n] of outputsBy) sub.published += n;
        ackAll(this.host, ok);
        this.host.dispatcher.pump();
        this.host.checkDrained();
      },
      (err: unknown) => {
        // Outputs not confirmed. One input's: a failed attempt of it (retried, then
        // dead-lettered). Several inputs': each input's outputs again on their own, so that an
        // output a broker refuses (too large, a name it cannot take) fails only its own input.
        // A world C batch's outputs are the call's (attached to its first ok message): its ok
        // messages go back together, each charged (alone, the others were acked while their
        // outputs were lost)
        if (ok.length === 1 || this.host.batchWorld(ok[0]!.component)) {
          done();
          this.failedPublish(ok, () => `publish failed: ${describe(err)}`);
          this.host.checkDrained();
          return;
        }
        void publishAlone(
          brokerOf,
          ok.map((p) => p.lane),
          outputs,
        ).then(({ confirmed, failed, untried }) => {
          done();
          const acked = confirmed.map((i) => ok[i]!);
          for (const i of confirmed)
            for (const records of outputs.of(i).values()) ok[i]!.sub.published += records.length;
          if (acked.length > 0) ackAll(this.host, acked);
          const back = [...failed.keys(), ...untried].sort((a, b) => a - b);
          const why = new Map([...failed].map(([i, text]) => [ok[i]!, text]));
          if (back.length > 0)
            this.failedPublish(
              back.map((i) => ok[i]!),
              (p) => why.get(p),
            );
          else this.host.dispatcher.pump();
          this.host.checkDrained();
        });
      },
    );
  }

  /**
   * Inputs whose outputs were not confirmed go back to their lanes: `why(p)` a failed attempt of
   * `p` (retried, then dead-lettered), undefined when `p` was not tried (behind a failed one of
   * its lane).
   */
  private failedPublish(list: Pending[], why: (p: Pending) => string | undefined): void {
    const { lanes, options } = this.host;
    const back = new Map<Lane, Pending[]>();
    for (const p of list) {
      const error = why(p);
      if (error !== undefined) {
        p.sub.failed++;
        p.lastError = error;
        if (++p.attempts >= options.retries.maxAttempts) {
          this.deadLetter(p);
          continue;
        }
        p.sub.retried++;
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
    if (outcome === 'ok') p.sub.processed++;
    stats.recordLatency(now - p.arrival.at, 1);
    const one = [p];
    this.host.released(one);
    this.host.settled(one, outcome);
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

function pushTo(back: Map<Lane, Pending[]>, lane: Lane, p: Pending): void {
  let list = back.get(lane);
  if (list === undefined) back.set(lane, (list = []));
  list.push(p);
}

export function formatError(e: MessagingError): string {
  return 'val' in e ? `${e.tag}: ${e.val}` : e.tag;
}
