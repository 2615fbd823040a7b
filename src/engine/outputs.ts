import type { BrokerAdapter, BrokerRecord, OutRecord } from '../brokers/adapter.js';
import { outputKey } from '../brokers/common.js';
import { type OutboxTuple, unpackHeaders } from '../codec/batch.js';
import { Meta } from '../component/host-c.js';
import { describe } from '../errors.js';
import type { Lane } from './lanes.js';
import { carryTrace } from './trace.js';

/**
 * The record a handler's output is published as. Worlds A and B: the output of one input, whose
 * key it falls back to and whose trace context it carries on. World C (`batchWorld`): the output
 * of the whole batch call, no one input's; its key is its own `partitionkey`, or, for a message
 * the guest forwarded, the key that message came with (`wasmsg-key`, kept by send for this), and
 * it carries only its own trace context (before, every output of a batch took the first ok
 * message's key and trace).
 */
export function outRecordOf(o: OutboxTuple, input: BrokerRecord, batchWorld: boolean): OutRecord {
  const headers = unpackHeaders(o[4]);
  if (!batchWorld)
    return {
      kind: o[1],
      channel: o[2],
      headers: carryTrace(headers, input.headers),
      value: o[3],
      key: outputKey(headers, input.key),
    };
  const forwarded = Object.hasOwn(headers, Meta.key) ? headers[Meta.key] : undefined;
  if (forwarded !== undefined) delete headers[Meta.key];
  return { kind: o[1], channel: o[2], headers, value: o[3], key: outputKey(headers, forwarded ?? null) };
}

/**
 * A settled batch's outputs (main thread): by broker, each record beside the index of the input
 * that published it (its place in the batch's ok list). They go out all at once; when that
 * fails, one input's at a time (`publishAlone`), so that an output a broker refuses fails its own
 * input, not every input of the batch.
 */
export class BatchOutputs {
  readonly byBroker = new Map<string, { readonly records: OutRecord[]; readonly owners: number[] }>();

  add(broker: string, owner: number, record: OutRecord): void {
    let list = this.byBroker.get(broker);
    if (list === undefined) this.byBroker.set(broker, (list = { records: [], owners: [] }));
    list.records.push(record);
    list.owners.push(owner);
  }

  get size(): number {
    return this.byBroker.size;
  }

  /** The records by input, then broker: made once, on the failure path only (see of). */
  private byInput: Map<number, Map<string, OutRecord[]>> | undefined;

  /** Input `owner`'s records, by broker (none when it published nothing). */
  of(owner: number): ReadonlyMap<string, readonly OutRecord[]> {
    if (this.byInput === undefined) {
      // one pass over every record (one scan per input was inputs × outputs)
      const byInput = new Map<number, Map<string, OutRecord[]>>();
      for (const [broker, { records, owners }] of this.byBroker)
        for (let i = 0; i < owners.length; i++) {
          let mine = byInput.get(owners[i]!);
          if (mine === undefined) byInput.set(owners[i]!, (mine = new Map()));
          let list = mine.get(broker);
          if (list === undefined) mine.set(broker, (list = []));
          list.push(records[i]!);
        }
      this.byInput = byInput;
    }
    return this.byInput.get(owner) ?? NONE;
  }
}

const NONE: ReadonlyMap<string, readonly OutRecord[]> = new Map();

export type BrokerOf = (name: string) => BrokerAdapter;

/**
 * Publishes each broker's records; resolves once every broker confirmed, rejects with the first
 * failure once every publish ended (not at the first refusal: the others are still under way,
 * and a retry sent meanwhile could reach a broker before them).
 */
export async function publishAll(
  brokerOf: BrokerOf,
  byBroker: ReadonlyMap<string, readonly OutRecord[]>,
): Promise<void> {
  const ended = await Promise.allSettled([...byBroker].map(([broker, records]) => brokerOf(broker).publish(records)));
  for (const e of ended) if (e.status === 'rejected') throw e.reason;
}

export interface AloneResult {
  /** Inputs whose outputs every broker confirmed (indexes into the ok list). */
  readonly confirmed: number[];
  /** An input whose own outputs failed, with why; at most one per exclusive lane. */
  readonly failed: Map<number, string>;
  /** Inputs of an exclusive lane after its failed one: not tried, so not published out of order. */
  readonly untried: number[];
}

/**
 * After a failed publish of several inputs' outputs: each input's outputs on their own. Within
 * an exclusive lane (`partition`/`key` ordering) in input order, the next only once the previous
 * was confirmed, and none after a failure (they go back untried, behind it); every other input
 * at once. An input that published nothing is confirmed as it is.
 */
export async function publishAlone(
  brokerOf: BrokerOf,
  lanes: readonly Lane[],
  outputs: BatchOutputs,
): Promise<AloneResult> {
  const result: AloneResult = { confirmed: [], failed: new Map(), untried: [] };
  const chains = new Map<Lane | number, number[]>();
  for (let i = 0; i < lanes.length; i++) {
    const key = lanes[i]!.exclusive ? lanes[i]! : i;
    let chain = chains.get(key);
    if (chain === undefined) chains.set(key, (chain = []));
    chain.push(i);
  }
  await Promise.all(
    [...chains.values()].map(async (chain) => {
      for (let k = 0; k < chain.length; k++) {
        const i = chain[k]!;
        const mine = outputs.of(i);
        try {
          if (mine.size > 0) await publishAll(brokerOf, mine);
          result.confirmed.push(i);
        } catch (err) {
          result.failed.set(i, `publish failed: ${describe(err)}`);
          result.untried.push(...chain.slice(k + 1));
          return;
        }
      }
    }),
  );
  return result;
}
