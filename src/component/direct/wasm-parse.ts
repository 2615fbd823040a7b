/**
 * Just enough of the WebAssembly binary formats to decide whether a component fits the direct
 * binding: a core module's function imports and exports with their signatures (the JS API
 * gives names and kinds only, and a JS import accepts any arity, so a wrong signature would not
 * fail at instantiation), and a component's canonical-ABI options (string encoding, memory,
 * realloc, post-return). Anything this reader does not understand makes it return `null` or a
 * reason: the caller then keeps jco's glue, never guesses.
 */

const VALTYPES: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128' };

/** A core function signature as text, e.g. `i32,i32->i32` (for comparison with the expected shape). */
export type Signature = string;

export interface CoreShape {
  /** `module#name` → signature, function imports only. */
  readonly funcImports: Map<string, Signature>;
  /** Kinds of non-function imports (`table`, `memory`, `global`, `tag`), by `module#name`. */
  readonly otherImports: string[];
  /** Export name → signature for functions, or the kind (`memory`, `table`, `global`) otherwise. */
  readonly exports: Map<string, Signature>;
}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.end) throw new RangeError('unexpected end');
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 28) throw new RangeError('LEB128 too long');
    }
  }
  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw new RangeError('name past the end');
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  skipLimits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

const KIND = ['func', 'table', 'memory', 'global', 'tag'] as const;

/** Reads a core module's function signatures; null when it uses anything this reader does not know. */
export function readCoreShape(bytes: Uint8Array): CoreShape | null {
  try {
    return readCore(bytes);
  } catch {
    return null;
  }
}

function readCore(bytes: Uint8Array): CoreShape | null {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[4] !== 1 || bytes[6] !== 0) return null;
  const types: Signature[] = [];
  const funcTypes: number[] = []; // function index space → type index
  const funcImports = new Map<string, Signature>();
  const otherImports: string[] = [];
  const exports = new Map<string, Signature>();
  const r = new Reader(bytes, 8, bytes.length);
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const s = new Reader(bytes, r.pos, r.pos + size);
    r.pos += size;
    if (id === 1) {
      for (let n = s.u32(); n > 0; n--) {
        if (s.byte() !== 0x60) return null; // GC types, rec groups: not ours
        const sig: string[][] = [[], []];
        for (const part of sig) {
          for (let k = s.u32(); k > 0; k--) {
            const t = VALTYPES[s.byte()];
            if (t === undefined) return null;
            part.push(t);
          }
        }
        types.push(`${sig[0]!.join(',')}->${sig[1]!.join(',')}`);
      }
    } else if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        const key = `${s.name()}#${s.name()}`;
        const kind = s.byte();
        if (kind === 0) {
          const t = s.u32();
          funcTypes.push(t);
          const sig = types[t];
          if (sig === undefined) return null;
          funcImports.set(key, sig);
        } else if (kind === 1) {
          s.byte();
          s.skipLimits();
          otherImports.push(`table ${key}`);
        } else if (kind === 2) {
          s.skipLimits();
          otherImports.push(`memory ${key}`);
        } else if (kind === 3) {
          s.byte();
          s.byte();
          otherImports.push(`global ${key}`);
        } else return null;
      }
    } else if (id === 3) {
      for (let n = s.u32(); n > 0; n--) funcTypes.push(s.u32());
    } else if (id === 7) {
      for (let n = s.u32(); n > 0; n--) {
        const name = s.name();
        const kind = s.byte();
        const index = s.u32();
        if (kind === 0) {
          const sig = types[funcTypes[index] ?? -1];
          if (sig === undefined) return null;
          exports.set(name, sig);
        } else exports.set(name, KIND[kind] ?? 'unknown');
      }
    }
  }
  return { funcImports, otherImports, exports };
}

/** What the component's canon section says, as far as the direct binding cares. */
export interface CanonShape {
  readonly lifts: ReadonlyArray<{ readonly memory: boolean; readonly realloc: boolean; readonly postReturn: boolean }>;
  readonly lowers: number;
  /** Why the options do not fit (a non-UTF-8 string encoding, async, an unknown canon), or null. */
  readonly unfit: string | null;
  /** Nested components (type-ascription wrappers), and top-level core modules. */
  readonly nestedComponents: number;
  readonly coreModules: number;
}

/** What code a nested component holds (core modules, canon definitions), or null for none. */
function nestedCode(bytes: Uint8Array, start: number, end: number): string | null {
  const r = new Reader(bytes, start + 8, end);
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const at = r.pos;
    r.pos += size;
    if (id === 1) return 'a core module';
    if (id === 2) return 'core instances';
    if (id === 8) return 'canonical definitions';
    if (id === 4) {
      const inner = nestedCode(bytes, at, at + size);
      if (inner !== null) return inner;
    }
  }
  return null;
}

const COMPONENT_PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/** Reads a component's top-level canon definitions; null if the bytes are not a component it can read. */
export function readCanonShape(bytes: Uint8Array): CanonShape | null {
  try {
    return readCanon(bytes);
  } catch {
    return null;
  }
}

function readCanon(bytes: Uint8Array): CanonShape | null {
  if (COMPONENT_PREAMBLE.some((b, i) => bytes[i] !== b)) return null;
  const lifts: Array<{ memory: boolean; realloc: boolean; postReturn: boolean }> = [];
  let lowers = 0;
  let unfit: string | null = null;
  let nestedComponents = 0;
  let coreModules = 0;
  const r = new Reader(bytes, 8, bytes.length);
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const s = new Reader(bytes, r.pos, r.pos + size);
    r.pos += size;
    if (id === 1) coreModules++;
    else if (id === 4) {
      // wit-component wraps exported interfaces in a nested component (type ascription only):
      // fine as long as it holds no code of its own
      nestedComponents++;
      const inner = nestedCode(bytes, s.pos, s.end);
      if (inner !== null) unfit ??= `a nested component with ${inner}`;
    } else if (id === 8) {
      for (let n = s.u32(); n > 0; n--) {
        const op = s.byte();
        if (op === 0x00 || op === 0x01) {
          if (s.byte() !== 0x00) return null;
          s.u32(); // function index
          const opts = { memory: false, realloc: false, postReturn: false };
          for (let k = s.u32(); k > 0; k--) {
            const opt = s.byte();
            if (opt === 0x00)
              continue; // string-encoding=utf8
            else if (opt === 0x01 || opt === 0x02) unfit ??= 'a UTF-16 or Latin-1 string encoding';
            else if (opt === 0x03) {
              s.u32();
              opts.memory = true;
            } else if (opt === 0x04) {
              s.u32();
              opts.realloc = true;
            } else if (opt === 0x05) {
              s.u32();
              opts.postReturn = true;
            } else
              return {
                lifts,
                lowers,
                unfit: `canonical option 0x${opt.toString(16)} (async or newer)`,
                nestedComponents,
                coreModules,
              };
          }
          if (op === 0x00) {
            s.u32(); // type index
            lifts.push(opts);
          } else lowers++;
        } else if (op === 0x02 || op === 0x03 || op === 0x04) {
          s.u32(); // resource.new / resource.drop / resource.rep of a resource type
        } else {
          return {
            lifts,
            lowers,
            unfit: `canonical built-in 0x${op.toString(16)} (async or threads)`,
            nestedComponents,
            coreModules,
          };
        }
      }
    }
  }
  return { lifts, lowers, unfit, nestedComponents, coreModules };
}
