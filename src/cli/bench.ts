import { mkdir, rmdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, resolve, sep } from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import { type BenchOptions, checkOptions } from '../bench/matrix.js';
import { OptionError, describe } from '../errors.js';
import { checkComponentPath } from './files.js';
import { UsageError } from './usage.js';
import type { BenchReport, RunResult } from '../bench/types.js';
import { startedInTransient } from '../bench/timeline.js';
import { defaultCacheDir } from '../component/cache.js';
import { redactCommand } from '../brokers/common.js';
import { escapeControl } from '../component/host-text.js';

/**
 * `wasmsg bench [component]`: the same workload through one or more brokers and configurations,
 * one run after another, reported side by side (a table here, report.json and report.html with
 * --out). The runner and the report are in src/bench/.
 */

export interface BenchFlags {
  brokers: string[];
  messages: number;
  size: number[];
  keys: number[];
  workers: number[];
  batch: number[];
  ordering: string[];
  work: number[];
  rate?: number[];
  baseline?: boolean;
  warmup?: number;
  out?: string;
  json?: boolean;
  progress?: boolean;
  cacheDir?: string;
  kafkaSessionTimeout?: number;
  runTimeout?: number;
  stallTimeout?: number;
}

/** A commander parser for a comma list of integers in [min, max]. */
export function intListParser(min: number, max: number): (value: string) => number[] {
  return (value) =>
    value.split(',').map((part) => {
      const n = Number(part.trim());
      if (part.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
        throw new InvalidArgumentError(
          `'${part}' must be an integer from ${min} to ${max} (a comma list for a matrix).`,
        );
      }
      return n;
    });
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A comma list. A comma inside a broker URL does not split it: in a Kafka host list
 * (`kafka://h1:9092,h2:9092/t`) the next part is no URL or plain word, and in a query
 * (`redis://h/s?x=a,b`) only a URL or `memory` starts the next item.
 */
export function listParser(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const prev = out[out.length - 1];
    const next = SCHEME.test(t) || t === 'memory';
    const word = /^[\w.-]+$/.test(t);
    if (prev !== undefined && SCHEME.test(prev) && !next && (!word || prev.includes('?')))
      out[out.length - 1] = `${prev},${t}`;
    else out.push(t);
  }
  return out;
}

export async function runBenchCommand(component: string | undefined, flags: BenchFlags): Promise<number> {
  const options: BenchOptions = {
    ...(component === undefined ? {} : { component: resolve(component) }),
    brokers: flags.brokers,
    messages: flags.messages,
    sizes: flags.size,
    keys: flags.keys,
    workers: flags.workers,
    batch: flags.batch,
    ordering: flags.ordering as BenchOptions['ordering'],
    workUs: flags.work,
    rates: flags.rate ?? [],
    baseline: flags.baseline === true,
    ...(flags.warmup === undefined ? {} : { warmup: flags.warmup }),
  };
  try {
    checkOptions(options);
  } catch (e) {
    // a flag's value: a usage error (exit 2), as commander's own
    if (e instanceof OptionError) throw new UsageError(e.message, String(e.context?.['option'] ?? 'bench'));
    throw e;
  }
  // the path checked once, now, before any run or channel, as every command checks one (before,
  // each run's process found it missing and failed, one run after another)
  if (component !== undefined) await checkComponentPath(component);
  // the report's directory is made now: a path that cannot be one fails before the runs, not after
  const out = flags.out === undefined ? undefined : resolve(flags.out);
  const made =
    out === undefined
      ? undefined
      : await mkdir(out, { recursive: true }).catch((err: unknown) => {
          throw new UsageError(`--out ${flags.out}: cannot make the directory: ${describe(err)}`, 'out');
        });
  try {
    return await benchAndReport(options, flags);
  } finally {
    // a bench that wrote no report (a component that does not load, an error before the runs)
    // leaves no empty directory of its own behind — before, it did
    if (out !== undefined && made !== undefined) await removeEmptyMade(out, made);
  }
}

/**
 * Removes `dir` and its parents up to `made` (the first directory `mkdir -p` made: none of them
 * was the user's), each only if empty: rmdir refuses a directory holding anything (a report, a
 * file the user put there meanwhile), and that one and those above it stay.
 */
