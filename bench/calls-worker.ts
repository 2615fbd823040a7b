/**
 * One variant of `bench:calls` (a component on one binding) in a thread of its own, so that no
 * variant's garbage or deoptimisations land on another's (../shared/BINDING.md: several variants
 * in one isolate made jco's glue look 5× slower). Told `{calls}`, it makes that many calls and
 * answers with the CPU time this thread spent (/proc/thread-self/schedstat, ns on CPU).
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ComponentInstance } from '../src/component/instance.js';
import type { CompiledComponent } from '../src/component/load.js';
import type { InboundMessage } from '../src/component/types.js';

export interface CallsWorkerData {
  readonly component: CompiledComponent;
  readonly binding: 'auto' | 'jco';
  readonly message: InboundMessage;
}

function cpuNs(): number {
  return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
}

const data = workerData as CallsWorkerData;
const instance = await ComponentInstance.create(data.component, {
  brokers: ['default'],
  logger: () => {},
  binding: data.binding,
});
const first = instance.call(data.message);
if (first.result.tag !== 'ok') throw new Error(`handler failed: ${JSON.stringify(first.result)}`);
parentPort!.on('message', ({ calls }: { calls: number }) => {
  const msg = data.message;
  const t = cpuNs();
  for (let i = 0; i < calls; i++) instance.call(msg);
  parentPort!.postMessage({ cpuNs: cpuNs() - t, binding: instance.binding });
});
parentPort!.postMessage({ ready: true });
