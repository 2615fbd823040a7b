import { open, stat } from 'node:fs/promises';
import { ComponentFormatError, ErrorCode } from '../errors.js';

/**
 * What the loader cannot tell a user, checked before loading a component from a path: a
 * directory is named as one (not "cannot read"), and WebAssembly text gets a hint on how to
 * build a component binary from it. Anything else is left to the loader's own checks.
 */
export async function checkComponentPath(path: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    return; // the loader reports a missing file with its own code (E_FILE_NOT_FOUND)
  }
  if (isDirectory) {
    throw new ComponentFormatError(
      ErrorCode.badInput,
      `${path}: is a directory (EISDIR), not a component file: name the .wasm inside it`,
      { file: path },
    );
  }
  const handle = await open(path, 'r');
  let head: string;
  try {
    const buffer = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead).toString('latin1');
  } finally {
    await handle.close();
  }
  if (head.startsWith('\0asm')) return;
  const text = head.replace(/^(\s|;;[^\n]*\n|\(;[\s\S]*?;\))*/, '');
  if (/\.(wat|wast)$/i.test(path) || /^\((component|module)\b/.test(text)) {
    throw new ComponentFormatError(
      ErrorCode.notWasm,
      `${path}: WebAssembly text, not a binary component: wasmsg runs component binaries (.wasm). ` +
        'Build one with `wasm-tools parse` for a (component ...) text, or for a core (module ...) embed a ' +
        'wasi:messaging world and run `wasm-tools component new` (docs/components.md; `wasmsg new` scaffolds a build script)',
      { file: path },
    );
  }
}