async function removeEmptyMade(dir: string, made: string): Promise<void> {
  // (only below `made`, whatever the paths: never a directory above the ones made)
  for (let d = dir; d === made || d.startsWith(`${made}${sep}`); d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}

/** The runs, the table (or JSON) on stdout, and the report in `flags.out` (already made). */
async function benchAndReport(options: BenchOptions, flags: BenchFlags): Promise<number> {
  const { runBench } = await import('../bench/runner.js');
  const { writeReport } = await import('../bench/report.js');
  const showProgress = flags.progress !== false && flags.json !== true && process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  // SIGINT / SIGTERM: the run under way is stopped (its channels dropped, its process ended) and
  // the runs made so far are reported; without this, the run's process went on alone and left
  // its backlog on the broker
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => interrupt.abort(signal);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const report = await runBench(
    options,
    {
      cacheDir: flags.cacheDir === undefined ? defaultCacheDir() : resolve(flags.cacheDir),
      // passwords in broker URLs are not written to the report
      command: redactCommand(['wasmsg', ...process.argv.slice(2)]),
      brokerOptions:
        flags.kafkaSessionTimeout === undefined ? {} : { kafka: { sessionTimeoutMs: flags.kafkaSessionTimeout } },
      ...(flags.runTimeout === undefined ? {} : { runTimeoutMs: flags.runTimeout * 1000 }),
      ...(flags.stallTimeout === undefined ? {} : { stallTimeoutMs: flags.stallTimeout * 1000 }),
      signal: interrupt.signal,
    },
    {
      calibrated: (us, rounds) => {
        if (flags.json !== true) process.stderr.write(`spin component: ${rounds} rounds ≈ ${us} µs a call here\n`);
      },
      runStart: (job, k, of) => {
        if (flags.json === true) return;
        if (showProgress) {
          bar = new cliProgress.SingleBar(
            {
              format: `[${k + 1}/${of}] ${escapeControl(job.label)} ({{side}}) {bar} {value}/{total}`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(job.params.messages, 0, { side: job.side });
        } else {
          process.stderr.write(`[${k + 1}/${of}] ${escapeControl(job.label)} (${job.side})\n`);
        }
      },
      progress: (settled) => bar?.update(settled),
      runEnd: (r) => {
        bar?.stop();
        bar = undefined;
        if (flags.json !== true && !showProgress && r.error !== undefined) {
          process.stderr.write(`  failed: ${escapeControl(r.error)}\n`);
        }
      },
    },
  ).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  // the results first: a report that cannot be written then loses nothing printed
  process.stdout.write(flags.json === true ? `${JSON.stringify(report)}\n` : table(report));
  if (flags.out !== undefined) {
    const paths = await writeReport(flags.out, report);
    if (flags.json !== true) process.stderr.write(`report: ${paths.json}\n        ${paths.html}\n`);
  }
  if (interrupt.signal.aborted) {
    const signal = interrupt.signal.reason as NodeJS.Signals;
    process.stderr.write(`interrupted (${signal}): ${report.runs.length} run(s) reported\n`);
    return 128 + (osConstants.signals[signal] ?? 1);
  }
  return report.runs.some((r) => r.error !== undefined) ? 1 : 0;
}

const n0 = (x: number): string => Math.round(x).toLocaleString('en');
const f = (x: number, d: number): string => x.toFixed(d);

/** The terminal table: one row per run. */
export function table(report: BenchReport): string {
  const rows: string[][] = [
    [
      'run',
      'side',
      'msgs/s',
      'MB/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'handler p50 µs',
      'main CPU %',
      'RSS MB',
      '÷ bare',
    ],
  ];
  for (const r of report.runs) rows.push(row(r));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [line(rows[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const r of report.runs)
    if (r.error !== undefined) out.push(`${escapeControl(r.label)} (${r.side}) failed: ${escapeControl(r.error)}`);
  for (const r of report.runs) {
    const t = r.error === undefined && r.timeline !== undefined ? startedInTransient(r.timeline) : undefined;
    if (t === undefined) continue;
    out.push(
      `${escapeControl(r.label)} (${r.side}): the measured window began while latency was still coming down from the start (its first ${r.timeline!.intervalMs} ms: p99 ${f(t.firstP99, 1)} ms; a typical interval of the window: ${f(t.medianP99, 1)} ms), so its p99 holds part of the start-up; a longer --warmup measures the steady state (report.html plots latency over time)`,
    );
  }
  return `${out.join('\n')}\n`;
}

function row(r: RunResult): string[] {
  const label = escapeControl(r.label);
  if (r.error !== undefined) return [label, r.side, 'failed', '', '', '', '', '', '', '', '', ''];
  const l = r.latencyMs;
  return [
    label,
    r.side,
    n0(r.msgsPerSec),
    f(r.mbPerSec, 1),
    f(l.p50, 2),
    f(l.p99, 2),
    f(l.p999, 2),
    f(l.max, 1),
    r.handlerUs === null ? '-' : f(r.handlerUs.p50, 2),
    r.elapsedMs > 0 ? n0((r.cpuMs.mainThread / r.elapsedMs) * 100) : '-',
    n0(r.peakRssMb),
    r.baseline === undefined ? '-' : f(r.baseline.ratio, 2),
  ];
}
