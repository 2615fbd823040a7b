import { workerData } from 'node:worker_threads';
import { ComponentInstance } from '../src/component/instance.js';
import type { CompiledComponent } from '../src/component/load.js';

// P2's baseline: what a naive user of piscina would write — one task per message, the payload
// structured-cloned to the worker and the result cloned back. Same component, same host.
const instance = await ComponentInstance.create(workerData as CompiledComponent, {
  brokers: ['default'],
  logger: () => {},
});

export default function handle(task: { payload: Uint8Array; offset: number }): string {
  return instance.call({
    payload: task.payload,
    channel: 'in',
    partition: 0,
    offset: String(task.offset),
    timestamp: Date.now(),
  }).result.tag;
}
