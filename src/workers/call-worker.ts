import { parentPort, workerData } from 'node:worker_threads';
import { ComponentInstance } from '../component/instance.js';
import type { CompiledComponent } from '../component/load.js';
import type { HostConfig, InboundMessage, LogLine } from '../component/types.js';
import { WasmsgError } from '../errors.js';

/**
 * Worker side of `callInWorker`: instantiates the posted compiled component (no transpile, no
 * compile here) and calls its handler once. Log lines and the outcome go back as messages.
 */

interface CallWorkerData {
  readonly component: CompiledComponent;
  readonly host: Omit<HostConfig, 'logger'>;
  readonly message: InboundMessage;
}

const data = workerData as CallWorkerData;
const port = parentPort!;

try {
  const instance = await ComponentInstance.create(data.component, {
    ...data.host,
    logger: (line: LogLine) => port.postMessage({ type: 'log', line }),
  });
  port.postMessage({ type: 'outcome', outcome: instance.call(data.message) });
} catch (err) {
  port.postMessage({
    type: 'error',
    error:
      err instanceof WasmsgError ? err.toJSON() : { name: 'WasmsgError', code: 'E_INSTANTIATE', message: String(err) },
  });
}
