import type { MessagingError } from '../types.js';
import { REALLOC_SIG } from './fit.js';
import { trap } from './traps.js';
import { STAGE_FROM, decimalLength, stage, utf8Length, writeDecimal } from './bytes.js';

/**
 * The guest side of the direct binding: one core instance, its memory, `cabi_realloc` and the
 * canonical ABI's lowering and lifting of strings, byte lists and the error variant, with the
 * guards the spec requires. Runs in whichever thread holds the instance (the engine's workers).
 *
 * Memory growth: any realloc, guest call or host-import entry may grow the guest's memory, which
 * detaches the old ArrayBuffer and leaves every view on it with length 0. `u8`/`dv` are refreshed
 * after each realloc and at each host-import entry (`enter()`), so a view is never used stale.
 */

export { GuestTrap, trap, trapMessage } from './traps.js';

/** The parts of the WebAssembly JS API used here (@types/node declares only Module and compile). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
export const Wasm = WebAssembly as unknown as {
  readonly Instance: new (module: WebAssembly.Module, imports: object) => WasmInstance;
  readonly Memory: abstract new (...args: never[]) => WasmMemory;
};
export type Imports = Record<string, Record<string, (...args: number[]) => number | void>>;

const encoder = new TextEncoder();
/** Non-fatal and BOM-stripping, as jco's lifting (and so the differential oracle) decodes. */
const decoder = new TextDecoder();
const ERROR_TAG: Readonly<Record<MessagingError['tag'], number>> = {
  timeout: 0,
  connection: 1,
  'permission-denied': 2,
  other: 3,
};
const ERROR_NAMES = ['timeout', 'connection', 'permission-denied', 'other'] as const;
/** Strings up to this many UTF-16 units are copied by a JS loop; longer ones by encodeInto. */
const SHORT_STRING = 48;

export interface CoreExports {
  readonly memory: WasmMemory;
  readonly realloc: (old: number, oldSize: number, align: number, size: number) => number;
  readonly handler: (...args: number[]) => number;
  readonly postReturn: ((ret: number) => void) | undefined;
}

export class Guest {
  readonly memory: WasmMemory;
  u8: Uint8Array;
  dv: DataView;
  private readonly reallocFn: CoreExports['realloc'];
  readonly handler: CoreExports['handler'];
  private readonly postReturnFn: CoreExports['postReturn'];
  /** may-enter: false while a call into the guest is running (no re-entrance). */
  private mayEnter = true;
  /** may-leave: false during post-return (no host calls, no realloc). */
  private mayLeave = true;

  constructor(instance: WasmInstance, handlerExport: string, postReturnExport: string) {
    const e = instance.exports;
    const memory = e['memory'];
    const realloc = e['cabi_realloc'];
    const handler = e[handlerExport];
    if (!(memory instanceof Wasm.Memory) || typeof realloc !== 'function' || typeof handler !== 'function') {
      throw new Error(`core instance lacks memory, cabi_realloc (${REALLOC_SIG}) or ${handlerExport}`);
    }
    this.memory = memory;
    this.reallocFn = realloc as CoreExports['realloc'];
    this.handler = handler as CoreExports['handler'];
    const post = e[postReturnExport];
    this.postReturnFn = typeof post === 'function' ? (post as CoreExports['postReturn']) : undefined;
    this.u8 = new Uint8Array(memory.buffer);
    this.dv = new DataView(memory.buffer);
  }

  /** Re-reads the views if the memory grew (a grown memory detaches the old buffer). */
  refresh(): void {
    // A non-shared memory's buffer is detached when it grows, so a stale view has length 0;
    // reading `memory.buffer` (a getter) on every call showed in profiles.
    if (this.u8.length === 0) {
      this.u8 = new Uint8Array(this.memory.buffer);
      this.dv = new DataView(this.memory.buffer);
    }
  }

  /** Entry of every host import: the may-leave guard and fresh views. */
  enter(): void {
    if (!this.mayLeave) trap('a host import was called during post-return (may-leave is false)');
    if (this.u8.length === 0) this.refresh();
  }

  /** Calls the guest's export; `args` are its core parameters. Returns the core result. */
  callExport(a0: number): number {
    if (!this.mayEnter) trap('the component was re-entered (may-enter is false)');
    this.mayEnter = false;
    try {
      const ret = this.handler(a0);
      this.refresh();
      return ret;
    } finally {
      this.mayEnter = true;
    }
  }

  callExport2(a0: number, a1: number): number {
    if (!this.mayEnter) trap('the component was re-entered (may-enter is false)');
    this.mayEnter = false;
    try {
      const ret = this.handler(a0, a1);
      this.refresh();
      return ret;
    } finally {
      this.mayEnter = true;
    }
  }

  /**
   * Calls the handler export with one core argument and lifts its `result<_, error>` (worlds A
   * and B: tag at the returned pointer, the error variant at +4), then runs post-return.
   */
  callForResult(a0: number): MessagingError | null {
    const ret = this.callExport(a0) >>> 0;
    this.check(ret, 16, 4);
    const tag = this.u8[ret]!;
    let error: MessagingError | null = null;
    if (tag === 1) error = this.loadError(ret + 4);
    else if (tag !== 0) trap(`invalid result discriminant ${tag}`);
    this.postReturn(ret);
    return error;
  }

