import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ComponentFormatError, ComponentLinkError, ErrorCode, OptionError, describe } from '../errors.js';
import { checkComponentBinary } from './binary.js';
import { MemoryOverCap, PAGE, capMemory } from './memory-cap.js';
import { defaultComponentName } from './name.js';
import { type CacheEntry, defaultCacheDir, readEntry, sha256, writeEntry } from './cache.js';
import { type BindingChoice, chooseBinding } from './direct/fit.js';
import { type WorldFamily, type WorldIdValue, detectWorld, parseWorldItems } from './worlds.js';

/** What wasmsg knows about a component without running it. Plain data. */
export interface ComponentInfo {
  /** Short name used in logs and errors (the file's base name without `.wasm`). */
  readonly name: string;
  readonly source: string;
  /** sha256 of the component bytes. */
  readonly hash: string;
  readonly size: number;
  readonly world: WorldIdValue;
  readonly family: WorldFamily;
  readonly imports: readonly string[];
  readonly exports: readonly string[];
  readonly wasi: boolean;
  /** Which binding runs it by default (the direct canonical-ABI binding or jco's glue), and why. */
  readonly binding: BindingChoice;
}

/**
 * A component ready to instantiate: jco's glue (an ES module file in the cache) and its core
 * modules compiled once. Structured-cloneable, so it can be posted to worker threads, which
 * instantiate it without transpiling or compiling anything.
 */
export interface CompiledComponent extends ComponentInfo {
  readonly glueUrl: string;
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
}

export interface LoadOptions {
  /** Directory of the transpile cache (default $WASMSG_CACHE_DIR, else ~/.cache/wasmsg). */
  readonly cacheDir?: string;
  /** Name for logs; default: the file's base name. */
  readonly name?: string;
  /**
   * The most linear memory a guest may have, in bytes (default 256 MiB): past it `memory.grow`
   * returns -1 (see memory-cap.ts). Rounded up to whole 64 KiB pages.
   */
  readonly maxMemoryBytes?: number;
  /** Told when a corrupt cache entry is found and rebuilt. */
  readonly onCacheEvent?: (event: { kind: 'hit' | 'miss' | 'corrupt'; key: string; why?: string }) => void;
}

/** The largest component file read (JS components are ≈12 MiB). */
export const MAX_COMPONENT_BYTES = 512 * 1024 * 1024;

/** Default cap on a guest's linear memory (LoadOptions.maxMemoryBytes). */
export const DEFAULT_MAX_MEMORY = 256 * 1024 * 1024;

const GLUE = 'component.mjs';
/**
 * Bumped whenever what the cache stores for the same transpiler and component changes (so old
 * entries are rebuilt): 2 = the glue's `_debugLog` calls removed (see `quietGlue`).
 */
const GLUE_REVISION = 2;
const GLUE_NAME = 'component';

let transpilerVersion: string | undefined;
async function getTranspilerVersion(): Promise<string> {
  if (transpilerVersion === undefined) {
    const entry = new URL(import.meta.resolve('@bytecodealliance/jco-transpile'));
    const pkg = JSON.parse(await readFile(new URL('../package.json', entry), 'utf8')) as { version: string };
    transpilerVersion = pkg.version;
  }
  return transpilerVersion;
}

async function readSource(source: string | Uint8Array): Promise<{ bytes: Uint8Array; label: string }> {
  if (source instanceof Uint8Array) return { bytes: source, label: '<bytes>' };
  if (typeof source !== 'string') {
    throw new OptionError(
      ErrorCode.badOption,
      `component source must be a file path or a Uint8Array, got ${typeof source}`,
      {
        option: 'source',
      },
    );
  }
  try {
    // a component is a regular file of bounded size: /dev/zero, a FIFO or a 10 GB file is refused
    // before it is read (reading one used to run the host out of memory)
    const info = await stat(source);
    if (info.isFile() && info.size > MAX_COMPONENT_BYTES) {
      throw new ComponentFormatError(
        ErrorCode.badInput,
        `${source}: ${info.size} bytes, more than a component may have (${MAX_COMPONENT_BYTES})`,
        { file: source, size: info.size },
      );
    }
    // (a directory is named as one, with the code the CLI gives it: before, it was read and
    // failed as E_FILE_NOT_FOUND, a code that says the path does not exist)
    if (info.isDirectory()) {
      throw new ComponentFormatError(
        ErrorCode.badInput,
        `${source}: is a directory (EISDIR), not a component file: name the .wasm inside it`,
        { file: source },
      );
    }
    if (!info.isFile()) {
      throw new ComponentFormatError(ErrorCode.badInput, `${source}: not a regular file`, { file: source });
    }
    return { bytes: await readFile(source), label: source };
  } catch (err) {
    if (err instanceof ComponentFormatError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ComponentFormatError(
      ErrorCode.fileNotFound,
      `${source}: cannot read component (${code === 'ENOENT' ? 'no such file' : describe(err)})`,
      { file: source },
    );
  }
}

async function transpileToCache(bytes: Uint8Array, label: string, cacheDir: string, key: string): Promise<CacheEntry> {
  const [{ transpileBytes }, { componentWit }] = await Promise.all([
    import('@bytecodealliance/jco-transpile'),
    import('@bytecodealliance/jco-transpile/wasm-tools'),
  ]);
  let wit: string;
  let out: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    wit = await componentWit(bytes);
    out = await transpileBytes(bytes, {
      name: GLUE_NAME,
      instantiation: 'sync',
      emitTypescriptDeclarations: false,
      nodejsCompat: true,
    });
  } catch (err) {
    throw new ComponentFormatError(
      ErrorCode.malformed,
      `${label}: malformed component: ${describe(err)}`,
      { file: label },
      { cause: err },
    );
  }
  const files = new Map<string, Uint8Array>();
  for (const [name, content] of Object.entries(out.files)) {
    if (name.endsWith('.d.ts')) continue;
    files.set(name === `${GLUE_NAME}.js` ? GLUE : name, name === `${GLUE_NAME}.js` ? quietGlue(content) : content);
  }
  if (!files.has(GLUE)) {
    throw new ComponentLinkError(ErrorCode.transpile, `${label}: jco produced no ${GLUE_NAME}.js`, { file: label });
  }
  return writeEntry(cacheDir, key, files, { wit });
}

