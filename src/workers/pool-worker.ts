import { threadId, workerData } from 'node:worker_threads';
import { ComponentInstance } from '../component/instance.js';
import { type ResultTuple, outboxToTuples, readRequest, writeResponse } from '../codec/batch.js';
import type { FlushLogsTask, PoolTask, PoolTaskResult, PoolWorkerData, WarmUpTask } from './protocol.js';
import { HDR_PROGRESS, HDR_THREAD, Msg, PROGRESS_DONE, Status } from '../codec/layout.js';
import { runWorldCBatch } from './world-c.js';
import { guestLine, guestLinesDropped } from '../log.js';

/**
 * Piscina worker: holds a warm instance of every component of the engine (compiled Modules
 * arrive once, in workerData; nothing is transpiled or compiled here) and runs batches.
 *
 * Ordering: when a message fails, later messages of the same lane in this batch are not
 * called but returned as `skipped`, so the dispatcher can retry the failed one first.
 */

const data = workerData as PoolWorkerData;
const logger = guestLine;
const instances = await Promise.all(
  data.components.map((c, i) => ComponentInstance.create(c, { ...data.hosts[i]!, logger })),
);
const progress = new Int32Array(data.arena);

const control = new Int32Array(data.control);

/**
 * Start barrier: one warm-up task per worker, each held here until all have arrived. With one
 * task per worker at a time, `workers` concurrent warm-ups must land on `workers` different
 * threads, so when they return every worker has its instances ready (no first-batch stall).
 */
function warmUp(): PoolTaskResult {
  Atomics.add(control, 0, 1);
  Atomics.notify(control, 0);
  for (let seen = Atomics.load(control, 0); seen < data.workers; seen = Atomics.load(control, 0)) {
    if (Atomics.wait(control, 0, seen, 30_000) === 'timed-out') break;
  }
  return { offset: 0, length: 0, timing: [0, 0, 0] };
}

/** The result of a message that succeeded and published nothing: one shared tuple (msgpack writes it the same). */
const OK_NO_OUTPUT: ResultTuple = [Status.ok, null, null];

export default function runBatch(task: PoolTask | WarmUpTask | FlushLogsTask): PoolTaskResult {
  if ('warmUp' in task) return warmUp();
  if ('flushLogs' in task) {
    guestLinesDropped(true);
    return { offset: 0, length: 0, timing: [0, 0, 0] };
  }
  try {
    return run(task);
  } finally {
    guestLinesDropped(); // an idle worker's timers do not run: the windows that ended are reported here
  }
}

function run(task: PoolTask): PoolTaskResult {
  const t0 = performance.now();
  // which thread runs it, for the main thread's watchdog (read only once the progress word moved)
  Atomics.store(progress, (task.slot * data.slotBytes) / 4 + HDR_THREAD, threadId);
  const slot = new Uint8Array(data.arena, task.slot * data.slotBytes, data.slotBytes);
  const req = readRequest(slot, task.length, task.inline);
  const t1 = performance.now();
  const instance = instances[req.component]!;
  if (instance.component.family === 'c') {
    // World C: one handler call for the whole batch (if it hangs or crashes, the main thread
    // narrows the batch down: settle.ts `crashed`), then one per message if the batch failed as
    // a whole (see world-c.ts).
    const at = (task.slot * data.slotBytes) / 4 + HDR_PROGRESS;
    const results = runWorldCBatch(instance, req.messages, (i) => Atomics.store(progress, at, i));
    Atomics.store(progress, at, PROGRESS_DONE);
    const t2 = performance.now();
    const out = writeResponse(slot, req.end, results);
    return { ...out, timing: [(t1 - t0) * 1000, (t2 - t1) * 1000, (performance.now() - t2) * 1000] };
  }
  const results: ResultTuple[] = new Array(req.messages.length);
  let failedLanes: Set<number> | undefined;
  let allOk = true;
  const progressIndex = (task.slot * data.slotBytes) / 4 + HDR_PROGRESS;
  for (let i = 0; i < req.messages.length; i++) {
    const m = req.messages[i]!;
    const lane = m[Msg.lane];
    if (failedLanes !== undefined && failedLanes.has(lane)) {
      results[i] = [Status.skipped, null, null];
      continue;
    }
    Atomics.store(progress, progressIndex, i);
    const { result, outbox } = instance.callTuple(m);
    if (result.tag === 'ok') {
      if (outbox.length === 0) results[i] = OK_NO_OUTPUT;
      else {
        results[i] = [Status.ok, null, outboxToTuples(outbox)];
        allOk = false;
      }
    } else {
      allOk = false;
      (failedLanes ??= new Set()).add(lane);
      results[i] = result.tag === 'error' ? [Status.error, result.error, null] : [Status.trap, result.message, null];
    }
  }
  Atomics.store(progress, progressIndex, PROGRESS_DONE); // (see PROGRESS_DONE: no call left to time out)
  const t2 = performance.now();
  if (allOk) return { offset: 0, length: 0, allOk: true, timing: [(t1 - t0) * 1000, (t2 - t1) * 1000, 0] };
  const out = writeResponse(slot, req.end, results);
  const t3 = performance.now();
  return { ...out, timing: [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000] };
}
