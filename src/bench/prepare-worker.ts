import { parentPort, workerData } from 'node:worker_threads';
import { ComponentInstance } from '../component/instance.js';
import { type SerializedError, WasmsgError } from '../errors.js';
import type { PrepareMessage, PrepareWorkerData } from './prepare.js';
import { calibrate } from './spin.js';

/**
 * Worker side of the bench's preparing process (prepare-child.ts): instantiates each compiled
 * component posted to it as the engine's pool workers do (nothing transpiled or compiled here),
 * once per binding the runs call it through, and says whether every instance was made; then,
 * with `--work`, calibrates the spin component for each value (spin.ts), as the bench process
 * did before (which compiled the spin component for it). In a thread, not the process's main
 * thread: a start function that loops (or a long calibration) holds this thread alone, and the
 * main thread still ends the process when the bench goes away.
 */

const data = workerData as PrepareWorkerData;
const port = parentPort!;

/** The first instance that could not be made: its error, as the engine's workers report one. */
async function instantiateAll(): Promise<SerializedError | undefined> {
  for (const { component, bindings } of data.components) {
    // `auto` is jco's glue too where the direct binding does not fit: one instance is enough then
    const glueOnly = component.binding.kind !== 'direct';
    for (const binding of glueOnly ? bindings.slice(0, 1) : bindings) {
      try {
        // as the runs' engine has it: broker `default` alone (the guest's lines are dropped)
        await ComponentInstance.create(component, { brokers: ['default'], binding, logger: () => {} });
      } catch (err) {
        // `create` reports whatever the component does as a ComponentLinkError naming it (`…:
        // cannot instantiate: …`, E_INSTANTIATE); anything else is a fault of this host, thrown
        // on to prepare-child.ts, which reports it as it is
        if (err instanceof WasmsgError) return err.toJSON();
        throw err;
      }
    }
  }
  return undefined;
}

const error = await instantiateAll();
if (error !== undefined) port.postMessage({ type: 'error', error } satisfies PrepareMessage);
else {
  port.postMessage({ type: 'instantiated' } satisfies PrepareMessage);
  for (const us of data.calibrate?.workUs ?? []) {
    // the engine calls through the direct binding where it fits, as `auto` does
    const rounds = await calibrate(us, data.calibrate!.spin, 'auto');
    port.postMessage({ type: 'calibrated', workUs: us, rounds } satisfies PrepareMessage);
  }
  port.postMessage({ type: 'ready' } satisfies PrepareMessage);
}
