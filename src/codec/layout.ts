/**
 * The shared-memory layout of the batch arena, in one place. The arena is one SharedArrayBuffer
 * cut into `slots` equal slots; a batch in flight owns one slot, so the arena's size — and the
 * engine's memory for batches — is fixed by configuration, never by input rate.
 *
 * Slot: [header: HEADER_BYTES][request: columns, msgpack][pad to 8][response: msgpack] … [payloads]
 * The main thread writes the request (codec/batch.ts) and posts {slot, length}; the worker decodes
 * it in place (payloads are views into the slot), writes the response after the request and
 * returns its length. Only the side that owns the slot at a moment touches it (ownership passes with the
 * piscina task and its result), so no locks are needed; the progress word is the exception: the
 * worker stores it with Atomics and the main thread reads it only after the worker was killed.
 */
export const HEADER_BYTES = 16;
/**
 * Int32 index in the header: index of the message the worker is calling now (for a killed
 * worker), or PROGRESS_WAITING / PROGRESS_WHOLE_BATCH / PROGRESS_DONE.
 */
export const HDR_PROGRESS = 0;
/** Progress word: the batch waits for its worker (no call started, none timed). */
export const PROGRESS_WAITING = -1;
/** Progress word: world C's one call for the whole batch is running (which message is at fault, if it hangs, is unknown). */
export const PROGRESS_WHOLE_BATCH = -2;
/**
 * Progress word: every call of the batch returned. Its result may still wait for the worker's
 * next turn (piscina posts it after the worker's queued batch ran): not a call to time out, and
 * if that thread is stopped meanwhile, the batch goes back whole, nobody charged.
 */
export const PROGRESS_DONE = -3;
/** Int32 index in the header: how many messages the request holds (codec/batch.ts). */
export const HDR_COUNT = 1;
/** Int32 index in the header: threadId of the worker that took the batch (the watchdog stops that thread). */
export const HDR_THREAD = 2;

/** Per-message status codes in a response. */
export const Status = { ok: 0, error: 1, trap: 2, skipped: 3 } as const;
export type StatusValue = (typeof Status)[keyof typeof Status];

/** Field positions of a message tuple in a request (arrays, not objects: no keys to encode). */
export const Msg = {
  payload: 0,
  channel: 1,
  partition: 2,
  offset: 3,
  key: 4,
  headers: 5,
  timestamp: 6,
  lane: 7,
  broker: 8,
} as const;

/** Field positions of a result tuple in a response. */
export const Res = { status: 0, error: 1, outbox: 2 } as const;

export function align8(n: number): number {
  return (n + 7) & ~7;
}
