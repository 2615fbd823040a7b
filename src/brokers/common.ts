import { ErrorCode, describe } from '../errors.js';
import type { BatchListener, BrokerRecord } from './adapter.js';
import { BrokerError } from './memory.js';

/**
 * Small pieces every real-broker adapter shares. Nothing here imports a client library.
 */

/** The URL with any password replaced, for messages and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function unreachable(url: string, cause: unknown): BrokerError {
  return new BrokerError(
    ErrorCode.brokerUnavailable,
    `cannot reach ${redact(url)}: ${describe(cause)}`,
    { url: redact(url) },
    { cause },
  );
}

/**
 * CloudEvents binary-mode headers: the engine's neutral form names attributes `ce_<attr>` (the
 * Kafka binding); each broker's binding uses its own prefix (AMQP `cloudEvents:`, NATS and
 * HTTP `ce-`, MQTT none). Other headers pass unchanged.
 */
export function headersOut(neutral: Readonly<Record<string, string>>, prefix: string): Record<string, string> {
  if (prefix === 'ce_') return { ...neutral };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(neutral)) out[k.startsWith('ce_') ? prefix + k.slice(3) : k] = v;
  return out;
}

/** A broker's headers as the engine's neutral strings (inbound mapping is done in cloudevents.ts). */
export function headerValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  if (Array.isArray(v)) return v.map(headerValue).join(',');
  return v === undefined || v === null ? '' : String(v);
}

/** Resolves after `ms`, or at once when `signal` aborts (loops that must stop promptly). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * For push-based clients (AMQP, core NATS, MQTT) that deliver whether or not the engine paused
 * intake: deliveries made while paused wait here — bounded by the broker's own in-flight limit
 * (prefetch, receive maximum) — and go out as one batch on resume.
 */
export class HeldDeliveries {
  private paused = false;
  private held: BrokerRecord[] = [];

  constructor(private readonly onBatch: BatchListener) {}

  deliver(record: BrokerRecord): void {
    if (this.paused) this.held.push(record);
    else this.onBatch([record]);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    const held = this.held.splice(0);
    if (held.length > 0) this.onBatch(held);
  }
}
