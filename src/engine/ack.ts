import type { BrokerRecord, Consumer } from '../brokers/adapter.js';
import type { Arrival, Pending } from './lanes.js';
import type { SettleHost } from './settle.js';

/**
 * Acks a batch's ok messages. Messages of one adapter batch share their arrival, so the
 * latency histogram gets one record per run of them, not one per message.
 */
export function ackAll(host: SettleHost, ok: readonly Pending[]): void {
  const now = performance.now();
  const stats = host.stats;
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
    p.sub.processed++; // handled ok, and its outputs published: once a message, however many runs it took
    if (p.arrival !== runOf) {
      if (runOf !== undefined) stats.recordLatency(now - runOf.at, run);
      runOf = p.arrival;
      run = 0;
    }
    run++;
  }
  if (runOf !== undefined) stats.recordLatency(now - runOf.at, run);
  if (consumer !== undefined) ackRun(consumer, recs, runFrom, ok.length);
  host.released(ok);
  host.settled(ok, 'ok', recs);
}

/** Acks `recs[from, to)`: at once where the consumer can, else one by one. */
function ackRun(consumer: Consumer, recs: BrokerRecord[], from: number, to: number): void {
  if (consumer.ackAll !== undefined) consumer.ackAll(from === 0 && to === recs.length ? recs : recs.slice(from, to));
  else for (let i = from; i < to; i++) consumer.settle(recs[i]!, 'ack');
}
