import type { BrokerAdapter } from '../brokers/adapter.js';
import { open } from 'node:fs/promises';
import { MemoryBroker } from '../brokers/memory.js';
import { generate, leadFor } from '../brokers/synthetic.js';
import { createBroker } from '../brokers/connect.js';
import { Engine } from '../engine/engine.js';
import { describe } from '../errors.js';
import { checkBrokers, resolveOptions } from '../engine/options.js';
import { serveMetrics } from './metrics.js';
import { checkComponentPath } from './files.js';
import { Budget, LimitedAdapter } from './limit.js';
import { UsageError } from './usage.js';
import { logger } from '../log.js';
import { DEFAULT_PARTITIONS, DEFAULT_SIZE, type RunOptions, checkUsage, runOptions } from './run-options.js';
import { BusyWindow, Progress, waitingHint, writeSummary } from './run-output.js';
import { watchDeadLetters } from './run-dead-letters.js';

/**
 * `wasmsg run`: resolves and checks the options (run-options.ts), builds the adapters (the
 * embedded broker, or the brokers of the URLs wrapped for `--limit`), starts the engine with the
 * metrics endpoint, feeds `--generate`, and stops on the limit or a signal. What it shows on the
 * way is in run-output.ts (progress, stats, summary) and run-dead-letters.ts.
 */

export type { RunOptions } from './run-options.js';

/** `wasmsg run`'s exit code when `--fail-on-dead-letter` is given and anything was dead-lettered. */
export const EXIT_DEAD_LETTERED = 4;

/**
 * `--generate` writes to the embedded broker `default`, on the first component's first
 * subscription's channel: that subscription must read it, or the run would wait forever.
 */
function generatedReadBy(first: { broker?: string; channel: string } | undefined): void {
  if (first === undefined || (first.broker ?? 'default') === 'default') return;
  throw new UsageError(
    `--generate feeds the embedded broker 'default', but the first component's first subscription reads broker '${first.broker}' (channel '${first.channel}'): nothing would arrive`,
    'generate',
  );
}

