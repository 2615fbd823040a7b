#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { WasmsgError } from '../errors.js';
import { runCall } from './call.js';
import { runInspect } from './inspect.js';
import { runRun } from './run.js';

/** Exit codes: 0 ok; 1 bad input or failure (one line on stderr); 2 usage; 3 the handler returned err or trapped. */
export const ExitCode = { ok: 0, failure: 1, usage: 2, handlerFailed: 3 } as const;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command()
  .name('wasmsg')
  .description('Run wasi-messaging WebAssembly components against message brokers')
  .showHelpAfterError('(wasmsg --help for usage)')
  .exitOverride();

program
  .command('inspect')
  .description('show the world, imports, exports and size of a component')
  .argument('<file>', 'component (.wasm)')
  .option('--json', 'print one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
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
  .option('--header <k=v>', 'message header (repeatable)', collect, [])
  .option('--broker <name>', 'broker name the component may open (repeatable; default: default)', collect, [])
  .option('--timeout <ms>', 'stop a handler that runs longer than this', '10000')
  .addOption(
    new Option(
      '--binding <kind>',
      "auto: the direct canonical-ABI binding where the component fits it; jco: always jco's glue",
    )
      .choices(['auto', 'jco'])
      .default('auto'),
  )
  .option('--json', 'print one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .action(async (file: string, opts: Parameters<typeof runCall>[1]) => {
    process.exitCode = await runCall(file, opts);
  });

program
  .command('run')
  .description('run a component on a broker: the engine (batches, worker threads, settlement)')
  .argument('[component]', 'component (.wasm); or use --config')
  .option('--config <file>', 'JSON config file (the library options schema)')
  .option('--workers <n>', 'worker threads (default: cores - 1, at least 1)')
  .option('--batch <n>', 'max messages per batch')
  .option('--linger <ms>', 'max wait to fill a batch')
  .addOption(new Option('--ordering <mode>', 'ordering guarantee').choices(['partition', 'key', 'none']))
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
    "input channel on the embedded broker (default: input; a world C component's: the channels its configure() returns)",
  )
  .option('--partitions <n>', 'partitions of the input channel on the embedded broker', '4')
  .option('--generate <n>', 'produce N synthetic messages into the input channel')
  .option('--size <bytes>', 'payload size of generated messages', '100')
  .option('--keys <k>', 'distinct keys of generated messages')
  .option('--limit <n>', 'stop after N messages settled (default: --generate N)')
  .addOption(
    new Option(
      '--binding <kind>',
      "auto: the direct canonical-ABI binding where the component fits it; jco: always jco's glue",
    ).choices(['auto', 'jco']),
  )
  .option('--json', 'print the final stats as one JSON object')
  .option('--cache-dir <dir>', 'transpile cache directory')
  .action(async (component: string | undefined, opts: Parameters<typeof runRun>[1]) => {
    process.exitCode = await runRun(component, opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has already printed its one-line message
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    const message =
      err instanceof WasmsgError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`wasmsg: ${message.split('\n')[0]}\n`);
    process.exitCode = ExitCode.failure;
  }
}
