import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { at, cacheDir, examples, fixture } from '../helpers.js';

const bin = at('dist/src/cli/main.js');
function wasmsg(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
    timeout: 120_000, // a command that hangs (the bug some tests look for) fails instead
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('wasmsg inspect', () => {
  for (const [name, file] of Object.entries(examples)) {
    test(`${name} --json`, () => {
      const r = wasmsg('inspect', file, '--json');
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout) as { world: string; size: number; exports: string[]; wasi: boolean };
      assert.match(info.world, /^wasi:messaging@0\.[12]\.0-draft\//);
      assert.ok(info.size > 0);
      assert.equal(info.exports.length, 1);
      assert.equal(typeof info.wasi, 'boolean');
    });
  }
  test('human output names the world', () => {
    const r = wasmsg('inspect', examples.echo);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /world\s+wasi:messaging@0\.2\.0-draft\/messaging-core/);
  });
});

describe('wasmsg call', () => {
  test('fizzbuzz --json prints exactly one JSON object with the outbox', () => {
    const r = wasmsg('call', examples.fizzbuzz, '--data', 'fizz!', '--header', 'trace=1', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const out = JSON.parse(r.stdout) as {
      world: string;
      result: unknown;
      outbox: Array<{ kind: string; channel: string; data: string; headers: Record<string, string> }>;
    };
    assert.equal(out.world, 'wasi:messaging@0.1.0-draft/messaging');
    assert.equal(out.result, 'ok');
    assert.equal(out.outbox.length, 1);
    assert.deepEqual(Object.keys(out.outbox[0]!).sort(), ['channel', 'data', 'headers', 'kind']);
    assert.equal(out.outbox[0]!.kind, 'topic');
    assert.equal(out.outbox[0]!.channel, 'rust');
    assert.equal(Buffer.from(out.outbox[0]!.data, 'base64').toString(), 'buzz!');
    assert.equal(out.outbox[0]!.headers['ce_trace'], '1');
  });

  const all: Array<[string, string[], unknown]> = [
    ['noop', [], 'ok'],
    ['enrich', ['--data-file', at('examples/enrich-c/sample.json')], 'ok'],
    ['echo', ['--data', 'x'], 'ok'],
    ['shout', ['--data', 'x'], 'ok'],
  ];
  for (const [name, args, result] of all) {
    test(`${name} --json`, () => {
      const r = wasmsg('call', examples[name as keyof typeof examples], ...args, '--json');
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as { result: unknown }).result, result);
    });
  }

  test('an err result is printed and exits 3', () => {
    const r = wasmsg('call', fixture('err'), '--json');
    assert.equal(r.status, 3);
    assert.deepEqual(JSON.parse(r.stdout), {
      world: 'wasi:messaging@0.1.0-draft/messaging',
      result: { error: { tag: 'other', val: 'rejected by fixture' } },
      outbox: [],
      binding: 'direct',
    });
  });

  test('a trap is printed and exits 3', () => {
    const r = wasmsg('call', fixture('trap'), '--json');
    assert.equal(r.status, 3);
    assert.match((JSON.parse(r.stdout) as { result: { trap: string } }).result.trap, /unreachable/);
  });

  test('the guest stdout goes to stderr, tagged, and not into the JSON', () => {
    const r = wasmsg('call', examples.shout, '--data', 'hey', '--json');
    assert.equal(r.status, 0);
    JSON.parse(r.stdout);
    assert.match(r.stderr, /"component":"shout","stream":"stdout","msg":"shouting 3 characters to shouted"/);
  });
});