  /** Calls another export of no parameters (world C's configure) under the same guards. */
  callExportFn(fn: () => number): number {
    if (!this.mayEnter) trap('the component was re-entered (may-enter is false)');
    this.mayEnter = false;
    try {
      const ret = fn();
      this.refresh();
      return ret;
    } finally {
      this.mayEnter = true;
    }
  }

  postReturn(ret: number): void {
    if (this.postReturnFn !== undefined) this.postReturnWith(this.postReturnFn, ret);
  }

  /** Runs a post-return function: no host calls (may-leave) and no re-entrance meanwhile. */
  postReturnWith(fn: (ret: number) => void, ret: number): void {
    this.mayLeave = false;
    this.mayEnter = false;
    try {
      fn(ret);
    } finally {
      this.mayLeave = true;
      this.mayEnter = true;
    }
  }

  /** realloc(0, 0, align, size), checked: aligned and inside memory. */
  alloc(align: number, size: number): number {
    const ptr = this.reallocFn(0, 0, align, size) >>> 0;
    this.refresh();
    if ((ptr & (align - 1)) !== 0) trap(`cabi_realloc returned ${ptr}, not aligned to ${align}`);
    if (ptr + size > this.u8.length) trap(`cabi_realloc returned ${ptr}..${ptr + size}, past the end of memory`);
    return ptr;
  }

  /** realloc(ptr, old, 1, size), checked: a byte block grown in place or moved. */
  private grow(ptr: number, old: number, size: number): number {
    const out = this.reallocFn(ptr, old, 1, size) >>> 0;
    this.refresh();
    if (out + size > this.u8.length) trap(`cabi_realloc returned ${out}..${out + size}, past the end of memory`);
    return out;
  }

  /** Checks that [ptr, ptr+size) is inside memory and ptr is aligned. */
  check(ptr: number, size: number, align: number): void {
    // an i32 reaches JS signed: a pointer ≥ 2 GiB (or a huge length) would pass as negative
    ptr >>>= 0;
    size >>>= 0;
    if ((ptr & (align - 1)) !== 0) trap(`pointer ${ptr} is not aligned to ${align}`);
    if (ptr + size > this.u8.length) trap(`pointer ${ptr}..${ptr + size} is past the end of memory`);
  }

  // ---- lowering (host → guest) ----

