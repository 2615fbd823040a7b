import { open, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { Stats } from 'node:fs';
import { ComponentFormatError, ErrorCode, type ErrorCodeValue, describe } from '../errors.js';

/**
 * The one check of a component path every command makes (`run`, `call`, `inspect`, `validate`,
 * `bench`) before loading it, in one wording, as what the loader cannot tell a user: a missing
 * file says, for a relative path, the directory it was resolved against (E_FILE_NOT_FOUND, as
 * the loader's own); a directory is named as one, and anything else that is no regular file (a
 * FIFO: opening one to read it would wait for a writer) as what it is (E_BAD_INPUT); WebAssembly
 * text gets a hint on how to build a component binary from it (E_NOT_WASM). All exit 1. Whether
 * the file is a component the loader checks next.
 */
export async function checkComponentPath(path: string): Promise<void> {
  const refuse = (code: ErrorCodeValue, why: string, cause?: unknown): ComponentFormatError =>
    new ComponentFormatError(code, `component ${path}: ${why}`, { file: path }, cause === undefined ? {} : { cause });
  let info: Stats;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      throw refuse(ErrorCode.fileNotFound, `cannot read (${describe(err)})`, err);
    }
    const where = isAbsolute(path) ? '' : ` (resolved against the working directory ${process.cwd()})`;
    throw refuse(ErrorCode.fileNotFound, `no such file${where}`);
  }
  if (info.isDirectory()) {
    throw refuse(ErrorCode.badInput, 'is a directory (EISDIR), not a component file: name the .wasm inside it');
  }
  if (!info.isFile()) {
    throw refuse(ErrorCode.badInput, `is ${kind(info)}, not a regular file: name a component file (.wasm)`);
  }
  let head: string;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(256);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead).toString('latin1');
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw refuse(ErrorCode.fileNotFound, `cannot read (${describe(err)})`, err);
  }
  if (head.startsWith('\0asm')) return;
  const text = head.replace(/^(\s|;;[^\n]*\n|\(;[\s\S]*?;\))*/, '');
  if (/\.(wat|wast)$/i.test(path) || /^\((component|module)\b/.test(text)) {
    throw refuse(
      ErrorCode.notWasm,
      'WebAssembly text, not a binary component: wasmsg runs component binaries (.wasm). ' +
        'Build one with `wasm-tools parse` for a (component ...) text, or for a core (module ...) embed a ' +
        'wasi:messaging world and run `wasm-tools component new` (docs/components.md; `wasmsg new` scaffolds a build script)',
    );
  }
}

function kind(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'no file';
}