export async function runRun(component: string | undefined, opts: RunOptions): Promise<number> {
  checkUsage(component, opts);
  const generateCount = opts.generate;
  const limit = opts.limit ?? generateCount;
  const { options, checkedPath } = await runOptions(component, opts);
  // every problem reported before anything starts: the schema, the brokers, the component files
  // (each once: the one runOptions inspected it checked first)
  const resolved = resolveOptions(options);
  checkBrokers(resolved, []);
  for (const c of resolved.components) if (c.path !== checkedPath) await checkComponentPath(c.path);
  const defaultFromUrl = resolved.brokers.some((b) => b.name === 'default');
  if (generateCount !== undefined && defaultFromUrl) {
    throw new UsageError(
      '--generate feeds the embedded broker, but the config names another default broker',
      'generate',
    );
  }
  if (opts.partitions !== undefined && defaultFromUrl) {
    throw new UsageError(
      "--partitions sets the embedded broker's partitions, but the config names another default broker (there is no embedded broker in this run)",
      'partitions',
    );
  }
  const partitions = opts.partitions ?? DEFAULT_PARTITIONS;
  const size = opts.size ?? DEFAULT_SIZE;
  if (generateCount !== undefined) generatedReadBy(resolved.components[0]?.subscriptions[0]);
  // an output file that cannot be written fails now, not at the end of the run (its dead letters lost)
  if (opts.deadLetters !== undefined) {
    await open(opts.deadLetters, 'w').then(
      (f) => f.close(),
      (err: unknown) => {
        throw new UsageError(`--dead-letters ${opts.deadLetters}: cannot write it: ${describe(err)}`, 'dead-letters');
      },
    );
  }

  // fed by --generate, the embedded broker runs at most ≈ 8 MiB a partition ahead of the engine
  // (its default, 64 MiB, let a 64 KiB run hold 450 MB for no gain in speed)
  const memory = new MemoryBroker({
    name: 'default',
    partitions,
    ...(generateCount === undefined ? {} : { retentionBytes: Math.max(8 << 20, 4 * size) }),
  });
  let adapters: BrokerAdapter[] = defaultFromUrl ? [] : [memory];
  /** Adapters this command created (the engine closes only its own). */
  const created: BrokerAdapter[] = [];
  let engineOptions = options;
  if (limit !== undefined) {
    // --limit N: the engine is handed N messages in all, by every broker together (limit.ts);
    // brokers given by URL are created here, so that they can be wrapped.
    const budget = new Budget(limit);
    for (const spec of resolved.brokers) created.push(await createBroker(spec));
    adapters = [...adapters, ...created].map((a) => new LimitedAdapter(a, budget));
    engineOptions = { ...options, brokers: [] };
  }
  const engine = new Engine(engineOptions, adapters);
  const metrics =
    opts.metrics === undefined
      ? undefined
      : await serveMetrics(engine, opts.metrics).catch(async (err: unknown) => {
          for (const a of created) await a.close().catch(() => {});
          throw err;
        });
  if (metrics !== undefined)
    logger('run').info({ metrics: `${metrics.url}/metrics` }, `metrics on ${metrics.url}/metrics`);
  try {
    await engine.start();
    // (a world C component's subscriptions are known once it is configured)
    if (generateCount !== undefined) generatedReadBy(engine.options.components[0]?.subscriptions[0]);
  } catch (err) {
    await engine.stop().catch(() => {});
    metrics?.server.close();
    for (const a of created) await a.close().catch(() => {});
    throw err;
  }
  // SIGINT/SIGTERM stop the run gracefully from here on: set before the line scripts wait for
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // (rejected only once the engine stops: a signal ended the run first)
  if (limit !== undefined) engine.waitForSettled(limit).then(resolveDone, () => {});
  const onSignal = (signal: NodeJS.Signals): void => {
    // a second signal, of either kind, ends the process at once (Node's default)
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // what the stop waits for, and how not to: before, a handler that never returns held the
    // run for its handler timeout without a word
    const flying = engine.snapshot().inFlightBatches;
    if (flying > 0)
      logger('run').info(
        `${signal}: stopping once the ${flying === 1 ? 'batch' : `${flying} batches`} being handled ${flying === 1 ? 'ends' : 'end'} (each handler call within the handler timeout, ${engine.options.handlerTimeoutMs} ms); a second SIGINT or SIGTERM stops at once (what is not settled then: redelivered by a real broker, lost with the embedded one)`,
      );
    resolveDone();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // one line on stderr once consuming (stdout stays for the results): scripts wait for it
  const log = logger('run');
  const subs = engine.options.components.flatMap((c) =>
    c.subscriptions.map((s) => `${s.broker}/${s.channel} (${s.kind}${s.group === undefined ? '' : ` ${s.group}`})`),
  );
  log.info(`running, consuming ${subs.join(', ')}`);
  const deadLetters = watchDeadLetters(engine, opts.deadLetters);
  if (generateCount === undefined) log.info(waitingHint(engine, resolved.brokers, !defaultFromUrl));
  else if (opts.limit !== undefined && opts.limit > generateCount) {
    // the generator stops short of the limit: say so, or the run seems to hang once it is done
    log.warn(
      `--limit ${opts.limit} is more than --generate ${generateCount}: after the generated messages the run waits for ${opts.limit - generateCount} more from elsewhere (outputs or dead letters fed back, other producers); stop it with Ctrl-C or SIGTERM`,
    );
  }
  const busyWindow = new BusyWindow(() => engine.snapshot());

  if (generateCount !== undefined) {
    const channel = engine.options.components[0]!.subscriptions[0]!.channel;
    void generate(memory, channel, {
      count: generateCount,
      size,
      // a partition's share of the most the engine may hold (its high-water mark with full batches)
      lead: leadFor(engine.peakHighWater, partitions),
      ...(opts.keys === undefined ? {} : { keys: opts.keys }),
    });
  }

  const progress = new Progress(() => engine.snapshot(), busyWindow, log, {
    tty: process.stderr.isTTY === true && opts.json !== true,
    limit,
    statsInterval: opts.statsInterval,
  });

  // Nothing else may hold the event loop open (embedded broker, idle pool): wait for `done`.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await done;
  clearInterval(keepAlive);
  progress.stopTicking();
  // stop first (on SIGTERM, in-flight batches drain and settle), then read the stats
  await engine.stop();
  busyWindow.stop(); // first: its window then ends no later than the stats' elapsed time
  const stats = engine.snapshot();
  const busy = busyWindow.busy();
  progress.finish(stats);
  for (const a of created) await a.close();
  await deadLetters.close(stats);
  metrics?.server.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  writeSummary(stats, busy, opts.json === true);
  return opts.failOnDeadLetter === true && stats.deadLettered > 0 ? EXIT_DEAD_LETTERED : 0;
}
