import { relative } from 'node:path';
import { ComponentInstance } from '../component/instance.js';
import { loadComponent } from '../component/load.js';
import { configuredChannels } from '../engine/configure.js';
import { createBroker, schemeOf } from '../brokers/connect.js';
import { adapterOptionIssues, familyOf } from '../brokers/adapter-options.js';
import { groupClash } from '../brokers/kafka-records.js';
import { OptionError, WasmsgError, describe } from '../errors.js';
import { brokerIssues, optionIssues, resolveOptions } from '../engine/options.js';
import type { ResolvedOptions } from '../engine/options-schema.js';
import { readConfigFile } from './config.js';
import { checkComponentPath } from './files.js';

/**
 * `wasmsg validate <config>`: everything `wasmsg run --config` would refuse, without running:
 * every schema problem at once (one line each, unknown keys with a did-you-mean), the brokers'
 * cross-checks, and each component file (loaded and recognised; a world A or B component needs
 * subscriptions; a world C component's configure() is run, its channels checked against its
 * grants). Connects to no broker. Exit 0 valid, 1 not.
 */
/**
 * Kafka queue subscriptions given one group for two topics on one broker: `run` refuses them at
 * start (kafkajs needs a group's members to read the same topics; see brokers/kafka.ts).
 */
function kafkaGroupClashes(options: ResolvedOptions): string[] {
  const kafka = new Set(options.brokers.filter((b) => schemeOf(b.url) === 'kafka').map((b) => b.name));
  const topicOf = new Map<string, string>();
  const clashes: string[] = [];
  for (const [i, c] of options.components.entries())
    for (const [j, s] of c.subscriptions.entries()) {
      if (!kafka.has(s.broker) || s.kind !== 'queue' || s.group === undefined) continue;
      const key = `${s.broker}\u0000${s.group}`;
      const other = topicOf.get(key);
      if (other === undefined) topicOf.set(key, s.channel);
      else if (other !== s.channel)
        clashes.push(`options.components[${i}].subscriptions[${j}].group: ${groupClash(s.group, other, s.channel)}`);
    }
  return clashes;
}

export async function runValidate(file: string, opts: { json?: boolean; cacheDir?: string }): Promise<number> {
  let config: Record<string, unknown>;
  try {
    config = await readConfigFile(file, '');
  } catch (err) {
    // (before: no JSON with --json, and the words of `run --config`)
    return report(file, opts, [(err as Error).message], []);
  }
  const problems: string[] = optionIssues(config).map((i) => i.message);
  const lines: string[] = [];
  if (problems.length === 0) {
    try {
      const options = resolveOptions(config);
      // every cross-field problem (unknown brokers, names given twice, grants): all, not the first
      const across = brokerIssues(options, []);
      problems.push(...across.map((e) => e.message));
      const cacheDir = opts.cacheDir ?? options.cacheDir;
      const brokerNames = [...new Set(['default', ...options.brokers.map((b) => b.name)])];
      for (const [i, c] of options.components.entries()) {
        try {
          await checkComponentPath(c.path);
          // loaded (its core modules compiled) as run's start loads it: a maxMemoryBytes below the
          // memory it starts with is found here
          const info = await loadComponent(c.path, {
            maxMemoryBytes: c.maxMemoryBytes,
            ...(cacheDir === undefined ? {} : { cacheDir }),
          });
          if (c.subscriptions.length === 0 && info.family !== 'c') {
            problems.push(
              `options.components[${i}].subscriptions: ${info.name} (${info.world}) needs subscriptions; only a world C component takes them from configure()`,
            );
          }
          // world C: its configure() runs (as run's workers will): an err, no channels, or a
          // channel its grants refuse is found here, not at start
          let configured: string[] | undefined;
          if (info.family === 'c') {
            if (c.subscriptions.length === 0) configured = await configuredChannels(c, info, i, brokerNames);
            else
              await ComponentInstance.create(info, {
                brokers: brokerNames,
                binding: c.binding,
                ...(c.grants === undefined ? {} : { grants: c.grants }),
              });
          }
          const inputs =
            c.subscriptions.length === 0
              ? `the channels its configure() returns (${(configured ?? []).join(', ')}), on 'default'`
              : c.subscriptions
                  .map((s) => `${s.broker}/${s.channel} (${s.kind}${s.group === undefined ? '' : ` ${s.group}`})`)
                  .join(', ');
          lines.push(`component ${relative(process.cwd(), c.path) || c.path}: ${info.world}, consumes ${inputs}`);
        } catch (err) {
          const e = err as Error;
          const key =
            err instanceof OptionError && err.context['option'] === 'maxMemoryBytes' ? 'maxMemoryBytes' : 'path';
          problems.push(
            `${e.message.startsWith('options.') ? '' : `options.components[${i}].${key}: `}${e.message}${err instanceof WasmsgError ? ` [${err.code}]` : ''}`,
          );
        }
      }
      for (const [k, b] of options.brokers.entries()) {
        lines.push(`broker    ${b.name}: ${b.url}`);
        if (across.some((e) => e.context['option'] === `brokers[${k}].url`)) continue; // (its scheme: said above)
        // every option out of its name, type or range (createBroker throws the first); each names
        // its path itself (`broker 'b': brokers.b.options.count: …`)
        const family = familyOf(schemeOf(b.url));
        const issues = family === undefined ? [] : adapterOptionIssues(family, b.name, b.options);
        if (issues.length > 0) {
          problems.push(...issues.map((e) => e.message));
          continue;
        }
        // an adapter checks the rest when made (no connection yet): as `run` would make it
        await createBroker(b).catch((err: unknown) =>
          problems.push(
            err instanceof OptionError && String(err.context['option']).startsWith(`brokers.${b.name}.options`)
              ? err.message
              : `options.brokers[${b.name}].options: ${describe(err)}`,
          ),
        );
      }
      problems.push(...kafkaGroupClashes(options));
      if (!options.brokers.some((b) => b.name === 'default')) lines.push('broker    default: the embedded broker');
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return report(file, opts, problems, lines);
}

/** The verdict: one JSON object (`--json`), or the lines of a valid file, or one line a problem; the exit code. */
function report(file: string, opts: { json?: boolean }, problems: readonly string[], lines: readonly string[]): number {
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ file, valid: problems.length === 0, problems })}\n`);
  } else if (problems.length === 0) {
    process.stdout.write([`${file}: valid`, ...lines.map((l) => `  ${l}`)].join('\n') + '\n');
  } else {
    process.stderr.write(problems.map((p) => `wasmsg: ${file}: ${p}\n`).join(''));
  }
  return problems.length === 0 ? 0 : 1;
}
