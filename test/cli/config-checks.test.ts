import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { at, cacheDir, examples } from '../helpers.js';

/** What a config file, a flag or the environment says that the CLI refuses rather than ignoring or guessing. */

const bin = at('dist/src/cli/main.js');
function wasmsg(
  args: string[],
  env: Record<string, string> = {},
  timeout = 60_000,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir, ...env },
    timeout,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-config-checks-'));
const file = (name: string, content: string): string => {
  const path = join(tmp, name);
  writeFileSync(path, content);
  return path;
};

describe('component names', () => {
  test('one file twice without names: validate and run refuse it, naming both components and the fix', () => {
    // before: validate said valid and run ran both as 'noop' (one name in metrics, logs, dead letters)
    const config = file(
      'same-file.yaml',
      `components:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: a }]\n  - path: ${examples.noop}\n    subscriptions: [{ channel: b }]\n`,
    );
    const said =
      /options\.components\[1\]\.name: components\[0\] and components\[1\] are both named 'noop', after their file .*give each a name of its own/;
    const v = wasmsg(['validate', config]);
    assert.equal(v.status, 1, v.stdout);
    assert.match(v.stderr, said);
    const r = wasmsg(['run', '--config', config, '--generate', '5', '--workers', '1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, said);
    const named = file(
      'same-file-named.yaml',
      `components:\n  - path: ${examples.noop}\n    name: a\n    subscriptions: [{ channel: a }]\n  - path: ${examples.noop}\n    name: b\n    subscriptions: [{ channel: b }]\n`,
    );
    assert.equal(wasmsg(['validate', named]).status, 0);
  });
});

/** The logger's two environment variables: each refused by the CLI and warned of by the library alike. */
interface LogVariable {
  variable: string;
  what: string;
  valid: string;
  none: string;
  typo: string;
  meant: string;
  flag: [string, string];
  other: Record<string, string>;
  upperRun: Record<string, string>;
  upperSays: (stderr: string) => void;
  logsWith: string;
}
const logVariables: LogVariable[] = [
  {
    variable: 'WASMSG_LOG_LEVEL',
    what: 'log level',
    valid: 'fatal, error, warn, info, debug, trace, silent',
    none: 'verbose',
    typo: 'debgu',
    meant: 'debug',
    flag: ['--log-level', 'warn'],
    // the other variable, valid, so only this one is said
    other: { WASMSG_LOG_FORMAT: 'json' },
    // SILENT as silent: no line at all
    upperRun: { WASMSG_LOG_LEVEL: 'SILENT' },
    upperSays: (stderr: string) => assert.equal(stderr, ''),
    // before: ignored (the logs ran at info)
    logsWith: 'logging at info',
  },
  {
    variable: 'WASMSG_LOG_FORMAT',
    what: 'log format',
    valid: 'json, pretty',
    none: 'text',
    typo: 'jsno',
    meant: 'json',
    flag: ['--log-format', 'json'],
    other: { WASMSG_LOG_LEVEL: 'info' },
    // JSON as json: every line of the run's log is a JSON object
    upperRun: { WASMSG_LOG_FORMAT: 'JSON', WASMSG_LOG_LEVEL: 'debug' },
    upperSays: (stderr: string) => {
      const lines = stderr.split('\n').filter((l) => l !== '');
      assert.ok(lines.length > 0, 'debug lines');
      for (const l of lines) assert.equal(typeof JSON.parse(l), 'object', l);
    },
    // before: ignored (the format was the TTY's default; stderr is a pipe here: json)
    logsWith: 'logging as json',
  },
];

for (const v of logVariables) {
  describe(v.variable, () => {
    test(`a value that is no ${v.what} is a usage error of the CLI naming the variable, the value and what to give`, () => {
      // before: ignored, exit 0
      const none = wasmsg(['validate', at('examples/wasmsg.yaml')], { [v.variable]: v.none });
      assert.equal(none.status, 2, none.stderr);
      assert.equal(none.stdout, '');
      assert.ok(
        none.stderr.startsWith(
          `wasmsg: ${v.variable}=${v.none} is not a ${v.what}: give one of ${v.valid} [E_BAD_OPTION]\n`,
        ),
        none.stderr,
      );
      const run = ['run', examples.noop, '--generate', '3', '--workers', '1'];
      const typo = wasmsg(run, { [v.variable]: v.typo });
      assert.equal(typo.status, 2, typo.stderr);
      assert.ok(
        typo.stderr.includes(
          `${v.variable}=${v.typo} is not a ${v.what} (did you mean '${v.meant}'?): give one of ${v.valid}, or ${v.flag[0]}`,
        ),
        typo.stderr,
      );
      // the flag replaces it: nothing to refuse
      const flag = wasmsg([...run, ...v.flag, '--json'], { [v.variable]: v.typo });
      assert.equal(flag.status, 0, flag.stderr);
      assert.equal(wasmsg(['validate', at('examples/wasmsg.yaml')], { [v.variable]: '' }).status, 0, 'empty: unset');
      // any case, as environment variables go (before: `INFO` was refused)
      const upper = wasmsg([...run, '--json'], { ...v.upperRun });
      assert.equal(upper.status, 0, upper.stderr);
      v.upperSays(upper.stderr);
    });

    test(`the library warns once (at the first options resolved), naming what it logs with`, () => {
      // before: ignored without a word
      const index = pathToFileURL(at('dist/src/index.js')).href;
      const options = { components: [{ path: examples.noop, subscriptions: [{ channel: 'c' }] }], workers: 1 };
      const script = `import { Engine } from ${JSON.stringify(index)};\nconst o = ${JSON.stringify(options)};\nnew Engine(o);\nnew Engine(o);\n`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, ...v.other, [v.variable]: v.typo },
      });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, r.stderr);
      const line = JSON.parse(lines[0]!) as Record<string, unknown>;
      assert.equal(line['level'], 40);
      assert.equal(
        line['msg'],
        `${v.variable}=${v.typo} is not a ${v.what} (did you mean '${v.meant}'?): give one of ${v.valid}; ${v.logsWith}`,
      );
    });
  });
}

