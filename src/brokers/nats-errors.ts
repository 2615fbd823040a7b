import { ErrorCode as NatsCode } from 'nats';
import { BrokerError, ErrorCode, describe } from '../errors.js';
import { redact } from './common.js';

/** How the NATS adapter (brokers/nats.ts) reads nats.js's errors, and the errors it makes of them. */

/** A JetStream API answer that the stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { code?: number } };
  return e.code === '404' || e.api_error?.code === 404 || /not found|no stream matches/i.test(describe(err));
}

/**
 * nats.js's codes for an argument it refuses (`subscribe('')`: BAD_SUBJECT), thrown before
 * anything is sent — what was given is wrong, the connection is not at fault — and their words.
 * Its other codes (TIMEOUT, CONNECTION_CLOSED, CONNECTION_DRAINING, DISCONNECT, …) are trouble
 * with the connection or the server.
 */
const ARGUMENT_REFUSED: Readonly<Record<string, string>> = {
  [NatsCode.BadSubject]: 'a bad subject',
  [NatsCode.BadHeader]: 'a bad header',
  [NatsCode.BadJson]: 'bad JSON',
  [NatsCode.BadPayload]: 'a bad payload',
  [NatsCode.InvalidOption]: 'an invalid option',
  [NatsCode.InvalidPayload]: 'an invalid payload',
  [NatsCode.MaxPayloadExceeded]: "a payload over the server's max_payload",
  [NatsCode.NotFunction]: 'an option that is no function',
  [NatsCode.ServerOptionNotAvailable]: 'an option the server does not offer',
};

/**
 * Why a subscription was refused, or undefined when the broker failed meanwhile: the JetStream
 * API's answer (`invalid subject`, `subjects overlap with an existing stream`), or nats.js's own
 * check of what it was given — a plain Error (`invalid durable name - durable name cannot
 * contain '.'`, the group) or a NatsError of an argument code (ARGUMENT_REFUSED: `nats.js
 * refused it as a bad subject (BAD_SUBJECT)`, an empty core NATS subject). Any other NatsError
 * without an API answer (a timeout, the connection closed) is none.
 */
export function natsRefusal(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const api = (err as { api_error?: { description?: unknown } }).api_error;
  if (typeof api?.description === 'string') return `the server refused it: ${api.description}`;
  const code = (err as { code?: unknown }).code;
  if (code === undefined) return err.name === 'Error' ? err.message : undefined;
  const words = typeof code === 'string' && Object.hasOwn(ARGUMENT_REFUSED, code) ? ARGUMENT_REFUSED[code] : undefined;
  if (words === undefined) return undefined;
  return `nats.js refused it as ${words} (${code}${err.message === code ? '' : `: ${err.message}`})`;
}

/** A NATS server's JetStream API did not answer (503: no responders): it runs without JetStream. */
export function noJetStream(url: string, cause: unknown): BrokerError {
  const core = `nats-core:${url.slice(url.indexOf(':') + 1)}`;
  return new BrokerError(
    ErrorCode.brokerUnavailable,
    `${redact(url)}: the server has no JetStream (${describe(cause)}): start nats-server with -js (JetStream ` +
      `enabled for this account), or read core NATS, at most once, with ${redact(core)}`,
    { url: redact(url) },
    { cause },
  );
}
