import { ComponentFormatError, ErrorCode } from '../errors.js';

/**
 * Cheap structural checks on the bytes, before anything expensive runs: is this WebAssembly at
 * all, a component rather than a core module, and are all its sections complete? wasm-tools
 * would fail on each of these too, but with a parser message; the user gets a plain one.
 */

const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const; // "\0asm"
/** Preamble after the magic: version (u16 LE) + layer (u16 LE). Core = 1/0, component = 0x0d/1. */
const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
const COMPONENT_LAYER = 1;
const PREAMBLE_BYTES = 8;

function hex(bytes: Uint8Array, from: number, to: number): string {
  return Array.from(bytes.subarray(from, to), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Throws a ComponentFormatError unless `bytes` is a complete component binary. */
export function checkComponentBinary(bytes: Uint8Array, source: string): void {
  const ctx = { file: source, size: bytes.length };
  if (bytes.length < PREAMBLE_BYTES) {
    const prefixMatches = MAGIC.every((b, i) => i >= bytes.length || bytes[i] === b);
    if (bytes.length > 0 && prefixMatches) {
      throw new ComponentFormatError(
        ErrorCode.truncated,
        `${source}: truncated: ${bytes.length} bytes, shorter than the 8-byte WebAssembly preamble`,
        ctx,
      );
    }
    throw new ComponentFormatError(
      ErrorCode.notWasm,
      `${source}: not a WebAssembly binary (${bytes.length} bytes, no "\\0asm" magic)`,
      ctx,
    );
  }
  if (!MAGIC.every((b, i) => bytes[i] === b)) {
    throw new ComponentFormatError(
      ErrorCode.notWasm,
      `${source}: not a WebAssembly binary (starts with ${hex(bytes, 0, 4)}, expected 00 61 73 6d)`,
      ctx,
    );
  }
  if (CORE_VERSION.every((b, i) => bytes[4 + i] === b)) {
    throw new ComponentFormatError(
      ErrorCode.coreModule,
      `${source}: is a core WebAssembly module, not a component; wrap it with 'jco new' (wasm-tools component new) after embedding a wasi:messaging world`,
      ctx,
    );
  }
  const layer = bytes[6]! | (bytes[7]! << 8);
  if (layer !== COMPONENT_LAYER) {
    throw new ComponentFormatError(
      ErrorCode.malformed,
      `${source}: unknown WebAssembly binary version/layer (${hex(bytes, 4, 8)})`,
      ctx,
    );
  }
  walkSections(bytes, source);
}

/** Every section is `id:u8 size:u32leb payload[size]`; a section running past the end means truncation. */
function walkSections(bytes: Uint8Array, source: string): void {
  let pos = PREAMBLE_BYTES;
  let index = 0;
  while (pos < bytes.length) {
    const start = pos;
    pos += 1; // section id
    let size = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) {
        throw truncated(source, bytes.length, index, start, 'its size is cut off');
      }
      const b = bytes[pos++]!;
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
      if (shift > 35) {
        throw new ComponentFormatError(ErrorCode.malformed, `${source}: malformed section size at byte ${start}`, {
          file: source,
          offset: start,
        });
      }
    }
    if (pos + size > bytes.length) {
      throw truncated(
        source,
        bytes.length,
        index,
        start,
        `it declares ${size} bytes but only ${bytes.length - pos} remain`,
      );
    }
    pos += size;
    index++;
  }
}

function truncated(source: string, size: number, index: number, offset: number, why: string): ComponentFormatError {
  return new ComponentFormatError(
    ErrorCode.truncated,
    `${source}: truncated: section ${index} at byte ${offset} is incomplete (${why}; file is ${size} bytes)`,
    { file: source, size, section: index, offset },
  );
}
