/**
 * A long `engine.process()` stream in a process of its own, for engine.test.ts: node:test tracks
 * every promise of a test for its context, which made each input ≈ 4 times dearer there (2 000 000
 * inputs: 25 s instead of 6). Streams WASMSG_STREAM_TOTAL inputs through the noop example and
 * prints, as JSON, how much the heap grew (after a full GC at both ends) from input
 * WASMSG_STREAM_FROM to the last one read. With WASMSG_STREAM_ORDERING (`partition`, `key`) each
 * input has a channel (and key) of its own, as a wildcard subscription's topics give. Does nothing
 * unless WASMSG_PROCESS_STREAM_CHILD is set (`node --test` runs every file under dist/test/).
 */
import { Engine } from '../../src/engine/engine.js';
import { cacheDir, examples, text } from '../helpers.js';

if (process.env['WASMSG_PROCESS_STREAM_CHILD'] === '1') {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('process-stream.child: run it with node --expose-gc');
  const total = Number(process.env['WASMSG_STREAM_TOTAL']);
  const from = Number(process.env['WASMSG_STREAM_FROM']);
  const ordering = process.env['WASMSG_STREAM_ORDERING'] as 'partition' | 'key' | undefined;
  const engine = new Engine({
    components: [{ path: examples.noop, subscriptions: [{ channel: 'unused' }] }],
    workers: 2,
    cacheDir,
    ordering: ordering ?? 'none',
  });
  await engine.start();
  const value = text('x');
  function* inputs(): Generator<{ value: Uint8Array; channel?: string; key?: string }> {
    if (ordering === undefined) for (let i = 0; i < total; i++) yield { value };
    else for (let i = 0; i < total; i++) yield { value, channel: `devices/${i}/telemetry`, key: `k${i}` };
  }
  let read = 0;
  let ok = 0;
  let before = 0;
  let grown = NaN;
  for await (const r of engine.process(inputs())) {
    read++;
    if (r.status === 'ok') ok++;
    if (read === from) {
      gc();
      before = process.memoryUsage().heapUsed;
    } else if (read === total) {
      gc();
      grown = process.memoryUsage().heapUsed - before;
    }
  }
  await engine.stop();
  process.stdout.write(`${JSON.stringify({ read, ok, grown })}\n`);
}
