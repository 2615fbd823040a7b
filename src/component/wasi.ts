import * as shim from '@bytecodealliance/preview2-shim';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import type { Logger } from './types.js';

/**
 * The WASI sandbox for components that import wasi:* (jco-componentized JavaScript does): the
 * preview2 shim with no filesystem preopens, no environment, no arguments but the component's
 * name, and no network. stdout/stderr are captured line by line and handed to the host's
 * logger tagged with the component's name, never written to the process's own stdout.
 */

interface OutputStreamLike {
  write(buf: Uint8Array): void;
  blockingWriteAndFlush(buf: Uint8Array): void;
  checkWrite(): bigint;
  flush(): void;
  blockingFlush(): void;
  subscribe(): unknown;
}

/**
 * jco checks `instanceof OutputStream` before lowering a handle, so the captured stream is an
 * object whose prototype is a real shim stream; the write paths are overridden and never reach
 * the process's file descriptors.
 */
function capturedStream(base: OutputStreamLike, sink: (bytes: Uint8Array) => void): OutputStreamLike {
  const s = Object.create(base) as OutputStreamLike;
  Object.assign(s, {
    write: sink,
    blockingWriteAndFlush: sink,
    checkWrite: () => 1n << 20n,
    flush: () => {},
    blockingFlush: () => {},
    subscribe: () => base.subscribe(),
  });
  return s;
}

function lineSink(component: string, stream: 'stdout' | 'stderr', logger: Logger): (bytes: Uint8Array) => void {
  const decoder = new TextDecoder();
  let pending = '';
  return (bytes) => {
    pending += decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      logger({ component, stream, text: pending.slice(0, nl) });
      pending = pending.slice(nl + 1);
    }
  };
}

export function defaultLogger(line: { component: string; stream: string; text: string }): void {
  process.stderr.write(`[${line.component} ${line.stream}] ${line.text}\n`);
}

export function wasiImports(component: string, logger: Logger): Record<string, unknown> {
  const cli = shim.cli as unknown as Record<string, Record<string, () => unknown>>;
  const out = capturedStream(cli['stdout']!['getStdout']!() as OutputStreamLike, lineSink(component, 'stdout', logger));
  const err = capturedStream(cli['stderr']!['getStderr']!() as OutputStreamLike, lineSink(component, 'stderr', logger));
  const sandboxedCli = {
    ...cli,
    stdout: { getStdout: () => out },
    stderr: { getStderr: () => err },
    exit: {
      exit: () => {
        throw new Error(`${component} called wasi:cli/exit`);
      },
    },
  };
  const wasiShim = new WASIShim({
    cli: sandboxedCli,
    sandbox: { preopens: {}, env: {}, args: [component], enableNetwork: false },
  } as unknown as ConstructorParameters<typeof WASIShim>[0]);
  return wasiShim.getImportObject() as Record<string, unknown>;
}
