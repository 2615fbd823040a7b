import { Worker } from 'node:worker_threads';
import { ErrorCode, HandlerRunError, errorFromJSON, type SerializedError } from '../errors.js';
import type { CompiledComponent } from './load.js';
import type { CallOutcome, HostConfig, InboundMessage, LogLine } from './types.js';
import { defaultLogger } from './wasi.js';

export interface CallInWorkerOptions {
  /** Give up on a handler that has not returned after this long (default 10 s). */
  readonly timeoutMs?: number;
}

type WorkerReply =
  | { type: 'log'; line: LogLine }
  | { type: 'outcome'; outcome: CallOutcome }
  | { type: 'error'; error: SerializedError };

const workerUrl = new URL('../workers/call-worker.js', import.meta.url);

/**
 * Calls a component's handler once in a fresh worker thread: the compiled modules are posted to
 * it, so this is also the proof that they survive the trip. A handler that loops is stopped by
 * terminating the worker after `timeoutMs` (a thread running wasm cannot be interrupted otherwise).
 */
export function callInWorker(
  component: CompiledComponent,
  message: InboundMessage,
  host: HostConfig,
  opts: CallInWorkerOptions = {},
): Promise<CallOutcome> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const logger = host.logger ?? defaultLogger;
  const { logger: _unused, ...hostData } = host;
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl, { workerData: { component, message, host: hostData } });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      finish(() =>
        reject(
          new HandlerRunError(
            ErrorCode.handlerTimeout,
            `${component.name}: handler did not return within ${timeoutMs} ms (stopped)`,
            {
              component: component.name,
              timeoutMs,
            },
          ),
        ),
      );
    }, timeoutMs);
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'log') logger(reply.line);
      else if (reply.type === 'outcome') finish(() => resolve(reply.outcome));
      else finish(() => reject(errorFromJSON(reply.error)));
    });
    worker.on('error', (err) => {
      finish(() =>
        reject(
          new HandlerRunError(ErrorCode.workerCrashed, `${component.name}: worker failed: ${err.message}`, {
            component: component.name,
          }),
        ),
      );
    });
    worker.on('exit', (code) => {
      finish(() =>
        reject(
          new HandlerRunError(
            ErrorCode.workerCrashed,
            `${component.name}: worker exited (code ${code}) before answering`,
            { component: component.name },
          ),
        ),
      );
    });
  });
}
