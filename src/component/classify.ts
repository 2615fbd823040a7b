import { describe } from '../errors.js';
import type { HandlerResult, MessagingError } from './types.js';

/** How a throw out of jco's glue becomes a handler result: the guest's own `err`, or a trap. */

const ERROR_TAGS = new Set(['timeout', 'connection', 'permission-denied', 'other']);

function toGuestError(payload: unknown): MessagingError {
  if (typeof payload === 'object' && payload !== null) {
    const { tag, val } = payload as { tag?: unknown; val?: unknown };
    if (tag === 'timeout') return { tag };
    if (typeof tag === 'string' && ERROR_TAGS.has(tag) && typeof val === 'string') {
      return { tag: tag as 'connection' | 'permission-denied' | 'other', val };
    }
  }
  return { tag: 'other', val: JSON.stringify(payload) ?? String(payload) };
}

/**
 * jco 1.35 throws the guest's `err(e)` payload itself (a plain `{tag, val}` object; older
 * versions wrap it in a ComponentError with a `payload`). Traps and glue failures are Errors.
 */
export function classify(e: unknown): HandlerResult {
  if (e instanceof Error) {
    if (Object.prototype.hasOwnProperty.call(e, 'payload')) {
      return { tag: 'error', error: toGuestError((e as unknown as { payload: unknown }).payload) };
    }
    return { tag: 'trap', message: e.message };
  }
  if (typeof e === 'object' && e !== null && typeof (e as { tag?: unknown }).tag === 'string') {
    return { tag: 'error', error: toGuestError(e) };
  }
  return { tag: 'trap', message: `handler threw ${describe(e)}` };
}
