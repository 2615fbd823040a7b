import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callInWorker } from '../../src/component/call.js';
import type { LogLine } from '../../src/component/types.js';
import { ErrorCode, HandlerRunError } from '../../src/errors.js';
import { decode, examples, fixture, load, text } from '../helpers.js';

test('compiled Modules posted to a worker thread are instantiated and called there', async () => {
  const component = await load(examples.fizzbuzz);
  const out = await callInWorker(component, { payload: text('fizzfizz'), channel: 'in' }, { brokers: ['default'] });
  assert.deepEqual(out.result, { tag: 'ok' });
  assert.equal(decode(out.outbox[0]!.data), 'buzzbuzz');
});

test('world B in a worker, with its log lines relayed to the caller', async () => {
  const lines: LogLine[] = [];
  const out = await callInWorker(
    await load(examples.shout),
    { payload: text('abc'), channel: 'in' },
    { brokers: ['default'], logger: (l) => lines.push(l) },
  );
  assert.equal(decode(out.outbox[0]!.data), 'ABC');
  assert.deepEqual(lines, [{ component: 'shout', stream: 'stdout', text: 'shouting 3 characters to shouted' }]);
});

test('a handler that loops forever is stopped with a typed timeout error', async () => {
  await assert.rejects(
    callInWorker(
      await load(fixture('loop')),
      { payload: text('x'), channel: 'in' },
      { brokers: [] },
      { timeoutMs: 300 },
    ),
    (err: unknown) =>
      err instanceof HandlerRunError && err.code === ErrorCode.handlerTimeout && /within 300 ms/.test(err.message),
  );
});

test('a trap inside a worker comes back as a trap result', async () => {
  const out = await callInWorker(await load(fixture('trap')), { payload: text('x'), channel: 'in' }, { brokers: [] });
  assert.equal(out.result.tag, 'trap');
});
