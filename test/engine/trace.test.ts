import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { Engine } from '../../src/engine/engine.js';
import { carryTrace } from '../../src/engine/trace.js';
import { cacheDir, examples, text } from '../helpers.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace context across the hop', () => {
  test("what a handler publishes carries its input's traceparent and tracestate (enrich builds a new event)", async () => {
    const memory = new MemoryBroker({ name: 'default', partitions: 1 });
    const engine = new Engine(
      { components: [{ path: examples.enrich, subscriptions: [{ channel: 'orders' }] }], workers: 1, cacheDir },
      [memory],
    );
    await engine.start();
    const done = engine.waitForSettled(2);
    memory.produce('orders', { value: text('{"amount": 5}'), headers: { traceparent: TP, tracestate: 'k=v' } });
    memory.produce('orders', { value: text('{"amount": 7}'), headers: { ce_traceparent: TP } });
    await done;
    await engine.stop();
    const [plain, ce] = memory.read('orders.enriched');
    assert.equal(plain!.headers['traceparent'], TP);
    assert.equal(plain!.headers['tracestate'], 'k=v');
    assert.equal(ce!.headers['ce_traceparent'], TP);
  });

  test("a handler's own trace context wins; no context, no header, and no copy", () => {
    const own = { ce_traceparent: 'mine' };
    assert.equal(carryTrace(own, { traceparent: TP }), own);
    const none = { a: 'b' };
    assert.equal(carryTrace(none, { x: 'y' }), none);
    assert.deepEqual(carryTrace({}, { 'cloudEvents:traceparent': TP }), { ce_traceparent: TP });
  });
});
