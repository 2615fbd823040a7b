import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, WasmsgError } from '../errors.js';

/**
 * The build tools a component project needs, from wasmsg's own installation (`wasmsg/toolchain`,
 * what the build scripts of `wasmsg new` import): jco-transpile's wasm-tools (parse WAT, embed a
 * WIT world into a core module, make the component) and ComponentizeJS for JavaScript.
 *
 * For build scripts only: `componentize` opens preview2-shim's filesystem to `/` in this process
 * (ComponentizeJS reads the WIT through it, and preview2-shim 0.26 denies files by default), so
 * never load it in a process that runs components in wasmsg's sandbox.
 */
import { parse as parseWat } from '@bytecodealliance/jco-transpile/wasm-tools';
export { componentEmbed, componentNew, print } from '@bytecodealliance/jco-transpile/wasm-tools';

/**
 * WAT text → a core module (wasm-tools parse). A mistake is an Error `file:line:col: message`
 * (1-based, as `wasm-tools parse` prints it), not wasm-tools' debug dump of its error (0-based,
 * without the file).
 */
export async function parse(text: string, file = 'input.wat'): Promise<Uint8Array> {
  try {
    return await parseWat(text);
  } catch (err) {
    const raw = err instanceof Error ? err.message : String(err);
    const at = /\bline: (\d+), col: (\d+)/.exec(raw);
    const why = /\bkind: \w+\("((?:[^"\\]|\\.)*)"\)/.exec(raw)?.[1]?.replace(/\\(.)/g, '$1') ?? raw.split('\n')[0];
    if (at === null) throw new Error(`${file}: ${why}`, { cause: err });
    throw new Error(`${file}:${Number(at[1]) + 1}:${Number(at[2]) + 1}: ${why}`, { cause: err });
  }
}

export interface ComponentizeOptions {
  /** The JavaScript module (ES module) to make a component of. */
  readonly sourcePath: string;
  /** WIT file or directory. */
  readonly witPath: string;
  readonly worldName: string;
}

const COMPONENTIZE = '@bytecodealliance/componentize-js';

/** `jco componentize <source> --wit <dir> --world-name <world> --disable http fetch-event`, as a function. */
export async function componentize(opts: ComponentizeOptions): Promise<Uint8Array> {
  let entry: string;
  try {
    // the project's own first (what its README says to install), then the one beside wasmsg
    entry = packageEntry(dirname(resolve(opts.sourcePath)), COMPONENTIZE) ?? import.meta.resolve(COMPONENTIZE);
  } catch {
    throw new WasmsgError(
      ErrorCode.badInput,
      `JavaScript components need ${COMPONENTIZE} (or @bytecodealliance/jco, which brings it): npm install --save-dev ${COMPONENTIZE}`,
    );
  }
  // the preview2-shim instance ComponentizeJS runs on: open its filesystem for the build
  const shim = createRequire(new URL(entry)).resolve('@bytecodealliance/preview2-shim/filesystem');
  const fs = (await import(pathToFileURL(shim).href)) as { _setPreopens(p: Record<string, string>): void };
  fs._setPreopens({ '/': '/' });
  const { componentize: run } = (await import(entry)) as {
    componentize(o: Record<string, unknown>): Promise<{ component: Uint8Array }>;
  };
  const { component } = await run({
    sourcePath: opts.sourcePath,
    witPath: opts.witPath,
    worldName: opts.worldName,
    // fetch() and the HTTP handler need wasi:http imports the host does not give a component
    disableFeatures: ['http', 'fetch-event'],
  });
  return component;
}

/**
 * The ES module entry (file URL) of package `name` as installed in a `node_modules` of `dir` or
 * of a directory above it, undefined when none holds it. Node 20 resolves an import only from
 * the importing file (wasmsg's installation): a project's own devDependency was not found when
 * wasmsg was installed elsewhere (globally, or in a parent project).
 */
export function packageEntry(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const pkgDir = join(at, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        exports?: string | Record<string, unknown>;
        main?: string;
      };
      const exp = pkg.exports;
      const dot = typeof exp === 'object' && exp !== null && '.' in exp ? exp['.'] : exp;
      const file =
        typeof dot === 'string'
          ? dot
          : typeof dot === 'object' && dot !== null
            ? ((dot as Record<string, unknown>)['import'] ?? (dot as Record<string, unknown>)['default'])
            : undefined;
      return pathToFileURL(join(pkgDir, typeof file === 'string' ? file : (pkg.main ?? 'index.js'))).href;
    }
    if (dirname(at) === at) return undefined;
  }
}