describe('a key given twice in a config file', () => {
  test('JSON and YAML: validate and run refuse it, naming the key and both lines', () => {
    // before: JSON.parse kept the last (`workers: 4` ran), and YAML's words named neither the key
    // nor its first line (`not YAML (Map keys must be unique at line 5, column 5:)`)
    const component = `{ "path": ${JSON.stringify(examples.noop)}, "subscriptions": [{ "channel": "a" }] }`;
    const json = file('twice.json', `{\n  "workers": 1,\n  "components": [${component}],\n  "workers": 4\n}\n`);
    const yaml = file(
      'twice.yaml',
      `components:\n  - path: ${examples.noop}\n    name: a\n    subscriptions: [{ channel: a }]\n    name: b\n`,
    );
    for (const [config, said] of [
      [json, "duplicate key 'workers' at line 4 (first given at line 2): keep one"],
      [yaml, "duplicate key 'components[0].name' at line 5 (first given at line 3): keep one"],
    ] as const) {
      const v = wasmsg(['validate', config]);
      assert.equal(v.status, 1, v.stdout);
      assert.equal(v.stderr, `wasmsg: ${config}: ${said}\n`);
      const r = wasmsg(['run', '--config', config, '--generate', '3', '--workers', '1']);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stderr, `wasmsg: --config ${config}: ${said} [E_BAD_OPTION]\n`);
    }
    // JSON's own errors keep JSON's words; the same key in two mappings is no duplicate
    assert.match(wasmsg(['validate', file('bad.json', '{"workers": }')]).stderr, /: not JSON \(Unexpected token/);
    const two = file(
      'two.json',
      `{"components": [${component}, ${component.replace('"a"', '"b"').replace('{ "path"', '{ "name": "b", "path"')}]}`,
    );
    const ok = wasmsg(['validate', two]);
    assert.equal(ok.status, 0, ok.stderr);
  });
});

