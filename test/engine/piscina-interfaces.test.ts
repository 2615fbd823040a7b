import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Piscina } from 'piscina';
import { cachePiscinaWorkerInterfaces } from '../../src/engine/piscina-interfaces.js';

test('piscina gives its balancer one object per worker, reused across tasks, whose values stay live', async () => {
  assert.equal(
    cachePiscinaWorkerInterfaces(),
    true,
    'the installed piscina has the getter this replaces (else it is left as it is)',
  );
  const file = join(mkdtempSync(join(tmpdir(), 'wasmsg-piscina-')), 'worker.mjs');
  writeFileSync(file, 'export default (x) => x + 1;\n');
  const seen: Array<{ worker: object; usage: number }> = [];
  const pool = new Piscina({
    filename: file,
    minThreads: 1,
    maxThreads: 1,
    concurrentTasksPerWorker: 2,
    loadBalancer: (_task, workers) => {
      const w = workers[0];
      if (w !== undefined) seen.push({ worker: w, usage: w.currentUsage });
      return w ?? null;
    },
  });
  try {
    await pool.run(0); // the worker is started and ready
    seen.length = 0;
    const [a, b] = await Promise.all([pool.run(1), pool.run(2)]);
    assert.deepEqual([a, b], [2, 3]);
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.worker, seen[1]!.worker, 'the same object for both tasks');
    assert.deepEqual(
      seen.map((s) => s.usage),
      [0, 1],
      'read through the kept object, the usage is the live one (one task running at the second)',
    );
  } finally {
    await pool.destroy();
  }
});
