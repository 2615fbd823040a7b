#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { escapeControl } from '../component/host-text.js';
import { WasmsgError } from '../errors.js';
import { DEFAULT_WORKERS, MAX_BATCH_MESSAGES, MAX_TIMER_MS, MAX_WORKERS } from '../engine/options.js';
import { type BenchFlags, intListParser, listParser, runBenchCommand } from './bench.js';
import { runCall } from './call.js';
import { runInspect } from './inspect.js';
import { LANGS, WORLDS, runNew } from './new.js';
import { EXIT_DEAD_LETTERED, runRun } from './run.js';
import { DEFAULT_PARTITIONS, DEFAULT_SIZE } from './run-options.js';
import { DEFAULT_STATS_INTERVAL_S } from './run-output.js';
import { UsageError, collect, headerParser, intParser } from './usage.js';
import { runValidate } from './validate.js';
import { LOG_FORMATS, LOG_LEVELS, configureLogging, envFormatProblem, envLevelProblem } from '../log.js';
import { tuneHeap } from '../heap-tuning.js';
import { outliveUnwritableOutput } from './unwritable-output.js';

tuneHeap();
// `| head`, `| grep -q`, a full disk: a stdout or stderr that fails stops the output, not the command
outliveUnwritableOutput();

/**
 * Exit codes: 0 ok; 1 bad input or failure (one line on stderr); 2 usage (a flag's value, a
 * missing argument, flags that do not go together); 3 the handler returned err, trapped, or was
 * stopped (call); 4 messages were dead-lettered (run --fail-on-dead-letter).
 */
export const ExitCode = { ok: 0, failure: 1, usage: 2, handlerFailed: 3, deadLettered: EXIT_DEAD_LETTERED } as const;

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const examples = (...lines: string[]): string => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

const program = new Command()
  .name('wasmsg')
  .description('Run wasi-messaging WebAssembly components against message brokers')
  .version(pkg.version, '-V, --version', 'print the version')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride()
  .hook('preAction', (_program, action) => {
    const o = action.opts<{ logLevel?: string; logFormat?: 'json' | 'pretty' }>();
    // a WASMSG_LOG_LEVEL (WASMSG_LOG_FORMAT) that names no level (format) is refused where it
    // would set the level (format): no --log-level (--log-format) given
    const envProblems: Array<[string | undefined, string, string]> = [
      [o.logLevel === undefined ? envLevelProblem() : undefined, '--log-level', 'WASMSG_LOG_LEVEL'],
      [o.logFormat === undefined ? envFormatProblem() : undefined, '--log-format', 'WASMSG_LOG_FORMAT'],
    ];
    for (const [problem, long, variable] of envProblems) {
      if (problem === undefined) continue;
      const flag = action.options.some((x) => x.long === long);
      throw new UsageError(`${problem}${flag ? `, or ${long}` : ''}`, variable);
    }
    configureLogging({
      ...(o.logLevel === undefined ? {} : { level: o.logLevel }),
      ...(o.logFormat === undefined ? {} : { format: o.logFormat }),
    });
  })
  .addHelpText(
    'after',
    examples(
      'wasmsg inspect examples/echo-wat/echo.wasm',
      'wasmsg call examples/enrich-c/enrich.wasm --data \'{"amount": 5}\'',
      'wasmsg run examples/noop-wat/noop.wasm --generate 100000',
      'wasmsg run relay.wasm --from kafka://127.0.0.1:9092/orders --group g',
      'wasmsg validate examples/wasmsg.yaml',
      'wasmsg new my-handler --world a --lang wat',
    ),
  )
  .addHelpText(
    'after',
    [
      'Environment:',
      `  WASMSG_LOG_LEVEL   stderr log level: ${LOG_LEVELS.slice(0, -1).join(', ')},`,
      `                     ${LOG_LEVELS.at(-1)} (any case; default info)`,
      `  WASMSG_LOG_FORMAT  stderr log format: ${LOG_FORMATS.join(' or ')} (any case; default pretty`,
      '                     on a TTY, json off one)',
      '  WASMSG_CACHE_DIR   transpile cache directory (default $XDG_CACHE_HOME/wasmsg,',
      '                     else ~/.cache/wasmsg)',
      '  --log-level, --log-format and --cache-dir, where a command takes them,',
      '  override these; a level or format that names none is a usage error (exit 2)',
      '',
    ].join('\n'),
  );