describe('run flags that would do nothing', () => {
  test('--partitions without the embedded broker, --topic with --from, --size or --keys without --generate: usage errors naming the flag', () => {
    // before: each was ignored, and the run went on (waiting for messages, or consuming the URL's channel)
    const nats = 'nats://127.0.0.1:4222/wasmsg.config-checks';
    const natsDefault = file(
      'nats-default.yaml',
      `brokers: [{ name: default, url: 'nats://127.0.0.1:4222' }]\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ channel: wasmsg.config-checks }]\n`,
    );
    const cases: Array<[string[], RegExp]> = [
      [
        ['--from', nats, '--partitions', '8'],
        /^wasmsg: --partitions sets the embedded broker's partitions; it cannot be combined with --from/,
      ],
      [
        ['--from', nats, '--topic', 'other'],
        /^wasmsg: --topic names a channel of the embedded broker; with --from the URL names the channel/,
      ],
      [['--size', '64'], /^wasmsg: --size shapes the messages --generate makes: without --generate it does nothing/],
      [
        ['--keys', '8', '--size', '64'],
        /^wasmsg: --size and --keys shape the messages --generate makes: without --generate they do nothing/,
      ],
      [
        ['--config', natsDefault, '--partitions', '2'],
        /^wasmsg: --partitions sets the embedded broker's partitions, but the config names another default broker/,
      ],
    ];
    for (const [flags, said] of cases) {
      const args = ['run', ...(flags[0] === '--config' ? [] : [examples.noop]), ...flags, '--workers', '1'];
      // (a run that ignored the flag waits for messages: stopped after 15 s, it fails the test)
      const r = wasmsg(args, {}, 15_000);
      assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, said);
      assert.match(r.stderr, /\(add --help for usage\)\n$/);
    }
    // where they apply, they are taken
    const ok = wasmsg([
      'run',
      examples.noop,
      '--generate',
      '50',
      '--size',
      '16',
      '--keys',
      '4',
      '--partitions',
      '2',
      '--workers',
      '1',
      '--json',
    ]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { processed: number }).processed, 50);
  });
});

describe('brokers[].options.connectTimeoutMs', () => {
  test('validate and run refuse a negative, zero, fractional, too large or text value, naming the field; a good one passes; the embedded broker has no connect to bound', () => {
    // (before the option existed, each broker refused the key as unknown)
    const config = (name: string, value: string, url = 'nats://127.0.0.1:4222'): string =>
      file(
        name,
        `brokers: [{ name: b, url: '${url}', options: { connectTimeoutMs: ${value} } }]\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ broker: b, channel: x }]\n`,
      );
    const field = 'options.brokers[0].options.connectTimeoutMs';
    for (const [value, said] of [
      ['-5', 'must be more than 0 ms'],
      ['0', 'must be more than 0 ms'],
      ['1.5', 'must be a whole number of milliseconds'],
      ['2147483648', "at most 2147483647 ms (Node's timers' limit: a longer wait would fire after 1 ms)"],
      ["'10s'", 'Invalid input: expected number, received string'],
    ] as const) {
      const bad = config(`connect-timeout-${value.replace(/\W/g, '_')}.yaml`, value);
      const v = wasmsg(['validate', bad]);
      assert.equal(v.status, 1, v.stdout);
      assert.equal(v.stderr, `wasmsg: ${bad}: ${field}: ${said}\n`);
      const r = wasmsg(['run', '--config', bad, '--workers', '1']);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stderr, `wasmsg: ${field}: ${said} [E_BAD_OPTION]\n`);
    }
    for (const url of ['nats://127.0.0.1:4222', 'kafka://127.0.0.1:9092', 'redis://h', 'amqp://h', 'mqtt://h']) {
      const ok = wasmsg(['validate', config('connect-timeout-ok.yaml', '300', url)]);
      assert.equal(ok.status, 0, ok.stderr);
    }
    const memory = config('connect-timeout-memory.yaml', '300', 'memory:///');
    const m = wasmsg(['validate', memory]);
    assert.equal(m.status, 1, m.stdout);
    assert.match(m.stderr, /: broker 'b': unknown option 'connectTimeoutMs' \(known: partitions/);
  });
});

