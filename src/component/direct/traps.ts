/** Traps of the direct binding: the host's own, and core traps reworded as wasmtime (and so jco) words them. */

/** A trap raised by the host on the guest's behalf (bad pointer, bad handle, bad discriminant). */
export class GuestTrap extends Error {
  override get name(): string {
    return 'GuestTrap';
  }
}

export function trap(message: string): never {
  throw new GuestTrap(message);
}

/**
 * A message handle a guest kept past the call that received it, then used: the host released it
 * when that call returned (world B: both bindings). Before, its data read empty and a `send` of
 * it published an empty message as a success.
 */
export const RELEASED_MESSAGE =
  'message used after the call that received it returned: this host releases every message a guest still holds when its call returns (send or drop it within the call)';

/** V8's trap texts → the wasmtime wording jco 1.35 uses, so both bindings report a trap alike. */
const CORE_TRAP_MESSAGES = new Map([
  ['unreachable', 'wasm trap: wasm `unreachable` instruction executed'],
  ['memory access out of bounds', 'wasm trap: out of bounds memory access'],
  ['divide by zero', 'wasm trap: integer divide by zero'],
  ['remainder by zero', 'wasm trap: integer divide by zero'],
  ['divide result unrepresentable', 'wasm trap: integer overflow'],
  ['float unrepresentable in integer range', 'wasm trap: invalid conversion to integer'],
  ['table index is out of bounds', 'wasm trap: undefined element: out of bounds table access'],
  ['function signature mismatch', 'wasm trap: indirect call type mismatch'],
  ['call stack exhausted', 'wasm trap: call stack exhausted'],
]);
const RuntimeError = (WebAssembly as unknown as { RuntimeError: new () => Error }).RuntimeError;

/** The text of a trap: a core trap in wasmtime's words, the host's own traps as they are. */
export function trapMessage(e: unknown): string {
  if (e instanceof RuntimeError) return CORE_TRAP_MESSAGES.get(e.message) ?? `wasm trap: ${e.message}`;
  if (e instanceof Error) return e.message;
  return `handler threw ${String(e)}`;
}
