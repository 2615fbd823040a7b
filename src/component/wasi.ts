import * as shim from '@bytecodealliance/preview2-shim';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { escapeControl } from './host-text.js';
import type { Logger } from './types.js';
import { guestLine } from '../log.js';

/**
 * The WASI sandbox for components that import wasi:* (jco-componentized JavaScript does): the
 * preview2 shim with no filesystem preopens, no environment, no arguments but the component's
 * name, no network, an empty stdin (a read is end of stream at once: never the host's stdin,
 * never blocking), no initial working directory, and no terminal. stdout/stderr are captured
 * line by line and handed to the host's logger tagged with the component's name, never written
 * to the process's own stdout; control characters in a line are escaped (`\r`, `\x1b`, ...),
 * and a line longer than MAX_LINE characters is cut into pieces of that length.
 */

/** Longest line kept waiting for its newline: a guest that never writes one cannot grow the host. */
export const MAX_LINE = 16 * 1024;

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
    // a guest that drops its handle drops our view; the shim's own dispose needs its constructor's state
    [Symbol.dispose ?? Symbol.for('dispose')]: () => {},
  });
  return s;
}

function lineSink(component: string, stream: 'stdout' | 'stderr', logger: Logger): (bytes: Uint8Array) => void {
  const decoder = new TextDecoder();
  let pending = '';
  const emit = (text: string): void => logger({ component, stream, text: escapeControl(text) });
  return (bytes) => {
    pending += decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      emit(pending.slice(0, Math.min(nl, MAX_LINE)));
      pending = pending.slice(nl + 1);
    }
    while (pending.length > MAX_LINE) {
      emit(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  };
}

/**
 * A guest's log line to the host's logger (src/log.ts): tagged with component and stream,
 * rate-limited, the text escaped again (a custom sink may not have).
 */
export function defaultLogger(line: { component: string; stream: string; text: string }): void {
  guestLine(line);
}

interface InputStreamLike {
  read(len: bigint): Uint8Array;
  blockingRead(len: bigint): Uint8Array;
  skip(len: bigint): bigint;
  blockingSkip(len: bigint): bigint;
  subscribe(): unknown;
}

/**
 * An input stream at its end: every read is `stream-error::closed` (end of stream) at once. An
 * object whose prototype is the shim's InputStream (jco checks `instanceof`), built without its
 * constructor, so it never opens the process's stdin; its pollable is always ready.
 */
function emptyStream(): InputStreamLike {
  const io = shim.io as unknown as { streams: { InputStream: { prototype: object } } };
  const clocks = shim.clocks as unknown as { monotonicClock: { subscribeDuration(d: bigint): unknown } };
  const closed = (): never => {
    throw { tag: 'closed' };
  };
  const s = Object.create(io.streams.InputStream.prototype) as InputStreamLike;
  Object.assign(s, {
    read: closed,
    blockingRead: closed,
    skip: closed,
    blockingSkip: closed,
    subscribe: () => clocks.monotonicClock.subscribeDuration(0n),
    [Symbol.dispose ?? Symbol.for('dispose')]: () => {},
  });
  return s;
}

export function wasiImports(component: string, logger: Logger): Record<string, unknown> {
  const cli = shim.cli as unknown as Record<string, Record<string, () => unknown>>;
  const out = capturedStream(cli['stdout']!['getStdout']!() as OutputStreamLike, lineSink(component, 'stdout', logger));
  const err = capturedStream(cli['stderr']!['getStderr']!() as OutputStreamLike, lineSink(component, 'stderr', logger));
  const stdin = emptyStream();
  const sandboxedCli = {
    ...cli,
    // initialCwd: none (the shim's default is the host's working directory)
    environment: { ...cli['environment'], initialCwd: () => undefined },
    stdin: { getStdin: () => stdin },
    stdout: { getStdout: () => out },
    stderr: { getStderr: () => err },
    // not a terminal, whatever the host's stdin/stdout/stderr are
    terminalStdin: { getTerminalStdin: () => undefined },
    terminalStdout: { getTerminalStdout: () => undefined },
    terminalStderr: { getTerminalStderr: () => undefined },
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