describe("brokers[].options: each adapter's values", () => {
  test('validate and run refuse a value out of its type or range, naming the broker and the option; the values at the edges pass validate', () => {
    // (before: `validate` said valid and `run` started; amqp's failed at subscribe with amqplib's
    // words, the others reached their client library: see connect.test.ts)
    const config = (name: string, url: string, options: string): string =>
      file(
        name,
        `brokers: [{ name: b, url: '${url}', options: ${options} }]\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ broker: b, channel: x }]\n`,
      );
    for (const [url, options, said] of [
      [
        'kafka://127.0.0.1:9092',
        '{ commitIntervalMs: 0 }',
        'brokers.b.options.commitIntervalMs: must be more than 0 ms',
      ],
      [
        'nats://127.0.0.1:4222',
        '{ batch: 0 }',
        'brokers.b.options.batch: must be at least 1 message (nats.js would take 0 as 100)',
      ],
      [
        'redis://127.0.0.1:6379',
        '{ claimIdleMs: -5 }',
        'brokers.b.options.claimIdleMs: must be more than 0 ms (0 would claim entries other consumers are still handling)',
      ],
      ['amqp://127.0.0.1', "{ prefetch: '10' }", 'brokers.b.options.prefetch: must be a number, got the string "10"'],
      [
        'mqtt://127.0.0.1',
        '{ receiveMaximum: 70000 }',
        "brokers.b.options.receiveMaximum: must be from 1 to 65535 messages (MQTT 5's Receive Maximum is a two-byte integer)",
      ],
      ['memory:///', '{ maxBatch: 0 }', 'brokers.b.options.maxBatch: must be from 1 to 1000000 records'],
    ] as const) {
      const bad = config(`adapter-option-${url.split(':')[0]}.yaml`, url, options);
      const v = wasmsg(['validate', bad]);
      assert.equal(v.status, 1, v.stdout);
      assert.equal(v.stderr, `wasmsg: ${bad}: broker 'b': ${said}\n`);
      const r = wasmsg(['run', '--config', bad, '--workers', '1']);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stderr, `wasmsg: broker 'b': ${said} [E_BAD_OPTION]\n`);
    }
    for (const [url, options] of [
      ['kafka://127.0.0.1:9092', '{ sessionTimeoutMs: 6000, commitIntervalMs: 1 }'],
      ['nats://127.0.0.1:4222', '{ batch: 1, fetchExpiresMs: 1000, jetstream: true }'],
      ['redis://127.0.0.1:6379', "{ claimIdleMs: 1, count: 1, consumer: 'c' }"],
      ['amqp://127.0.0.1', '{ prefetch: 0 }'],
      ['mqtt://127.0.0.1', '{ receiveMaximum: 65535 }'],
    ] as const) {
      const ok = wasmsg(['validate', config('adapter-option-ok.yaml', url, options)]);
      assert.equal(ok.status, 0, ok.stderr);
    }
  });

  test("validate lists every problem of a broker's options, unknown keys first; run names the first", () => {
    // before: validate gave the first one per broker, so a config was fixed one run at a time
    const bad = file(
      'adapter-options-all.yaml',
      `brokers:\n  - { name: b, url: 'redis://127.0.0.1:6379', options: { count: 0, claimIdleMs: -5, claimIdle: 1, blok: 2 } }\n  - { name: m, url: 'memory:///', options: { maxBatch: 0 } }\ncomponents:\n  - path: ${examples.noop}\n    subscriptions: [{ broker: b, channel: x }]\n`,
    );
    const v = wasmsg(['validate', bad]);
    assert.equal(v.status, 1, v.stdout);
    const lines = v.stderr.trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(`wasmsg: ${bad}: `, '').replace(/ \(.*$/, '')),
      [
        "broker 'b': unknown option 'claimIdle'",
        "broker 'b': unknown option 'blok'",
        "broker 'b': brokers.b.options.count: must be at least 1 entry",
        "broker 'b': brokers.b.options.claimIdleMs: must be more than 0 ms",
        "broker 'm': brokers.m.options.maxBatch: must be from 1 to 1000000 records",
      ],
      v.stderr,
    );
    const r = wasmsg(['run', '--config', bad, '--workers', '1']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^wasmsg: broker 'b': unknown option 'claimIdle' \(.*\) \[E_BAD_OPTION\]\n$/);
  });
});
