import { createRequire } from 'node:module';
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
export { componentEmbed, componentNew, parse, print } from '@bytecodealliance/jco-transpile/wasm-tools';

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
    entry = import.meta.resolve(COMPONENTIZE);
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
