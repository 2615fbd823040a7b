import { inspectComponent } from '../component/load.js';
import { checkComponentPath } from './files.js';

export async function runInspect(file: string, opts: { json?: boolean; cacheDir?: string }): Promise<number> {
  await checkComponentPath(file);
  const info = await inspectComponent(file, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
  if (opts.json === true) {
    const { name, world, imports, exports, size, wasi, hash, binding } = info;
    const b = { kind: binding.kind, why: binding.why };
    process.stdout.write(`${JSON.stringify({ file, name, world, imports, exports, size, wasi, hash, binding: b })}\n`);
    return 0;
  }
  const lines = [
    `file     ${file}`,
    `world    ${info.world}`,
    `size     ${info.size} bytes`,
    `wasi     ${info.wasi ? 'yes (runs in the WASI sandbox)' : 'no'}`,
    `binding  ${info.binding.kind === 'direct' ? 'direct (canonical ABI by hand)' : "jco's glue"}: ${info.binding.why}`,
    `sha256   ${info.hash}`,
    `imports  ${info.imports.length === 0 ? '(none)' : info.imports.join('\n         ')}`,
    `exports  ${info.exports.join('\n         ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
