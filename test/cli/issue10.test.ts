import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { describe, test } from 'node:test';
import { at, cacheDir, examples, fixture } from '../helpers.js';

/** What a new user hits first (issue 10): exit codes, usage errors, --version, help, hints, --limit, config files. */

const bin = at('dist/src/cli/main.js');
function wasmsg(args: string[], cwd = at('.')): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = mkdtempSync(join(tmpdir(), 'wasmsg-issue10-'));

describe('exit codes and usage (item 8)', () => {
  const usage: Array<[string, string[], RegExp]> = [
    ['--timeout abc', ['call', examples.noop, '--timeout', 'abc'], /--timeout <ms>.*'abc' is invalid/],
    ['--header foo', ['call', examples.noop, '--header', 'foo'], /--header <k=v>.*'foo' is invalid.*key=value/],
    ['bare run', ['run'], /run needs a component file or --config <file>/],
    ['--generate with --from', ['run', examples.noop, '--from', 'kafka://h:9092/t', '--generate', '3'], /--generate/],
    ['--batch 0', ['run', examples.noop, '--batch', '0'], /--batch <n>.*must be an integer >= 1/],
    // before: --linger 3000000000 ran with a 1 ms linger (setTimeout's overflow), and
    // --handler-timeout 3000000000 failed with exit 1 naming options.handlerTimeoutMs, not the flag
    [
      '--linger 3000000000',
      ['run', examples.noop, '--generate', '1', '--linger', '3000000000'],
      /--linger <ms>.*must be at most 2147483647 \(Node's timers' limit\)/,
    ],
    [
      '--handler-timeout 3000000000',
      ['run', examples.noop, '--generate', '1', '--handler-timeout', '3000000000'],
      /--handler-timeout <ms>.*must be at most 2147483647 \(Node's timers' limit\)/,
    ],
  ];
  for (const [name, args, message] of usage) {
    test(`${name}: usage error, exit 2, nothing on stdout`, () => {
      const r = wasmsg(args);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }

  test('call --json on a handler timeout prints the JSON result and exits 3', () => {
    const r = wasmsg(['call', fixture('loop'), '--timeout', '300', '--json']);
    assert.equal(r.status, 3, r.stderr);
    const out = JSON.parse(r.stdout) as { result: { timeout: string }; outbox: unknown[] };
    assert.match(out.result.timeout, /did not return within 300 ms.*\[E_HANDLER_TIMEOUT\]/);
    assert.deepEqual(out.outbox, []);
    const human = wasmsg(['call', fixture('loop'), '--timeout', '300']);
    assert.equal(human.status, 3);
    assert.match(human.stdout, /result\s+timeout: .*did not return within 300 ms/);
  });

  test('run --limit N settles exactly N messages, whatever the batch size', () => {
    const r = wasmsg(['run', examples.noop, '--generate', '3000', '--limit', '10', '--workers', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s['received'], s['processed'], s['acked']], [10, 10, 10]);
  });
});

describe('workers bounded (item 5)', () => {
  test('--workers 1000 is refused with the bound and why; the schema too, naming the field', () => {
    const r = wasmsg(['run', examples.noop, '--generate', '1', '--workers', '1000']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--workers <n>.*must be at most \d+ \(4 per core, 16 at least/);
    const config = join(tmp, 'many.json');
    writeFileSync(
      config,
      JSON.stringify({ components: [{ path: examples.noop, subscriptions: [{ channel: 'c' }] }], workers: 1000 }),
    );
    const c = wasmsg(['validate', config]);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /options\.workers: at most \d+ worker threads \(4 per core, 16 at least/);
  });
  test('run --help says what the default is and why', () => {
    const r = wasmsg(['run', '--help']);
    assert.match(
      r.stdout.replace(/\s+/g, ' '),
      /--workers <n> worker threads \(default: cores - 1 = \d+ here, so the main thread keeps a core; at most \d+\)/,
    );
  });
});

describe('papercuts (item 10)', () => {
  test('--version prints the package version', () => {
    const r = wasmsg(['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
  test('wasmsg --help names the environment variables it reads and what they take', () => {
    // before: WASMSG_LOG_LEVEL and WASMSG_LOG_FORMAT were said only under run's and call's flags
    const r = wasmsg(['--help']);
    assert.equal(r.status, 0);
    const environment = r.stdout.slice(r.stdout.indexOf('\nEnvironment:\n')).replace(/\s+/g, ' ');
    assert.match(
      environment,
      /WASMSG_LOG_LEVEL stderr log level: fatal, error, warn, info, debug, trace, silent \(any case; default info\)/,
    );
    assert.match(
      environment,
      /WASMSG_LOG_FORMAT stderr log format: json or pretty \(any case; default pretty on a TTY, json off one\)/,
    );
    assert.match(environment, /WASMSG_CACHE_DIR transpile cache directory/);
    assert.match(environment, /--log-level, --log-format and --cache-dir, where a command takes them, override these/);
    assert.doesNotMatch(wasmsg(['run', '--help']).stdout, /\nEnvironment:\n/, "the top level's alone");
  });
  for (const command of [[], ['inspect'], ['call'], ['run'], ['validate'], ['new']]) {
    test(`wasmsg ${command.join(' ')} --help shows examples`, () => {
      const r = wasmsg([...command, '--help']);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /\nExamples:\n {2}wasmsg /);
    });
  }
});

describe('a component path that is no component file: one check, one wording, every command (exit 1)', () => {
  // before: `bench` checked the path with words of its own (a usage error, exit 2), the other
  // commands left a missing file to the loader (`cannot read component (no such file)`, no
  // directory said), and opened a FIFO to look at its first bytes: they waited for a writer for good
  const dir = mkdtempSync(join(tmp, 'paths-'));
  mkdirSync(join(dir, 'a-dir'));
  assert.equal(spawnSync('mkfifo', [join(dir, 'a-fifo.wasm')]).status, 0, 'mkfifo');
  const wat = at('examples/noop-wat/noop.wat');
  const watHint =
    'WebAssembly text, not a binary component: wasmsg runs component binaries (.wasm). Build one with ' +
    '`wasm-tools parse` for a (component ...) text, or for a core (module ...) embed a wasi:messaging world and run ' +
    '`wasm-tools component new` (docs/components.md; `wasmsg new` scaffolds a build script) [E_NOT_WASM]';
  // [case, path as given, what follows `component <path>: ` (a relative path: given, and at the
  // command line resolved against the working directory, which it says when the file is missing)]
  const cases: Array<[string, string, (relative: boolean) => string]> = [
    [
      'missing',
      'nope.wasm',
      (relative) =>
        `no such file${relative ? ` (resolved against the working directory ${dir})` : ''} [E_FILE_NOT_FOUND]`,
    ],
    [
      'a directory',
      'a-dir',
      () => 'is a directory (EISDIR), not a component file: name the .wasm inside it [E_BAD_INPUT]',
    ],
    ['a FIFO', 'a-fifo.wasm', () => 'is a FIFO, not a regular file: name a component file (.wasm) [E_BAD_INPUT]'],
    ['WebAssembly text', wat, () => watHint],
  ];
  const commands: Array<[string, (path: string) => string[]]> = [
    // without --topic the path is checked before the component is inspected (its world), with
    // it among the run's other checks: once either way
    ['run', (path) => ['run', path, '--generate', '1']],
    ['run --topic', (path) => ['run', path, '--topic', 't', '--generate', '1']],
    ['call', (path) => ['call', path]],
    ['inspect', (path) => ['inspect', path]],
    ['bench', (path) => ['bench', path, '--messages', '100', '--no-progress']],
  ];
  for (const [name, path, why] of cases) {
    for (const [command, args] of commands) {
      test(`${command}: ${name}`, () => {
        // a timeout: a command that waits on the FIFO fails here rather than hang the suite
        const r = spawnSync(process.execPath, [bin, ...args(path)], {
          encoding: 'utf8',
          cwd: dir,
          env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
          timeout: 60_000,
        });
        assert.equal(r.status, 1, r.stderr);
        assert.equal(r.stderr, `wasmsg: component ${path}: ${why(!isAbsolute(path))}\n`);
        assert.equal(r.stdout, '');
      });
    }
    test(`validate: ${name} (a config's path is resolved against the config's directory, so said whole)`, () => {
      const config = join(dir, `${name.replaceAll(' ', '-')}.json`);
      writeFileSync(config, JSON.stringify({ components: [{ path, subscriptions: [{ channel: 'c' }] }] }));
      const r = spawnSync(process.execPath, [bin, 'validate', config], {
        encoding: 'utf8',
        env: { ...process.env, WASMSG_CACHE_DIR: cacheDir },
        timeout: 60_000,
      });
      assert.equal(r.status, 1, r.stderr);
      const whole = isAbsolute(path) ? path : join(dir, path);
      assert.equal(r.stderr, `wasmsg: ${config}: options.components[0].path: component ${whole}: ${why(false)}\n`);
    });
  }
});

describe('config files (items 2 and 9)', () => {
  test('--config with a component, --from, --group, --kind or --topic is a usage error', () => {
    const config = at('examples/wasmsg.yaml');
    for (const extra of [
      [examples.noop],
      ['--from', 'kafka://h:9092/t'],
      ['--group', 'g'],
      ['--kind', 'topic'],
      ['--topic', 't'],
    ]) {
      const r = wasmsg(['run', '--config', config, ...extra]);
      assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /--config names the components, their inputs and brokers: it cannot be combined with/);
    }
  });

  test('a YAML config runs from another directory: paths are relative to the file', () => {
    const dir = join(tmp, 'yaml');
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'wasmsg.yaml');
    writeFileSync(
      config,
      `# comment\ncomponents:\n  - path: ${JSON.stringify(at('examples/echo-wat/echo.wasm'))}\n    subscriptions: [{ channel: in }]\n  - path: ../yaml-rel/batch.wasm\n`,
    );
    mkdirSync(join(tmp, 'yaml-rel'), { recursive: true });
    writeFileSync(join(tmp, 'yaml-rel', 'batch.wasm'), spawnSync('cat', [examples.batch]).stdout);
    const r = wasmsg(
      ['run', '--config', config, '--generate', '20', '--size', '8', '--workers', '1', '--json'],
      tmpdir(),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /consuming default\/in \(queue\), default\/in \(queue\)/);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(s['acked'], 20);
  });

  test('the sample config validates and runs', () => {
    const v = wasmsg(['validate', at('examples/wasmsg.yaml')]);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /valid\n/);
    const r = wasmsg([
      'run',
      '--config',
      at('examples/wasmsg.yaml'),
      '--generate',
      '50',
      '--size',
      '8',
      '--workers',
      '1',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Record<string, number>)['acked'], 50);
  });

  test("a tuning flag over a file's section that is not a mapping: the schema's error, as without the flag", () => {
    // before: `--binding jco` over `components:` given as a mapping failed with "components.map is
    // not a function", and `--linger`, `--batch`, `--max-attempts` or `--dead-letter` over an empty
    // section (`batch:` in YAML is null) replaced it with a mapping: run ran a file validate refuses
    const noop = JSON.stringify(examples.noop);
    const cases: Array<[string, string, string[], RegExp]> = [
      ['binding', `components:\n  path: ${noop}\n`, ['--binding', 'jco'], /options\.components: .*expected array/],
      ['linger', 'batch:\n', ['--linger', '2'], /options\.batch: .*expected object, received null/],
      ['batch', 'batch: [1]\n', ['--batch', '8'], /options\.batch: .*expected object, received array/],
      ['attempts', 'retries:\n', ['--max-attempts', '2'], /options\.retries: .*expected object, received null/],
      ['dlq', 'deadLetter: x\n', ['--dead-letter', 'd'], /options\.deadLetter: .*expected object, received string/],
    ];
    for (const [name, section, flags, message] of cases) {
      const config = join(tmp, `section-${name}.yaml`);
      const components =
        name === 'binding' ? '' : `components:\n  - path: ${noop}\n    subscriptions: [{ channel: in }]\n`;
      writeFileSync(config, components + section);
      const v = wasmsg(['validate', config]);
      assert.equal(v.status, 1, v.stdout);
      assert.match(v.stderr, message);
      const r = wasmsg(['run', '--config', config, '--generate', '1', '--workers', '1', ...flags]);
      assert.equal(r.status, 1, `${name}: ${r.stderr}${r.stdout}`);
      assert.match(r.stderr, message, name);
    }
  });

  test("a tuning flag over a file's mapping sets its key and keeps the others", () => {
    const config = join(tmp, 'section-kept.yaml');
    writeFileSync(
      config,
      `components:\n  - path: ${JSON.stringify(fixture('trap'))}\n    subscriptions: [{ channel: in }]\nretries: { maxAttempts: 5, backoffMs: 0, maxBackoffMs: 0 }\n`,
    );
    const r = wasmsg(['run', '--config', config, '--generate', '3', '--workers', '1', '--max-attempts', '2', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s['retried'], s['deadLettered']], [3, 3]);
  });

  test('validate: every problem at once, unknown keys with did-you-mean; run names the first', () => {
    const config = join(tmp, 'typos.yaml');
    writeFileSync(
      config,
      'components:\n  - path: nope.wasm\n    subscriptons: [{ channel: c }]\nworkerz: 2\nbatch: { maxMesages: 2 }\nretries: { maxAttempts: 0 }\n',
    );
    const v = wasmsg(['validate', config]);
    assert.equal(v.status, 1);
    const lines = v.stderr.trim().split('\n');
    assert.equal(lines.length, 4, v.stderr);
    assert.match(
      v.stderr,
      /options\.components\[0\]: Unrecognized key: "subscriptons" \(did you mean 'subscriptions'\?\)/,
    );
    assert.match(v.stderr, /options: Unrecognized key: "workerz" \(did you mean 'workers'\?\)/);
    assert.match(v.stderr, /options\.batch: Unrecognized key: "maxMesages" \(did you mean 'maxMessages'\?\)/);
    assert.match(v.stderr, /options\.retries\.maxAttempts: /);
    const r = wasmsg(['run', '--config', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^wasmsg: options.*\[E_BAD_OPTION\]\n$/);
    const json = wasmsg(['validate', config, '--json']);
    assert.equal((JSON.parse(json.stdout) as { problems: string[] }).problems.length, 4);
  });

  test('validate: every problem across fields at once (brokers, names, dead-letter broker), and the components past them', () => {
    // before: the first of these only, and no component file was looked at after it
    const config = join(tmp, 'across.yaml');
    writeFileSync(
      config,
      [
        'brokers:',
        '  - { name: k, url: "kafka://127.0.0.1:9092/x" }',
        'components:',
        `  - { path: ${JSON.stringify(examples.noop)}, subscriptions: [{ broker: kafak, channel: in }] }`,
        `  - { path: ${JSON.stringify(examples.noop)}, subscriptions: [{ channel: in }] }`,
        '  - { path: nope.wasm, name: other, subscriptions: [{ channel: in }] }',
        'deadLetter: { broker: nope }',
        '',
      ].join('\n'),
    );
    const v = wasmsg(['validate', config, '--json']);
    assert.equal(v.status, 1, v.stderr);
    const problems = (JSON.parse(v.stdout) as { problems: string[] }).problems;
    assert.equal(problems.length, 4, problems.join('\n'));
    assert.match(
      problems[0]!,
      /^options\.components\[1\]\.name: components\[0\] and components\[1\] are both named 'noop'/,
    );
    assert.match(problems[1]!, /^options\.components\[0\]\.subscriptions\[0\]\.broker: no broker named 'kafak'/);
    assert.match(problems[2]!, /^options\.deadLetter\.broker: no broker named 'nope'$/);
    assert.match(problems[3]!, /^options\.components\[2\]\.path: .*nope\.wasm.*\[E_FILE_NOT_FOUND\]$/);
    // run still names the first
    const r = wasmsg(['run', '--config', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^wasmsg: options\.components\[1\]\.name: .*\[E_BAD_OPTION\]\n$/);
  });

  test('validate of a file it cannot read or parse: its own words, and one JSON object with --json', () => {
    // before: `--config X: …` (a flag validate does not take), and nothing on stdout with --json
    const missing = join(tmp, 'nope.yaml');
    const r = wasmsg(['validate', missing, '--json']);
    assert.equal(r.status, 1);
    assert.deepEqual(JSON.parse(r.stdout), { file: missing, valid: false, problems: ['no such file'] });
    const broken = join(tmp, 'broken.yaml');
    writeFileSync(broken, 'components: [');
    const b = wasmsg(['validate', broken]);
    assert.equal(b.status, 1);
    assert.match(b.stderr, new RegExp(`^wasmsg: ${broken.replaceAll('.', '\\.')}: not YAML \\(`));
    assert.doesNotMatch(b.stderr, /--config/);
  });

  test("validate runs a world C component's configure(): an err, or a channel its grants refuse, as run would at start", () => {
    // before: both were "valid" (configure() ran only in `run`)
    const config = join(tmp, 'world-c.json');
    const check = (component: Record<string, unknown>): { status: number | null; stderr: string; stdout: string } => {
      writeFileSync(config, JSON.stringify({ components: [component] }));
      return wasmsg(['validate', config]);
    };
    const errs = check({ path: fixture('batch-noconf'), subscriptions: [{ channel: 'in' }] });
    assert.equal(errs.status, 1);
    assert.match(
      errs.stderr,
      /components\[0\]\.path: .*batch-noconf\.wasm: configure\(\) returned err: connection: unknown broker 'nope' \[E_INSTANTIATE\]/,
    );
    const denied = check({ path: examples.batch, grants: { subscribe: ['orders.*'] } });
    assert.equal(denied.status, 1);
    assert.match(
      denied.stderr,
      /components\[0\]\.subscriptions: batch's configure\(\) asks for channel 'in', which its grants do not allow/,
    );
    const fine = check({ path: examples.batch });
    assert.equal(fine.status, 0, fine.stderr);
    assert.match(fine.stdout, /consumes the channels its configure\(\) returns \(in\), on 'default'/);
  });

  test("validate refuses what run would at start: an adapter's bad option, one Kafka group for two topics", () => {
    // before: both were "valid", and `run --config` refused them
    const config = join(tmp, 'start-checks.json');
    writeFileSync(
      config,
      JSON.stringify({
        brokers: [{ name: 'mem', url: 'memory://', options: { partitions: '8' } }],
        components: [{ path: examples.noop, subscriptions: [{ channel: 'c', broker: 'mem' }] }],
      }),
    );
    const bad = wasmsg(['validate', config]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /broker 'mem': brokers\.mem\.options\.partitions: must be a number, got the string "8"/);
    writeFileSync(
      config,
      JSON.stringify({
        brokers: [{ name: 'default', url: 'kafka://127.0.0.1:9/x' }],
        components: [
          {
            path: examples.noop,
            subscriptions: [
              { channel: 'a', group: 'g' },
              { channel: 'b', group: 'g' },
            ],
          },
        ],
      }),
    );
    const clash = wasmsg(['validate', config]);
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /subscriptions\[1\]\.group: consumer group 'g' .* topics 'a' and 'b'/);
  });

  test("maxMemoryBytes below a component's initial memory: validate refuses it as run does, both naming the key", () => {
    // before: validate said valid, and run failed with WebAssembly.compile()'s "maximum memory
    // size (1 pages) is less than initial (2 pages)", naming no option
    const config = join(tmp, 'memory-cap.json');
    writeFileSync(
      config,
      JSON.stringify({
        components: [{ path: examples.enrich, maxMemoryBytes: 65536, subscriptions: [{ channel: 'in' }] }],
      }),
    );
    const why =
      /enrich\.wasm: its core module component\.core\.wasm starts with 131072 bytes of linear memory, more than maxMemoryBytes \(65536\): raise maxMemoryBytes to at least 131072 \[E_BAD_OPTION\]/;
    const v = wasmsg(['validate', config]);
    assert.equal(v.status, 1, v.stdout);
    assert.match(v.stderr, /options\.components\[0\]\.maxMemoryBytes: /);
    assert.match(v.stderr, why);
    const r = wasmsg(['run', '--config', config, '--generate', '1', '--workers', '1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, why);
    writeFileSync(
      config,
      JSON.stringify({
        components: [{ path: examples.enrich, maxMemoryBytes: 131072, subscriptions: [{ channel: 'in' }] }],
      }),
    );
    const fits = wasmsg(['validate', config]);
    assert.equal(fits.status, 0, fits.stderr);
  });

  test('validate checks brokers and component files', () => {
    const config = join(tmp, 'brokers.json');
    writeFileSync(
      config,
      JSON.stringify({ components: [{ path: examples.echo, subscriptions: [{ channel: 'c', broker: 'kafka' }] }] }),
    );
    const r = wasmsg(['validate', config]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /subscriptions\[0\]\.broker: no broker named 'kafka'/);
    writeFileSync(config, JSON.stringify({ components: [{ path: examples.echo }] }));
    assert.match(wasmsg(['validate', config]).stderr, /needs subscriptions; only a world C component/);
    writeFileSync(
      config,
      JSON.stringify({ components: [{ path: 'missing.wasm', subscriptions: [{ channel: 'c' }] }] }),
    );
    assert.match(
      wasmsg(['validate', config]).stderr,
      /components\[0\]\.path: component \/.*\/missing\.wasm: no such file \[E_FILE_NOT_FOUND\]\n$/,
    );
  });

  test('--max-attempts, --handler-timeout and --dead-letter reach the engine', () => {
    const r = wasmsg(['run', fixture('err'), '--generate', '5', '--max-attempts', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual([s['acked'], s['deadLettered'], s['failed']], [5, 5, 5]);
    const t = wasmsg([
      'run',
      fixture('loop'),
      '--generate',
      '1',
      '--handler-timeout',
      '200',
      '--max-attempts',
      '1',
      '--workers',
      '1',
      '--json',
    ]);
    assert.equal(t.status, 0, t.stderr);
    assert.equal((JSON.parse(t.stdout) as Record<string, number>)['deadLettered'], 1);
    // a dead-letter channel that is also the input: dead letters come back in and count as received
    const d = wasmsg([
      'run',
      fixture('err'),
      '--generate',
      '2',
      '--limit',
      '4',
      '--max-attempts',
      '1',
      '--dead-letter',
      'input',
      '--json',
    ]);
    assert.equal(d.status, 0, d.stderr);
    assert.equal((JSON.parse(d.stdout) as Record<string, number>)['received'], 4);
  });
});
