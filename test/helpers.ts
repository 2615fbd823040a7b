import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoryBroker } from '../src/brokers/memory.js';
import { type CompiledComponent, loadComponent } from '../src/component/load.js';
import type { Engine } from '../src/engine/engine.js';
import type { EngineStats } from '../src/engine/stats.js';

/** Repository root (tests run from dist/test, compiled). */
export const root = fileURLToPath(new URL('../../', import.meta.url));
export const at = (...p: string[]): string => join(root, ...p);

export const examples = {
  noop: at('examples/noop-wat/noop.wasm'),
  enrich: at('examples/enrich-c/enrich.wasm'),
  fizzbuzz: at('examples/fizzbuzz-js/fizzbuzz.wasm'),
  echo: at('examples/echo-wat/echo.wasm'),
  shout: at('examples/shout-js/shout.wasm'),
  spin: at('examples/spin-wat/spin.wasm'),
  batch: at('examples/batch-wat/batch.wasm'),
} as const;

export const fixture = (name: string): string => at('test/fixtures', `${name}.wasm`);

/** One transpile cache per test process, in a fresh temporary directory. */
export const cacheDir = mkdtempSync(join(tmpdir(), 'wasmsg-test-cache-'));

/**
 * Starts an engine with the one broker `url` (its subscription to `in`: `subscription` adds to it)
 * in a process of its own, as a library caller would; how its start() ended, how long it took and
 * how long the process lived on after it (nothing left should hold it).
 */
export function startAlone(
  url: string,
  options: Record<string, unknown> = {},
  subscription: Record<string, unknown> = {},
  /** The process is killed after this long (then `signal` is set). */
  timeoutMs = 30_000,
): {
  signal: NodeJS.Signals | null;
  stderr: string;
  code?: string;
  message?: string;
  context?: Record<string, unknown>;
  took?: number;
  lingered?: number;
} {
  const script = `
    import { Engine } from ${JSON.stringify(at('dist/src/index.js'))};
    const engine = new Engine({
      workers: 1,
      cacheDir: process.env.CACHE,
      brokers: [{ name: 'b', url: process.env.URL, options: JSON.parse(process.env.OPTIONS) }],
      components: [{ path: process.env.COMPONENT, subscriptions: [{ broker: 'b', channel: 'in', ...JSON.parse(process.env.SUBSCRIPTION) }] }],
    });
    let code, message, context, took, rejectedAt;
    process.on('exit', () =>
      console.log(JSON.stringify({ code, message, context, took, lingered: performance.now() - rejectedAt })),
    );
    const began = performance.now();
    try { await engine.start(); } catch (e) {
      ({ code, message, context } = e);
      rejectedAt = performance.now();
      took = rejectedAt - began;
    }
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: {
      ...process.env,
      CACHE: cacheDir,
      COMPONENT: examples.noop,
      URL: url,
      OPTIONS: JSON.stringify(options),
      SUBSCRIPTION: JSON.stringify(subscription),
    },
    timeout: timeoutMs,
  });
  return { signal: r.signal, stderr: r.stderr, ...(r.signal === null ? (JSON.parse(r.stdout) as object) : {}) };
}

const loaded = new Map<string, Promise<CompiledComponent>>();
export function load(file: string): Promise<CompiledComponent> {
  let p = loaded.get(file);
  if (p === undefined) {
    p = loadComponent(file, { cacheDir });
    loaded.set(file, p);
  }
  return p;
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * Starts `engine`, produces `values` (text) into `memory`'s channel `in`, waits until every one
 * of them settled and stops the engine; returns its stats as they were when the last settled.
 */
export async function settleValues(
  engine: Engine,
  memory: MemoryBroker,
  values: readonly string[],
): Promise<EngineStats> {
  await engine.start();
  const done = engine.waitForSettled(values.length);
  for (const v of values) memory.produce('in', { value: text(v) });
  await done;
  const s = engine.snapshot();
  await engine.stop();
  return s;
}

/**
 * `promise`, or a rejection naming `what` if it has not settled within `ms`: a guard that turns a
 * hang (the bug a test looks for) into a failure, not a wait that synchronises anything.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Copies what this process writes to stderr into `lines` (still written) until `release()`: for
 * tests that read the engine's log lines (JSON, one a write).
 */
export function captureStderr(): { lines: string[]; release: () => void } {
  const lines: string[] = [];
  // One wrapper for every capture at once: tests of suites running concurrently capture too,
  // and a wrapper each, released out of order, put back a write that skipped a capture still
  // open (integration/kafka.test.ts's old-group warning went missing once in a full run)
  if (captures.size === 0) {
    const write = process.stderr.write.bind(process.stderr);
    restoreStderr = () => void (process.stderr.write = write);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      for (const capture of captures) capture.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stderr.write;
  }
  captures.add(lines);
  return {
    lines,
    release: () => {
      if (captures.delete(lines) && captures.size === 0) restoreStderr();
    },
  };
}

const captures = new Set<string[]>();
let restoreStderr = (): void => {};