describe('bad input: non-zero exit and one line on stderr', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'core module',
      ['inspect', fixture('core-module')],
      /core WebAssembly module, not a component;.*\[E_CORE_MODULE\]/,
    ],
    ['truncated', ['call', fixture('truncated')], /truncated.*\[E_TRUNCATED\]/],
    ['garbage', ['inspect', fixture('garbage')], /not a WebAssembly binary .*\[E_NOT_WASM\]/],
    [
      'missing export',
      ['call', fixture('wrong-export')],
      /exports no wasi:messaging handler; exports found: .* \[E_MISSING_EXPORT\]/,
    ],
    ['unknown import', ['inspect', fixture('unknown-import')], /\[E_UNSUPPORTED_IMPORT\]/],
    ['missing file', ['call', '/nope.wasm'], /^wasmsg: component \/nope\.wasm: no such file \[E_FILE_NOT_FOUND\]$/],
  ];
  for (const [name, args, message] of cases) {
    test(name, () => {
      const r = wasmsg(...args);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^wasmsg: /);
      assert.match(lines[0]!, message);
    });
  }
  test('usage errors exit 2 (a handler timeout is exit 3 and bad flag values are usage errors: issue10.test.ts)', () => {
    assert.equal(wasmsg('call', examples.noop, '--data', 'a', '--data-file', 'b').status, 2);
    assert.equal(wasmsg('frobnicate').status, 2);
    assert.equal(wasmsg('call', examples.noop, '--header', 'novalue').status, 2);
    assert.equal(wasmsg('call', examples.noop, '--timeout', '-1').status, 2);
  });

  test("a delay past Node's timers' limit (2^31 − 1 ms) is a usage error, not a 1 ms timer", () => {
    // before: `call --timeout 9999999999` timed out a healthy handler at once (exit 3), and
    // `run --stats-interval 9999999` wrote a stats line every millisecond
    const call = wasmsg('call', examples.noop, '--timeout', '9999999999');
    assert.equal(call.status, 2, call.stderr);
    assert.match(call.stderr, /--timeout .* must be at most 2147483647/);
    const run = wasmsg('run', examples.noop, '--generate', '10', '--stats-interval', '9999999');
    assert.equal(run.status, 2, run.stderr);
  });

  test('--generate with a config whose first subscription reads another broker: a usage error, not a run that waits forever', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-gen-'));
    const config = join(dir, 'mem.yaml');
    writeFileSync(
      config,
      `brokers: [{ name: mem, url: 'memory://' }]\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: orders, broker: mem }]\n`,
    );
    const r = wasmsg('run', '--config', config, '--generate', '100');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--generate feeds the embedded broker 'default', but .* reads broker 'mem'/);
  });

  test('--batch past the schema bound and --group with --kind topic are usage errors, not exit 1 or a group ignored', () => {
    // before: `--batch 100000` passed the flag's parser and failed in the schema (exit 1), and
    // `--kind topic --group g` ran without the group, saying nothing
    const batch = wasmsg('run', examples.noop, '--generate', '10', '--batch', '100000');
    assert.equal(batch.status, 2, batch.stderr);
    assert.match(batch.stderr, /--batch <n>' argument '100000' is invalid\. must be at most 65536/);
    const topic = wasmsg('run', examples.noop, '--from', 'nats://127.0.0.1:4222/x', '--kind', 'topic', '--group', 'g');
    assert.equal(topic.status, 2, topic.stderr);
    assert.match(topic.stderr, /--group g with --kind topic: a topic subscription on nats has no group/);
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-topic-'));
    const config = join(dir, 'topic.yaml');
    writeFileSync(
      config,
      `components:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: orders, kind: topic, group: g }]\n`,
    );
    const file = wasmsg('validate', config);
    assert.equal(file.status, 1, file.stderr);
    assert.match(
      file.stderr + file.stdout,
      /subscriptions\[0\]\.group: a topic subscription on the embedded broker has no group/,
    );
  });

  test('--from with an unknown scheme, or no scheme: a usage error naming --from, with a did-you-mean', () => {
    // before: "options.brokers[0].url: must be a URL with one of the schemes …" (a config the user never wrote), exit 1
    const typo = wasmsg('run', examples.noop, '--from', 'redsi://127.0.0.1:6379/x');
    assert.equal(typo.status, 2, typo.stderr);
    assert.match(
      typo.stderr,
      /^wasmsg: --from redsi:\/\/127\.0\.0\.1:6379\/x: unknown scheme 'redsi' \(did you mean 'redis'\?\)/,
    );
    const bare = wasmsg('run', examples.noop, '--from', '127.0.0.1:6379/orders');
    assert.equal(bare.status, 2, bare.stderr);
    assert.match(bare.stderr, /^wasmsg: --from 127\.0\.0\.1:6379\/orders: not a broker URL \(schemes: kafka, /);
  });

  test('bench --out that cannot be a directory fails before any run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmsg-out-'));
    writeFileSync(join(dir, 'afile'), '');
    const r = wasmsg('bench', examples.noop, '--messages', '10', '--out', join(dir, 'afile', 'report'));
    // before: the runs went first, then the report failed and the table was never printed
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--out .*cannot make the directory: ENOTDIR/);
    assert.doesNotMatch(r.stderr, /\[1\/1\]/, 'no run started');
  });
});