program
  .command('inspect')
  .description('show the world, imports, exports and size of a component')
  .argument('<file>', 'component (.wasm)')
  .option('--json', 'print one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .addHelpText('after', examples('wasmsg inspect examples/echo-wat/echo.wasm', 'wasmsg inspect my.wasm --json'))
  .action(async (file: string, opts: { json?: boolean; cacheDir?: string }) => {
    process.exitCode = await runInspect(file, opts);
  });

program
  .command('call')
  .description("run a component's handler once on one message")
  .argument('<file>', 'component (.wasm)')
  .addOption(new Option('--data <string>', 'message payload (UTF-8)').conflicts('dataFile'))
  .option('--data-file <file>', 'message payload read from a file')
  .option('--topic <name>', 'channel the message arrives on', 'input')
  .option('--subject <s>', 'message key (the CloudEvent subject in world A)')
  .addOption(new Option('--header <k=v>', 'message header (repeatable)').argParser(headerParser).default([], 'none'))
  .addOption(
    new Option('--broker <name>', 'broker name the component may open (repeatable)')
      .argParser(collect)
      .default([], 'default'),
  )
  .option(
    '--timeout <ms>',
    'stop a handler that runs longer than this (exit 3)',
    intParser(1, MAX_TIMER_MS, "Node's timers' limit"),
    10_000,
  )
  .addOption(
    new Option(
      '--binding <kind>',
      "auto: the direct canonical-ABI binding where the component fits it; jco: always jco's glue",
    )
      .choices(['auto', 'jco'])
      .default('auto'),
  )
  .addOption(
    new Option('--log-level <level>', 'log level of stderr logs (default: $WASMSG_LOG_LEVEL, else info)').choices(
      LOG_LEVELS,
    ),
  )
  .addOption(
    new Option(
      '--log-format <format>',
      'stderr logs: json lines or pretty (default: $WASMSG_LOG_FORMAT, else pretty on a TTY, json off one)',
    ).choices(['json', 'pretty']),
  )
  .option('--json', 'print one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .addHelpText(
    'after',
    examples(
      'wasmsg call examples/enrich-c/enrich.wasm --data \'{"amount": 5}\'',
      'wasmsg call examples/fizzbuzz-js/fizzbuzz.wasm --data fizz --header trace=1 --json',
      'wasmsg call my.wasm --data-file message.json --topic orders --timeout 500',
      '',
      'Exit codes: 0 ok, 1 bad input, 2 usage, 3 the handler returned an error, trapped or timed out.',
    ),
  )
  .action(async (file: string, opts: Parameters<typeof runCall>[1]) => {
    process.exitCode = await runCall(file, opts);
  });

program
  .command('run')
  .description('run a component on a broker: the engine (batches, worker threads, settlement)')
  .argument('[component]', 'component (.wasm); or use --config')
  .option(
    '--config <file>',
    'config file, YAML or JSON (docs/config.md); not with a component, --from, --group, --kind or --topic',
  )
  .option(
    '--workers <n>',
    `worker threads (default: cores - 1 = ${DEFAULT_WORKERS} here, so the main thread keeps a core; at most ${MAX_WORKERS})`,
    intParser(1, MAX_WORKERS, `4 per core, 16 at least: more only share the cores`),
  )
  .option('--batch <n>', 'max messages per batch (default 1024)', intParser(1, MAX_BATCH_MESSAGES))
  .option('--linger <ms>', 'max wait to fill a batch (default 1)', intParser(0, MAX_TIMER_MS, "Node's timers' limit"))
  .addOption(
    new Option('--ordering <mode>', 'ordering guarantee (default partition)').choices(['partition', 'key', 'none']),
  )
  .option(
    '--from <url>',
    'consume from a broker: kafka://h:9092/topic, nats://h:4222/subject, redis://h:6379/stream[?db=N], amqp://u:p@h:5672/[vhost/]queue, mqtt://h:1883/topic/#',
  )
  .option('--group <name>', 'consumer group (queue semantics)')
  .addOption(
    new Option('--kind <kind>', 'queue: competing consumers in --group; topic: this engine gets everything').choices([
      'queue',
      'topic',
    ]),
  )
  .option(
    '--topic <name>',
    "input channel on the embedded broker (default: input; a world C component's: the channels its configure() returns); not with --from (its URL names the channel)",
  )
  .option(
    '--partitions <n>',
    `partitions of the embedded broker's channels (default ${DEFAULT_PARTITIONS}); not with --from, nor a config naming its own default broker`,
    intParser(1),
  )
  .option(
    '--generate <n>',
    "produce N synthetic messages into the embedded broker's input channel; not with --from, nor a config naming its own default broker",
    intParser(1),
  )
  .option(
    '--size <bytes>',
    `payload size of generated messages (default ${DEFAULT_SIZE}); only with --generate`,
    intParser(0),
  )
  .option('--keys <k>', 'distinct keys of generated messages (default: none); only with --generate', intParser(0))
  .option('--limit <n>', 'take N messages, stop once they are settled (default: --generate N)', intParser(1))
  .option(
    '--max-attempts <n>',
    'attempts per message, the first included, before dead-lettering (default 3)',
    intParser(1),
  )
  .option(
    '--handler-timeout <ms>',
    'stop a handler call running longer than this; a failed attempt (default 30000)',
    intParser(1, MAX_TIMER_MS, "Node's timers' limit"),
  )
  .option('--dead-letter <channel>', 'channel of messages that failed every attempt (default wasmsg.dead-letter)')
  .option(
    '--dead-letters <file>',
    'also write every dead letter to this file, one JSON line each (payload base64, headers, error, position)',
  )
  .option(
    '--metrics <host:port>',
    'serve Prometheus metrics on http://host:port/metrics, with /healthz and /readyz (port 0: any free port)',
  )
  .option(
    '--stats-interval <s>',
    `a stats line on stderr every S seconds, 0: none (default ${DEFAULT_STATS_INTERVAL_S}; on a TTY, unless given, a progress bar or a line each second)`,
    intParser(0, Math.floor(MAX_TIMER_MS / 1000), "Node's timers' limit"),
  )
  .option('--fail-on-dead-letter', `exit ${EXIT_DEAD_LETTERED} when any message was dead-lettered`)
  .addOption(
    new Option(
      '--binding <kind>',
      "auto: the direct canonical-ABI binding where the component fits it; jco: always jco's glue",
    ).choices(['auto', 'jco']),
  )
  .addOption(
    new Option('--log-level <level>', 'log level of stderr logs (default: $WASMSG_LOG_LEVEL, else info)').choices(
      LOG_LEVELS,
    ),
  )
  .addOption(
    new Option(
      '--log-format <format>',
      'stderr logs: json lines or pretty (default: $WASMSG_LOG_FORMAT, else pretty on a TTY, json off one)',
    ).choices(['json', 'pretty']),
  )
  .option('--json', 'print the final stats as one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .addHelpText(
    'after',
    examples(
      'wasmsg run examples/noop-wat/noop.wasm --generate 100000 --workers 2',
      'wasmsg run examples/fizzbuzz-js/fizzbuzz.wasm --generate 3000 --size 64 --keys 100',
      'wasmsg run relay.wasm --from kafka://127.0.0.1:9092/orders --group g --limit 1000',
      'wasmsg run --config examples/wasmsg.yaml --workers 4 --max-attempts 5',
      'wasmsg run test/fixtures/trap.wasm --generate 20 --dead-letters dead.jsonl --fail-on-dead-letter',
      'wasmsg run examples/noop-wat/noop.wasm --metrics 127.0.0.1:9464 --log-level warn',
      '',
      'With --config, the file names components, inputs and brokers; the other flags override it.',
      'Each distinct failure reason is logged (rate-limited) with the component and message position.',
      `Exit codes: 0 ok, 1 failure, 2 usage, ${EXIT_DEAD_LETTERED} messages were dead-lettered (with --fail-on-dead-letter).`,
    ),
  )
  .action(async (component: string | undefined, opts: Parameters<typeof runRun>[1]) => {
    process.exitCode = await runRun(component, opts);
  });

program
  .command('bench')
  .description('benchmark brokers and configurations: the same workload through each, side by side')
  .argument('[component]', 'component (.wasm) to run (default: the bundled no-op)')
  .option(
    '--brokers <list>',
    'comma list: memory, kafka://h:9092/topic, nats://h:4222/subject, redis://h:6379/stream, amqp://h/queue, mqtt://h/topic',
    listParser,
    ['memory'],
  )
  .option('--messages <n>', 'messages per run (warm-up included)', intParser(1, 1e9), 100_000)
  .option(
    '--size <bytes>',
    'payload bytes (a comma list for a matrix, as are --brokers, --keys, --workers, --batch, --ordering, --work and --rate; each value once)',
    intListParser(8, 64 * 1024 * 1024),
    [100],
  )
  .option('--keys <n>', 'distinct message keys (0: none)', intListParser(0, 1e9), [0])
  .option('--workers <n>', 'worker threads', intListParser(1, MAX_WORKERS), [DEFAULT_WORKERS])
  .option('--batch <n>', 'most messages per batch', intListParser(1, MAX_BATCH_MESSAGES), [1024])
  .option('--ordering <list>', 'none, partition, key', listParser, ['none'])
  .option('--work <us>', 'µs of busy work per message (the bundled spin component)', intListParser(0, 60_000_000), [0])
  .option(
    '--rate <msgs/s>',
    'fixed-rate mode: open loop at this rate, latency from the intended send time',
    intListParser(1, 1e8),
  )
  .option('--baseline', "also run each broker's bare npm client on the same workload, and give the ratio")
  .option('--warmup <n>', 'messages before measuring (default: min(5000, messages / 5))', intParser(0, 1e9))
  .option('--out <dir>', 'write report.json and report.html (HDR percentile plots) there')
  .option('--json', 'print the report as one JSON object')
  .option('--no-progress', 'no progress bar')
  .option('--kafka-session-timeout <ms>', "Kafka consumers' session timeout", intParser(1000, 3_600_000))
  .option(
    '--run-timeout <s>',
    'stop a run still going after this long, and report it failed (also bounds preparing the component before the runs)',
    intParser(1, 86_400),
  )
  .option(
    '--stall-timeout <s>',
    'stop a run once no message has settled for this long (default 60), and report it failed',
    intParser(1, 86_400),
  )
  .option('--cache-dir <dir>', 'transpile cache directory')
  .addHelpText(
    'after',
    examples(
      'wasmsg bench --messages 200000',
      'wasmsg bench --brokers memory,redis://127.0.0.1:6379/bench,nats://127.0.0.1:4222/bench --baseline --out report',
      'wasmsg bench --workers 1,2 --ordering none,partition --keys 16',
      'wasmsg bench --ordering none,key --keys 10,1000 --work 0,1000 --messages 20000',
      'wasmsg bench --rate 20000,50000 --messages 200000 --out report',
      '',
      'Each run is a fresh process; runs go one after another. Exit code 1 when a run failed.',
    ),
  )
  .action(async (component: string | undefined, opts: BenchFlags) => {
    process.exitCode = await runBenchCommand(component, opts);
  });

program
  .command('validate')
  .description('check a config file (schema, brokers, component files) without running it')
  .argument('<config>', 'config file, YAML or JSON (docs/config.md)')
  .option('--json', 'print one JSON object {file, valid, problems}')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .addHelpText('after', examples('wasmsg validate examples/wasmsg.yaml', 'wasmsg validate wasmsg.json --json'))
  .action(async (file: string, opts: { json?: boolean; cacheDir?: string }) => {
    process.exitCode = await runValidate(file, opts);
  });

program
  .command('new')
  .description('scaffold a component project: WIT, source, build script and a test message')
  .argument('<dir>', 'directory to create (must not exist, or be empty)')
  .addOption(
    new Option('--world <world>', 'a: CloudEvents handler; b: message handler; c: batch handler')
      .choices(WORLDS)
      .default('a'),
  )
  .addOption(new Option('--lang <lang>', 'source language').choices(LANGS).default('wat'))
  .option('--name <name>', 'component name (default: the directory name)')
  .addHelpText(
    'after',
    examples(
      'wasmsg new my-handler --world a --lang wat && cd my-handler && npm run build && npm run call',
      'wasmsg new batcher --world c --lang c',
      'wasmsg new shouter --world b --lang js',
      '',
      'The guide: docs/components.md.',
    ),
  )
  .action(async (dir: string, opts: Parameters<typeof runNew>[1]) => {
    process.exitCode = await runNew(dir, opts);
  });

/** How long a failed command may take to finish what it started after saying why it failed. */
const EXIT_GRACE_MS = 1000;

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has already printed its message (or the help, or the version)
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    // one line: the first line of the message, then the code (a multi-line message, such as
    // wasm-tools' parse errors, used to lose its code with its later lines)
    const text = err instanceof Error ? err.message : String(err);
    const first = escapeControl(text.split('\n')[0]!);
    process.stderr.write(`wasmsg: ${err instanceof WasmsgError ? `${first} [${err.code}]` : first}\n`);
    if (err instanceof UsageError) process.stderr.write('(add --help for usage)\n');
    process.exitCode = err instanceof UsageError ? ExitCode.usage : ExitCode.failure;
    // The error is said: what a client library left open cannot hold the process (nats.js keeps
    // its socket after a connect that timed out against a port that is not NATS: run never ended)
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
  }
}
