/**
 * A cap on a guest's linear memory, set in the core module itself: before a core module is
 * compiled, the maximum of every memory it defines is lowered to `maxPages` (64 KiB each). A
 * guest that asks for more then gets what the spec gives on failure — `memory.grow` returns -1 —
 * instead of the host allocating gigabytes per worker. A module whose *initial* size is over the
 * cap could never be instantiated: it is refused, naming its size (MemoryOverCap). Imported memories and memory64 are left as they are
 * (the engine's components define their own 32-bit memory).
 */

export const PAGE = 65536;

function readU32(bytes: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    if (b === undefined) throw new RangeError('unexpected end');
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result >>> 0, pos];
    shift += 7;
    if (shift > 28) throw new RangeError('LEB128 too long');
  }
}

function u32(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value >>>= 7;
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

/** Thrown by `capMemory` for a memory that starts larger than the cap: the loader words it for the user. */
export class MemoryOverCap extends RangeError {
  constructor(readonly initialPages: number) {
    super(`linear memory starts at ${initialPages} pages, more than the cap`);
  }
}

/**
 * The core module with its memories' maximum lowered to `maxPages`; the same bytes when nothing
 * changes. Throws MemoryOverCap when a memory starts with more than `maxPages`.
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (bytes.length < 8 || bytes[4] !== 1) return bytes; // not a core module (version 1)
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const [size, body] = readU32(bytes, pos + 1);
    const end = body + size;
    if (id === 5) {
      let [count, p] = readU32(bytes, body);
      const out: number[] = [...u32(count)];
      let changed = false;
      for (; count > 0; count--) {
        const flags = bytes[p++]!;
        if ((flags & ~0x01) !== 0) return bytes; // shared or memory64: not ours to change
        let min: number;
        [min, p] = readU32(bytes, p);
        let max = Infinity;
        if (flags & 1) [max, p] = readU32(bytes, p);
        if (min > maxPages) throw new MemoryOverCap(min);
        const capped = Math.min(max, maxPages);
        if (capped !== max) changed = true;
        out.push(0x01, ...u32(min), ...u32(capped));
      }
      if (!changed) return bytes;
      const section = [5, ...u32(out.length), ...out];
      const result = new Uint8Array(pos + section.length + (bytes.length - end));
      result.set(bytes.subarray(0, pos), 0);
      result.set(section, pos);
      result.set(bytes.subarray(end), pos + section.length);
      return result;
    }
    pos = end;
  }
  return bytes;
}
