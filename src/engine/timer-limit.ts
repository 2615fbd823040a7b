/**
 * The longest wait Node's timers take (2^31 − 1 ms, about 24.8 days): `setTimeout` turns a
 * longer one into 1 ms (with a TimeoutOverflowWarning), so a longer linger or backoff would run
 * at once. Every option (and flag) that becomes a timer is bounded by it: the engine's
 * (options-schema.ts) and the broker adapters' (brokers/adapter-options.ts). It imports nothing,
 * so both may use it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The message of a wait past MAX_TIMER_MS. */
export const TIMER_LIMIT_MESSAGE = `at most ${MAX_TIMER_MS} ms (Node's timers' limit: a longer wait would fire after 1 ms)`;
