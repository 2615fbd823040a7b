import { parentPort, workerData } from 'node:worker_threads';
import { ComponentInstance } from '../component/instance.js';
import { type SerializedError, WasmsgError } from '../errors.js';
import type { PrepareWorkerData } from './prepare.js';

/**
 * Worker side of the bench's preparing process (prepare-child.ts): instantiates each compiled
 * component posted to it as the engine's pool workers do (nothing transpiled or compiled here),
 * once per binding the runs call it through, then says whether every instance was made. In a
 * thread, not the process's main thread: a start function that loops holds this thread alone,
 * and the main thread still ends the process when the bench goes away.
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
port.postMessage(error === undefined ? { ok: true } : { error });
