import type { ComponentInstance } from '../component/instance.js';
import { type MessageTuple, type ResultTuple, outboxToTuples } from '../codec/batch.js';
import { Status } from '../codec/layout.js';

/**
 * The pool worker's path for world C (batch delivery): the whole batch goes to the guest's
 * `handler` in one call, and comes back as the same per-message result tuples the engine
 * settles for the other worlds. The batch's outputs are attributed to its first ok message
 * (the engine publishes all of a batch's ok outputs before it acks any of them), so they go out
 * once, and only when at least one message is ok.
 */
export function runWorldCBatch(instance: ComponentInstance, messages: readonly MessageTuple[]): ResultTuple[] {
  const { results, outbox } = instance.callBatchTuples(messages);
  let outputs = outboxToTuples(outbox);
  return results.map((r): ResultTuple => {
    switch (r.tag) {
      case 'ok': {
        const mine = outputs;
        outputs = null;
        return [Status.ok, null, mine];
      }
      case 'skipped':
        return [Status.skipped, null, null];
      case 'error':
        return [Status.error, r.error, null];
      case 'trap':
        return [Status.trap, r.message, null];
    }
  });
}
