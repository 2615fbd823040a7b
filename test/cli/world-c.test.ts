import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { at, cacheDir, examples, fixture } from '../helpers.js';

const bin = at('dist/src/cli/main.js');
function wasmsg(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('wasmsg and world C (batch delivery)', () => {
  test('inspect names the world and its interfaces', () => {
    const r = wasmsg('inspect', examples.batch, '--json');
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { world: string; exports: string[] };
    assert.equal(info.world, 'wasi:messaging@0.2.0-draft/messaging');
    assert.deepEqual(info.exports, ['wasi:messaging/messaging-guest@0.2.0-draft']);
    const human = wasmsg('inspect', examples.batch);
    assert.match(human.stdout, /world\s+wasi:messaging@0\.2\.0-draft\/messaging\n/);
  });

  test('call runs the handler on a batch of one message', () => {
    const r = wasmsg('call', examples.batch, '--data', 'hello', '--header', 'trace=1', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      world: string;
      result: unknown;
      outbox: Array<{ kind: string; channel: string; data: string; headers: Record<string, string> }>;
    };
    assert.equal(out.world, 'wasi:messaging@0.2.0-draft/messaging');
    assert.equal(out.result, 'ok');
    assert.equal(out.outbox.length, 1);
    assert.equal(out.outbox[0]!.channel, 'out');
    assert.equal(Buffer.from(out.outbox[0]!.data, 'base64').toString(), 'hello');
    assert.deepEqual(out.outbox[0]!.headers, { trace: '1' });
  });

  test("call: the guest's err is printed with its error's text and exits 3", () => {
    const r = wasmsg('call', fixture('batch-script'), '--data', 'e', '--json');
    assert.equal(r.status, 3);
    assert.deepEqual((JSON.parse(r.stdout) as { result: unknown }).result, {
      error: { tag: 'other', val: "connection: unknown broker 'nope'" },
    });
  });

  test("run without --topic consumes configure()'s channels", () => {
    const r = wasmsg('run', examples.batch, '--generate', '200', '--size', '16', '--workers', '1', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /consuming default\/in \(queue\)/);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s['processed'], s['acked'], s['published'], s['failed']], [200, 200, 200, 0]);
  });

  test('run --topic with a component whose configure() errs in the workers: one line naming it, exit 1, no stack trace', () => {
    // before: the error line, then the pool's unhandled 'error' event printed a stack trace
    const r = wasmsg('run', fixture('batch-noconf'), '--topic', 'in', '--generate', '1', '--workers', '2');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `wasmsg: ${fixture('batch-noconf')}: configure() returned err: connection: unknown broker 'nope' [E_INSTANTIATE]`,
    );
  });
});
