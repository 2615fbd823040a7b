import type { BrokerRecord, Consumer } from '../brokers/adapter.js';
import type { OutboxEntry } from '../component/types.js';
import { ErrorCode, OptionError, WasmsgError } from '../errors.js';
import { Deque } from './deque.js';
import { type ProcessOutcome, STREAM } from './lanes.js';

/**
 * `engine.process()`: the engine as a pipeline stage (main thread). Inputs are pulled from the
 * caller's iterable, enqueued like broker records of a channel `process` (the outputs go back
 * to the caller, not to any broker) and yielded in input order. Backpressure: the source is not
 * pulled while the engine holds its high-water mark of messages, nor while the caller has that
 * many results unread. A caller that stops reading early (break, return, throw) closes the
 * source: it is pulled no more and its iterator's `return()` runs, as `for await` would. One that
 * drops the stream without `return()` leaves its source open, but the engine keeps nothing of the
 * stream once it holds none of its inputs and no `next()` of it waits for the source: it is
 * collected. When the engine stops first, the stream yields what was handled and then throws
 * (E_ENGINE_STATE) at the first input that was not — or, when the source has nothing more for
 * now, at once — and closes the source (one waiting for its next input, at that input).
 */

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

/**
 * An input's fields are what the types say (JavaScript callers have no compiler to check them):
 * before, an input without `value` threw inside the dispatcher, outside the stream, and ended the
 * process. Throws OptionError E_BAD_INPUT naming the input and the field.
 */
function checkInput(input: ProcessInput, n: number): void {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new OptionError(
      ErrorCode.badInput,
      `engine.process: input ${n}: ${field} must be ${want} (got ${got === null ? 'null' : typeof got})`,
      { option: field, input: n },
    );
  };
  if (typeof input !== 'object' || input === null) bad('the input', 'an object with a value', input);
  if (!(input.value instanceof Uint8Array)) bad('value', 'a Uint8Array (a Buffer is one)', input.value);
  if (input.key !== undefined && input.key !== null && typeof input.key !== 'string')
    bad('key', 'a string or null', input.key);
  if (input.channel !== undefined && (typeof input.channel !== 'string' || input.channel === ''))
    bad('channel', 'a non-empty string', input.channel);
  // (a batch carries partitions as 32-bit integers: past 2^31 − 1, Kafka's range, the guest saw another)
  if (
    input.partition !== undefined &&
    !(Number.isInteger(input.partition) && input.partition >= 0 && input.partition <= 0x7fffffff)
  )
    bad('partition', 'an integer from 0 to 2147483647', input.partition);
  if (input.timestamp !== undefined && !Number.isFinite(input.timestamp))
    bad('timestamp', 'a finite number (ms since the epoch)', input.timestamp);
  const h = input.headers;
  if (h !== undefined) {
    if (typeof h !== 'object' || h === null) bad('headers', 'an object of strings', h);
    for (const k in h) if (typeof h[k] !== 'string') bad(`headers['${k}']`, 'a string', h[k]);
  }
}

/** What process() needs of the engine. */
export interface ProcessHost {
  readonly highWater: () => number;
  /** The component's intake is closed (Backpressure.closed): wait for space, then ask again. */
  closed(): boolean;
  waitForSpace(): Promise<void>;
  enqueue(component: number, rec: BrokerRecord, consumer: Consumer, sink: (o: ProcessOutcome) => void): void;
  /** Calls `listener` once the engine settles nothing more (it stopped); returns how to unsubscribe. */
  onEnd(listener: () => void): () => void;
}

/** An input the engine gave back unhandled (it stopped): the stream ends there, with an error. */
const STOPPED = Symbol('stopped');

/** Where a process() input keeps how to resolve its place in the stream (a symbol: out of listeners' keys and JSON). */
const RESOLVE = Symbol('wasmsg.process.resolve');

/** A process() input as the engine holds it: how to tell its reader that it was given back. */
interface ProcessRecord extends BrokerRecord {
  readonly [RESOLVE]: (r: ProcessResult | typeof STOPPED) => void;
  /** This stream (lanes.ts: its inputs have lanes of their own, and a world C batch holds one stream's). */
  readonly [STREAM]: object;
}

