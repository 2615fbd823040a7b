import type { ComponentInstance } from '../component/instance.js';
import { ABANDONED } from '../component/host-c.js';
import type { BatchMessageResult, OutboxEntry } from '../component/types.js';
import { type MessageTuple, type ResultTuple, outboxToTuples } from '../codec/batch.js';
import { Msg, PROGRESS_WHOLE_BATCH, Status } from '../codec/layout.js';

/**
 * The pool worker's path for world C (batch delivery): the whole batch goes to the guest's
 * `handler` in one call, and comes back as the same per-message result tuples the engine
 * settles for the other worlds. The batch's outputs are attributed to its first ok message
 * (the engine publishes all of a batch's ok outputs before it acks any of them), so they go out
 * once, and only when at least one message is ok.
 *
 * A handler call that fails as a whole (err or trap) says nothing about which message was at
 * fault, and counting a failed attempt against every message of the batch would dead-letter
 * innocent messages beside a poison one. So the messages the guest did not settle itself are
 * run again here, one per call, in batch order: each gets its own result, the poison alone
 * fails, and a lane's later messages after a failure of its own are skipped (order kept).
 */
export function runWorldCBatch(
  instance: ComponentInstance,
  messages: readonly MessageTuple[],
  /** Told the index of the message a call is about (PROGRESS_WHOLE_BATCH for the whole batch): the progress word. */
  calling: (index: number) => void,
): ResultTuple[] {
  calling(PROGRESS_WHOLE_BATCH);
  const first = instance.callBatchTuples(messages);
  const failedAsWhole =
    messages.length > 1 && first.results.some((r) => r.tag === 'trap' || (r.tag === 'error' && r !== ABANDONED));
  if (!failedAsWhole) return toTuples(first.results, first.outbox);
  const results: BatchMessageResult[] = [];
  const outbox: Array<OutboxEntry[] | null> = [];
  const failedLanes = new Set<number>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const before = first.results[i]!;
    const lane = m[Msg.lane];
    if (failedLanes.has(lane)) {
      results.push(SKIPPED);
      outbox.push(null);
      continue;
    }
    // what the guest settled itself in the first call stands (an abandon is its verdict)
    if (before === ABANDONED || (before.tag === 'ok' && first.outbox.length === 0)) {
      if (before.tag !== 'ok') failedLanes.add(lane);
      results.push(before);
      outbox.push(null);
      continue;
    }
    calling(i);
    const alone = instance.callBatchTuples([m]);
    const r = alone.results[0]!;
    if (r.tag !== 'ok') failedLanes.add(lane);
    results.push(r);
    outbox.push(r.tag === 'ok' ? alone.outbox : null);
  }
  return results.map((r, i) => tuple(r, r.tag === 'ok' ? outboxToTuples(outbox[i] ?? []) : null));
}

const SKIPPED: BatchMessageResult = { tag: 'skipped' };

function toTuples(results: readonly BatchMessageResult[], outbox: OutboxEntry[]): ResultTuple[] {
  let outputs = outboxToTuples(outbox);
  return results.map((r) => {
    const mine = r.tag === 'ok' ? outputs : null;
    if (r.tag === 'ok') outputs = null;
    return tuple(r, mine);
  });
}

function tuple(r: BatchMessageResult, outputs: ResultTuple[2]): ResultTuple {
  switch (r.tag) {
    case 'ok':
      return [Status.ok, null, outputs];
    case 'skipped':
      return [Status.skipped, null, null];
    case 'error':
      return [Status.error, r.error, null];
    case 'trap':
      return [Status.trap, r.message, null];
  }
}
