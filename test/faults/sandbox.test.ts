import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { escapeControl, headersFromPairs } from '../../src/component/host-text.js';
import { ComponentInstance } from '../../src/component/instance.js';
import type { LogLine } from '../../src/component/types.js';
import { defaultLogger } from '../../src/component/wasi.js';
import { Engine } from '../../src/engine/engine.js';
import { at, cacheDir, examples, fixture, load, text } from '../helpers.js';

/**
 * Issue 12, finding 5 (the WASI sandbox leaked the host's stdin and working directory) and the
 * host's side of finding 8 (guest text with CR, LF and ANSI escapes reached logs raw; a
 * `__proto__` header did not survive a handler's send).
 */

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `wasmsg <args>` as a child process; `stdin`: text written and closed, or `open` (never closed). */
function wasmsg(args: string[], stdin: string | 'open', timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [at('dist/src/cli/main.js'), ...args], {
      cwd: tmpdir(),
      env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (stdin !== 'open') child.stdin!.end(stdin);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wasmsg ${args.join(' ')} did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      child.stdin!.destroy();
      resolve({ code, stdout, stderr });
    });
  });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

describe('fault: the WASI sandbox lends the guest nothing of the host process', () => {
  test('wasmsg call: a guest reading stdin gets end of stream, not what was piped in (SECRET); no cwd', async () => {
    const r = await wasmsg(['call', fixture('stdin-probe'), '--json'], 'SECRET\n');
    assert.ok(!r.stdout.includes('SECRET'), `the guest read the host's stdin: ${r.stdout}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { result: unknown }).result, 'ok', 'and saw no working directory');
  });

  test('wasmsg call with a stdin that stays open: the read does not block', async () => {
    const started = Date.now();
    const r = await wasmsg(['call', fixture('stdin-probe'), '--json', '--timeout', '10000'], 'open');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(Date.now() - started < 10_000);
  });

  test("wasmsg run: the engine's workers do not block on the host's stdin either", async () => {
    const r = await wasmsg(['run', fixture('stdin-probe'), '--generate', '5', '--json'], 'open');
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as { processed: number; failed: number };
    assert.deepEqual([stats.processed, stats.failed], [5, 0], r.stderr);
  });
});

describe('fault: guest text reaches logs escaped', () => {
  test('escapeControl: CR, LF, ESC, DEL, C1, line separators and bidi overrides become visible escapes', () => {
    assert.equal(
      escapeControl('a\r\nwasmsg: x\u001b[2J\u007f\u009b\u2028\u202e\t'),
      'a\\r\\nwasmsg: x\\x1b[2J\\x7f\\x9b\\u2028\\u202e\\t',
    );
    assert.equal(escapeControl('plain ünïcode 😀 \\n'), 'plain ünïcode 😀 \\n');
  });

  test("a guest's log line with CR and ANSI escapes: escaped before any logger sees it", async () => {
    const lines: LogLine[] = [];
    const instance = await ComponentInstance.create(await load(fixture('log-inject')), {
      brokers: ['default'],
      logger: (l) => lines.push(l),
    });
    const { result } = instance.call({ payload: text('x'), channel: 'in' });
    assert.equal(result.tag, 'error', 'the fixture returns err with hostile text, and does not trap');
    assert.deepEqual(
      lines.map((l) => l.text),
      ['ok\\r\\x1b[2J\\x1b[31mred', 'wasmsg: forged log line'],
    );
    for (const l of lines) assert.ok(!CONTROL.test(l.text), JSON.stringify(l.text));
  });

  test('the default logger escapes what it is given (a custom sink may pass raw text)', () => {
    let written = '';
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => {
      written += s;
      return true;
    }) as typeof process.stderr.write;
    try {
      defaultLogger({ component: 'c\rd', stream: 'stdout', text: 'x\nwasmsg: forged\u001b[0m' });
    } finally {
      process.stderr.write = write;
    }
    const line = JSON.parse(written) as Record<string, unknown>;
    assert.deepEqual(
      [line['component'], line['stream'], line['msg']],
      ['c\\rd', 'stdout', 'x\\nwasmsg: forged\\x1b[0m'],
    );
    assert.equal(written.split('\n').length, 2);
  });

  test('wasmsg run: no control character from the guest on stderr, no forged line of its own', async () => {
    const r = await wasmsg(['run', fixture('log-inject'), '--generate', '2', '--json'], '');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!CONTROL.test(r.stderr.replaceAll('\n', '')), JSON.stringify(r.stderr));
    for (const line of r.stderr.split('\n')) assert.ok(!line.startsWith('wasmsg: forged'), line);
  });
});

describe('fault: header names are data through the host', () => {
  const headers = (): Record<string, string> =>
    headersFromPairs([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['toString', 't'],
    ]);

  test("world B: a message's metadata named __proto__/constructor/toString survives send (jco's glue)", async () => {
    const instance = await ComponentInstance.create(await load(fixture('relay')), {
      brokers: ['default'],
      binding: 'jco',
    });
    const { result, outbox } = instance.call({ payload: text('x'), channel: 'in', headers: headers() });
    assert.equal(result.tag, 'ok');
    const h = outbox[0]!.headers;
    assert.deepEqual(Object.entries(h), [
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['toString', 't'],
    ]);
    assert.equal(Object.getPrototypeOf(h), Object.prototype);
  });

  test('world B through the direct binding: __proto__ metadata survives send', async () => {
    const instance = await ComponentInstance.create(await load(fixture('relay')), { brokers: ['default'] });
    const { outbox } = instance.call({ payload: text('x'), channel: 'in', headers: headers() });
    assert.equal(outbox[0]!.headers['__proto__'], 'p');
    assert.ok(Object.hasOwn(outbox[0]!.headers, '__proto__'));
  });

  test('through the engine (codec, workers): a __proto__ header reaches the output as __proto__', async () => {
    const memory = new MemoryBroker({ partitions: 1 });
    const engine = new Engine(
      {
        components: [{ path: fixture('relay'), binding: 'jco', subscriptions: [{ channel: 'in' }] }],
        workers: 1,
        cacheDir,
      },
      [memory],
    );
    await engine.start();
    try {
      memory.produce('in', {
        value: text('x'),
        headers: headersFromPairs([...Object.entries(headers()), ['__proto_', 'q']]),
      });
      await engine.waitForSettled(1);
      const h = memory.read('in.out')[0]!.headers;
      assert.deepEqual(Object.entries(h), [...Object.entries(headers()), ['__proto_', 'q']]);
    } finally {
      await engine.stop();
    }
  });

  test("world C: a batch message's metadata named __proto__ survives send (jco's glue)", async () => {
    const instance = await ComponentInstance.create(await load(examples.batch), {
      brokers: ['default'],
      binding: 'jco',
    });
    const { outbox } = instance.callBatch([{ payload: text('x'), channel: 'in', headers: headers() }]);
    const h = outbox[0]!.headers;
    assert.ok(Object.hasOwn(h, '__proto__'), JSON.stringify(Object.keys(h)));
    assert.equal(h['__proto__'], 'p');
    assert.equal(h['constructor'], 'c');
  });
});