  /**
   * Lowers a string and stores its (ptr, len) at `at`. "" is (1, 0) without a realloc, as jco
   * does. One pass for the usual ASCII string: one byte per UTF-16 unit is allocated and written
   * as it is read; at the first non-ASCII unit the exact UTF-8 length is measured, the block
   * grown with realloc(ptr, n, 1, exact) (as the canonical ABI's own lowering does) and the whole
   * string encoded again (a guest's realloc need not copy).
   */
  storeString(at: number, s: string): void {
    const n = s.length;
    let ptr = 1;
    let len = 0;
    if (n > SHORT_STRING) {
      len = utf8Length(s);
      ptr = this.alloc(1, len);
      encoder.encodeInto(s, this.u8.subarray(ptr, ptr + len));
    } else if (n > 0) {
      len = n;
      ptr = this.alloc(1, n);
      const u8 = this.u8;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          len = utf8Length(s);
          ptr = this.grow(ptr, n, len);
          encoder.encodeInto(s, this.u8.subarray(ptr, ptr + len));
          break;
        }
        u8[ptr + i] = c;
      }
    }
    const dv = this.dv;
    dv.setUint32(at, ptr, true);
    dv.setUint32(at + 4, len, true);
  }

  /** Lowers a string already encoded (ASCII constants) and stores (ptr, len) at `at`. */
  storeAscii(at: number, bytes: Uint8Array): void {
    const n = bytes.length;
    const ptr = this.alloc(1, n);
    const u8 = this.u8;
    for (let i = 0; i < n; i++) u8[ptr + i] = bytes[i]!;
    const dv = this.dv;
    dv.setUint32(at, ptr, true);
    dv.setUint32(at + 4, n, true);
  }

  /**
   * Lowers the decimal digits of `n` (a string) and stores (ptr, len) at `at`: for a
   * non-negative safe integer the digits are written straight into guest memory (no string is
   * made); anything else goes through `String(n)`.
   */
  storeDecimal(at: number, n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      this.storeString(at, String(n));
      return;
    }
    const len = decimalLength(n);
    const ptr = this.alloc(1, len);
    writeDecimal(this.u8, ptr, len, n);
    const dv = this.dv;
    dv.setUint32(at, ptr, true);
    dv.setUint32(at + 4, len, true);
  }

  /** Lowers bytes (list<u8>) and stores (ptr, len) at `at`. */
  storeBytes(at: number, bytes: Uint8Array): void {
    const len = bytes.length;
    const ptr = this.alloc(1, len);
    if (len >= STAGE_FROM && ((bytes.byteOffset - ptr) & 7) !== 0 && bytes.buffer instanceof SharedArrayBuffer) {
      // shared → guest at offsets not congruent mod 8 copies a byte at a time: two word-wise copies are faster
      const staged = stage(bytes);
      this.u8.set(staged, ptr);
    } else if (len > 0) this.u8.set(bytes, ptr);
    const dv = this.dv;
    dv.setUint32(at, ptr, true);
    dv.setUint32(at + 4, len, true);
  }

  /** list<tuple<string,string>>: 16-byte elements, align 4; stores (ptr, len) at `at`. */
  storePairs(at: number, pairs: ReadonlyArray<readonly [string, string]>): void {
    const n = pairs.length;
    const base = this.alloc(4, n * 16);
    for (let i = 0; i < n; i++) {
      const p = pairs[i]!;
      this.storeString(base + i * 16, p[0]);
      this.storeString(base + i * 16 + 8, p[1]);
    }
    this.dv.setUint32(at, base, true);
    this.dv.setUint32(at + 4, n, true);
  }

  /** result<_, error> at `ret` (16 bytes, align 4). */
  storeResult(ret: number, error: MessagingError | null): void {
    this.check(ret, 16, 4);
    if (error === null) {
      this.u8[ret] = 0;
      return;
    }
    this.u8[ret] = 1;
    this.storeError(ret + 4, error);
  }

  /**
   * A host-side `open`/`connect`: lifts the name, checks it (null: allowed) and stores
   * result<own<resource>, error> at `ret` (16 bytes: tag, then the handle or the error at +4).
   */
  openNamed(
    ptr: number,
    len: number,
    ret: number,
    check: (name: string) => MessagingError | null,
    own: (name: string) => number,
  ): void {
    this.enter();
    const name = this.loadString(ptr, len);
    this.check(ret, 16, 4);
    const denied = check(name);
    if (denied !== null) {
      this.u8[ret] = 1;
      this.storeError(ret + 4, denied);
      return;
    }
    const handle = own(name);
    this.u8[ret] = 0;
    this.dv.setInt32(ret + 4, handle, true);
  }

  /** The error variant at `at` (tag byte, then its string at +4). */
  storeError(at: number, error: MessagingError): void {
    this.u8[at] = ERROR_TAG[error.tag];
    if (error.tag !== 'timeout') this.storeString(at + 4, error.val);
  }

  // ---- lifting (guest → host) ----

  loadString(ptr: number, len: number): string {
    ptr >>>= 0; // unsigned, as check
    len >>>= 0;
    if (ptr + len > this.u8.length) trap(`string ${ptr}..${ptr + len} is past the end of memory`);
    const u8 = this.u8;
    if (len <= SHORT_STRING) {
      let s = '';
      for (let i = 0; i < len; i++) {
        const c = u8[ptr + i]!;
        if (c >= 0x80) return decoder.decode(u8.subarray(ptr, ptr + len));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return decoder.decode(u8.subarray(ptr, ptr + len));
  }

  /** The string whose (ptr, len) is stored at `at`. */
  loadStringAt(at: number): string {
    return this.loadString(this.dv.getUint32(at, true), this.dv.getUint32(at + 4, true));
  }

  /** A copy of list<u8> bytes: the guest's memory is reused after the call. */
  loadBytes(ptr: number, len: number): Uint8Array {
    ptr >>>= 0; // unsigned, as check
    len >>>= 0;
    if (ptr + len > this.u8.length) trap(`list ${ptr}..${ptr + len} is past the end of memory`);
    return this.u8.slice(ptr, ptr + len);
  }

  /** Copies list<u8> bytes into `out.buf` at `out.at` (advanced); returns the view of them there. */
  copyInto(ptr: number, len: number, out: { buf: Uint8Array; at: number }): Uint8Array {
    ptr >>>= 0; // unsigned, as check
    len >>>= 0;
    if (ptr + len > this.u8.length) trap(`list ${ptr}..${ptr + len} is past the end of memory`);
    if (out.at + len > out.buf.length) trap('list lengths changed while they were read');
    out.buf.set(this.u8.subarray(ptr, ptr + len), out.at);
    const view = out.buf.subarray(out.at, out.at + len);
    out.at += len;
    return view;
  }

  /** list<tuple<string,string>> whose (ptr, len) is stored at `at`. */
  loadPairsAt(at: number): Array<[string, string]> {
    const base = this.dv.getUint32(at, true);
    const n = this.dv.getUint32(at + 4, true);
    this.check(base, n * 16, 4);
    const out: Array<[string, string]> = new Array(n);
    for (let i = 0; i < n; i++) out[i] = [this.loadStringAt(base + i * 16), this.loadStringAt(base + i * 16 + 8)];
    return out;
  }

  /** The error variant at `at`. */
  loadError(at: number): MessagingError {
    const tag = this.u8[at]!;
    const name = ERROR_NAMES[tag];
    if (name === undefined) trap(`invalid error discriminant ${tag}`);
    if (name === 'timeout') return { tag: name };
    return { tag: name, val: this.loadStringAt(at + 4) };
  }
}
