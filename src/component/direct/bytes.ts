/**
 * Byte-level helpers of the direct bindings' lowering (guest.ts): UTF-8 lengths, decimal digits
 * written without a string, and the staging of shared payloads for a word-wise copy.
 */

/** Bytes of `s` in UTF-8 (a lone surrogate counts as U+FFFD's 3). */
export function utf8Length(s: string): number {
  let len = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) len += 1;
    else if (c < 0x800) len += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      len += 4;
      i++;
    } else len += 3; // BMP, or a lone surrogate (encoded as U+FFFD, 3 bytes)
  }
  return len;
}

/** Shared payloads from this size are staged through private memory when their guest offset is not congruent. */
export const STAGE_FROM = 2048;
let staging = new Uint8Array(0);

/** `bytes` (in shared memory) copied into private memory at the same offset mod 8: word-wise. */
export function stage(bytes: Uint8Array): Uint8Array {
  const need = bytes.length + 8;
  if (staging.length < need) staging = new Uint8Array(Math.max(need, staging.length * 2));
  const view = staging.subarray(bytes.byteOffset & 7, (bytes.byteOffset & 7) + bytes.length);
  view.set(bytes);
  return view;
}

/** Digits of a non-negative safe integer. */
export function decimalLength(n: number): number {
  let len = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) len++;
  return len;
}

/** Writes the `len` decimal digits of a non-negative safe integer at u8[at…]. */
export function writeDecimal(u8: Uint8Array, at: number, len: number, n: number): void {
  for (let i = at + len - 1, x = n; i >= at; i--, x = Math.floor(x / 10)) u8[i] = 48 + (x % 10);
}