describe('wasmsg run', () => {
  test('--generate N --json: every message settled, one JSON object with the stats', () => {
    const r = wasmsg('run', examples.fizzbuzz, '--generate', '300', '--size', '32', '--workers', '1', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    const s = JSON.parse(r.stdout) as Record<string, unknown> & { latencyMs: Record<string, number> };
    assert.equal(s['processed'], 300);
    assert.equal(s['acked'], 300);
    assert.equal(s['failed'], 0);
    assert.equal(s['deadLettered'], 0);
    assert.equal(s['published'], 100, 'every third synthetic payload starts with fizz');
    assert.ok((s['msgsPerSec'] as number) > 0);
    for (const k of ['p50', 'p90', 'p99', 'max']) assert.equal(typeof s.latencyMs[k], 'number');
  });

  test('a broker URL whose port answers but is not NATS: one line, exit 1, the process ends', async () => {
    // nats.js keeps its socket after a connect that timed out: before, run printed its error and
    // never exited
    const silent = createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const { port } = silent.address() as AddressInfo;
      const dir = mkdtempSync(join(tmpdir(), 'wasmsg-silent-'));
      const config = join(dir, 'silent.yaml');
      writeFileSync(
        config,
        `brokers: [{ name: default, url: 'nats://127.0.0.1:${port}/x', options: { connectTimeoutMs: 500 } }]\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: x }]\n`,
      );
      const r = spawnSync(process.execPath, [bin, 'run', '--config', config], {
        encoding: 'utf8',
        env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
        timeout: 20_000,
      });
      assert.equal(r.signal, null, 'ended by itself, not by the test timeout');
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `wasmsg: cannot reach nats://127.0.0.1:${port}/x: not connected within 500 ms (broker 'default', connectTimeoutMs) [E_BROKER_UNAVAILABLE]`,
      );
    } finally {
      silent.close();
    }
  });

  test('a handler that always fails: retried, then dead-lettered', () => {
    const r = wasmsg('run', fixture('err'), '--generate', '5', '--json');
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s['acked'], s['deadLettered'], s['failed']], [5, 5, 15]);
  });

  test('bad options: one line naming the option', () => {
    const r = wasmsg('run', examples.noop, '--generate', '10', '--workers', 'two');
    assert.equal(r.status, 2, 'a flag value is a usage error');
    assert.match(r.stderr, /^error: option '--workers <n>' argument 'two' is invalid\. must be an integer >= 1\./);
    const c = wasmsg('run', '--config', at('package.json'));
    assert.equal(c.status, 1);
    assert.match(c.stderr.trim(), /^wasmsg: options\.components: .*\[E_BAD_OPTION\]$/);
  });
});

describe('binding choice is visible and can be forced', () => {
  test('inspect says which binding a component gets and why', () => {
    const wat = JSON.parse(wasmsg('inspect', examples.noop, '--json').stdout) as {
      binding: { kind: string; why: string };
    };
    assert.equal(wat.binding.kind, 'direct');
    const js = wasmsg('inspect', examples.fizzbuzz);
    assert.match(js.stdout, /binding\s+jco's glue: it imports WASI/);
  });

  test('call --binding jco runs the same handler through jco, with the same outcome', () => {
    const args = ['call', examples.enrich, '--data-file', at('examples/enrich-c/sample.json'), '--json'];
    const direct = JSON.parse(wasmsg(...args).stdout) as { binding: string; outbox: Array<{ data: string }> };
    const jco = JSON.parse(wasmsg(...args, '--binding', 'jco').stdout) as typeof direct;
    assert.equal(direct.binding, 'direct');
    assert.equal(jco.binding, 'jco');
    assert.deepEqual(
      jco.outbox.map((o) => o.data),
      direct.outbox.map((o) => o.data),
    );
    assert.equal(wasmsg('call', examples.noop, '--binding', 'fast').status, 2, 'an unknown binding is a usage error');
  });
});