/**
 * Settling a process() input settles nothing at a broker; giving one back (`nack`: the engine
 * stopped before handling it, or with it waiting out a retry) ends the stream at that input.
 */
const TO_CALLER: Consumer = {
  pause() {},
  resume() {},
  settle(rec, outcome) {
    if (outcome === 'nack') (rec as ProcessRecord)[RESOLVE](STOPPED);
  },
  close: async () => {},
};

export async function* processStream(
  host: ProcessHost,
  source: AsyncIterable<ProcessInput> | Iterable<ProcessInput>,
  component: number,
): AsyncGenerator<ProcessResult> {
  // the inputs in flight and the results not yet read, in input order: a ring buffer, so a read
  // result leaves nothing behind (an array indexed by input kept a slot for each input ever read)
  const results = new Deque<Promise<ProcessResult | typeof STOPPED>>();
  let read = 0;
  let sourceDone = false;
  let sourceError: unknown;
  let wakeReader: (() => void) | undefined;
  let wakeFeeder: (() => void) | undefined;
  /** The caller stopped reading (returned or threw out of its loop): pull no more, close the source. */
  let stopped = false;
  let seq = 0;
  const stream = {}; // (holds nothing: what the lanes keep of a stream until they forget it)
  const feed = (async () => {
    try {
      for await (const input of source) {
        // bounded by the component's high-water mark (and the engine's) and by results the caller has not read yet
        while (!stopped && host.closed()) await host.waitForSpace();
        while (!stopped && results.length >= host.highWater()) await new Promise<void>((r) => (wakeFeeder = r));
        if (stopped) break; // leaving the loop returns the source's iterator: it closes
        checkInput(input, seq); // a bad one ends the stream with its error, after the results before it
        let resolve!: (r: ProcessResult | typeof STOPPED) => void;
        results.push(new Promise<ProcessResult | typeof STOPPED>((r) => (resolve = r)));
        const rec: ProcessRecord = {
          channel: input.channel ?? 'process',
          partition: input.partition ?? 0,
          offset: String(seq++),
          key: input.key ?? null,
          headers: input.headers ?? {},
          value: input.value,
          timestamp: input.timestamp ?? Date.now(),
          [RESOLVE]: resolve,
          [STREAM]: stream,
        };
        host.enqueue(component, rec, TO_CALLER, (o) => resolve({ ...o, input } as ProcessResult));
        wakeReader?.();
      }
    } catch (err) {
      sourceError = err;
    } finally {
      sourceDone = true;
      wakeReader?.();
    }
  })();
  try {
    for (;;) {
      const head = results.peek();
      if (head !== undefined) {
        const r = await head;
        if (r === STOPPED) {
          throw new WasmsgError(
            ErrorCode.engineState,
            `engine.process: the engine stopped before input ${read} was handled (${read} results were given)`,
            { handled: read },
          );
        }
        results.shift();
        read++;
        wakeFeeder?.();
        wakeFeeder = undefined;
        yield r;
        continue;
      }
      if (sourceDone) break;
      // Nothing to wait for but the source: the engine's end is listened for only meanwhile (when
      // it stops, the stream ends). A listener for the stream's whole life kept every stream
      // dropped unfinished without return() (and its source, results, state) until stop().
      let engineEnded = false;
      const off = host.onEnd(() => {
        engineEnded = true;
        wakeReader?.();
      });
      if (!engineEnded) await new Promise<void>((r) => (wakeReader = r));
      wakeReader = undefined;
      off();
      if (engineEnded) {
        // the source has nothing more for now: it is closed when it next yields (its `next()`
        // cannot be cut short)
        throw new WasmsgError(
          ErrorCode.engineState,
          `engine.process: the engine stopped while waiting for input ${read} (${read} results were given)`,
          { handled: read },
        );
      }
    }
  } finally {
    // a caller that breaks out early lands here too: the feeder stops at its next step (inputs
    // already enqueued are still handled, their results dropped); not awaited, since a source
    // may be in the middle of a slow `next()`
    stopped = true;
    wakeFeeder?.();
  }
  await feed;
  if (sourceError !== undefined) throw sourceError;
}