const DEBUG_LOG_DEF =
  /const _debugLog = \(\.\.\.args\) => \{\s*if \(!globalThis\?\.process\?\.env\?\.JCO_DEBUG\) \{ return; \}\s*console\.debug\(\.\.\.args\);\s*\};/;

/**
 * jco 1.35's glue calls `_debugLog` about ten times per export call (more per host call), and
 * each call reads `process.env.JCO_DEBUG` and builds its arguments: 39 % of the glue's time
 * (../shared/BINDING.md). Each call site becomes `0 && _debugLog(...)`, so neither the call nor
 * its arguments are evaluated, and the definition a no-op. Glue of another shape is kept as is.
 */
export function quietGlue(content: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(content);
  if (!DEBUG_LOG_DEF.test(text)) return content;
  const quiet = text
    .replace(DEBUG_LOG_DEF, 'const _debugLog = () => {};')
    .replace(/(^|[;{}\s])_debugLog\(/g, '$10 && _debugLog(');
  return new TextEncoder().encode(quiet);
}

async function cachedTranspile(bytes: Uint8Array, label: string, hash: string, opts: LoadOptions): Promise<CacheEntry> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const key = `${await getTranspilerVersion()}-r${GLUE_REVISION}-${hash}`;
  const read = await readEntry(cacheDir, key);
  if (read.status === 'hit') {
    opts.onCacheEvent?.({ kind: 'hit', key });
    return read.entry;
  }
  opts.onCacheEvent?.(read.status === 'corrupt' ? { kind: 'corrupt', key, why: read.why } : { kind: 'miss', key });
  return transpileToCache(bytes, label, cacheDir, key);
}

function nameOf(label: string, opts: LoadOptions): string {
  return opts.name ?? defaultComponentName(label);
}

async function describeComponent(
  source: string | Uint8Array,
  opts: LoadOptions,
): Promise<{ info: ComponentInfo; entry: CacheEntry }> {
  const { bytes, label } = await readSource(source);
  checkComponentBinary(bytes, label);
  const hash = sha256(bytes);
  const entry = await cachedTranspile(bytes, label, hash, opts);
  const { imports, exports } = parseWorldItems(entry.manifest.wit);
  const world = detectWorld(imports, exports, label);
  const info: ComponentInfo = {
    name: nameOf(label, opts),
    source: label,
    hash,
    size: bytes.length,
    world: world.id,
    family: world.family,
    imports,
    exports,
    wasi: world.wasi,
    binding: chooseBinding(world.family, world.wasi, bytes, coreFiles(entry)),
  };
  return { info, entry };
}

function coreFiles(entry: CacheEntry): Map<string, Uint8Array> {
  const cores = new Map<string, Uint8Array>();
  for (const [name, bytes] of entry.files) if (name.endsWith('.wasm')) cores.set(name, bytes);
  return cores;
}

/** Reads, checks, recognises and (through the cache) transpiles a component. */
export async function inspectComponent(source: string | Uint8Array, opts: LoadOptions = {}): Promise<ComponentInfo> {
  return (await describeComponent(source, opts)).info;
}

/** `inspectComponent`, then compiles the core modules once: the result can be posted to workers. */
export async function loadComponent(source: string | Uint8Array, opts: LoadOptions = {}): Promise<CompiledComponent> {
  const { info, entry } = await describeComponent(source, opts);
  const modules: Record<string, WebAssembly.Module> = {};
  const maxPages = Math.ceil((opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY) / PAGE);
  for (const [name, bytes] of entry.files) {
    if (!name.endsWith('.wasm')) continue;
    try {
      modules[name] = await WebAssembly.compile(capMemory(bytes, maxPages));
    } catch (err) {
      if (err instanceof MemoryOverCap) {
        // (before: WebAssembly.compile's "maximum memory size (1 pages) is less than initial", naming no option)
        const initial = err.initialPages * PAGE;
        throw new OptionError(
          ErrorCode.badOption,
          `${info.source}: its core module ${name} starts with ${initial} bytes of linear memory, more than maxMemoryBytes (${opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY}): raise maxMemoryBytes to at least ${initial}`,
          { option: 'maxMemoryBytes', file: info.source, initialBytes: initial },
        );
      }
      throw new ComponentLinkError(
        ErrorCode.instantiate,
        `${info.source}: cannot compile core module ${name}: ${describe(err)}`,
        {
          file: info.source,
        },
      );
    }
  }
  return { ...info, glueUrl: pathToFileURL(join(entry.dir, GLUE)).href, modules };
}
