import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DEFAULT_INSTANTIATE_TIMEOUT_MS } from '../engine/options-schema.js';
import { dropRunChannels, runChannel, withChannel } from './channels.js';
import type { ChildJob, ChildMessage } from './child.js';
import { exitReason, forkBenchChild } from './exit-reason.js';
import { type BenchOptions, type Job, baselineKey, expand } from './matrix.js';
import { prepareComponents, prepareJob } from './prepare.js';
import type { BenchReport, RunResult } from './types.js';

/**
 * `wasmsg bench`: expands the matrix, runs each point in a fresh child process, one after
 * another (never two at once: they would share the cores), and gathers the report. A run that
 * fails (a dead broker, a component the engine refuses at start, a timeout) is reported with
 * its error and the others still run; a component that does not load (read, transpiled, compiled
 * or instantiated: prepare.ts) fails the bench first, once.
 */

export interface BenchContext {
  readonly cacheDir: string;
  /** The command line, for the report. */
  readonly command: string;
  /** Adapter options per URL scheme (e.g. Kafka's `sessionTimeoutMs`). */
  readonly brokerOptions?: Readonly<Record<string, Record<string, unknown>>>;
  /**
   * A run still going after this long is stopped and reported as failed (default 10 min); the
   * preparing of the components (prepare.ts) before it fails the bench.
   */
  readonly runTimeoutMs?: number;
  /**
   * The components not instantiated this long after they compiled (a start function that loops)
   * fail the bench (default 60 s, the engine's `instantiateTimeoutMs`, which its runs have).
   */
  readonly instantiateTimeoutMs?: number;
  /**
   * A run that settled messages and then none for this long is stopped and reported as failed
   * (default 60 s): its broker dropped the rest (retention) or stopped delivering them, and
   * waiting for the run timeout would say less, later.
   */
  readonly stallTimeoutMs?: number;
  /**
   * Aborted (the CLI: SIGINT, SIGTERM): the run under way is stopped and reported failed, its
   * channels dropped, and no other starts; the report holds the runs made so far.
   */
  readonly signal?: AbortSignal;
}

export interface BenchHooks {
  /** Spin calibration (with `--work`), before the runs. */
  calibrated?(workUs: number, rounds: number): void;
  runStart?(job: Job, index: number, of: number): void;
  progress?(settled: number): void;
  runEnd?(result: RunResult): void;
}

const childFile = fileURLToPath(new URL('./child.js', import.meta.url));
const DEFAULT_RUN_TIMEOUT_MS = 600_000;

export async function runBench(options: BenchOptions, ctx: BenchContext, hooks: BenchHooks = {}): Promise<BenchReport> {
  const jobs = expand(options);
  // every component the runs load is transpiled, compiled and instantiated once, now, in a
  // process of its own: one that does not load fails here, before any channel is made — not in
  // each run's process, one run after another — and this process keeps none of that memory (the
  // 12 MiB fizzbuzz-js: ≈ 300 MB). The runs read the cache it filled. With --work it calibrates
  // the spin component too (rounds for each value), so this process compiles no WebAssembly.
  // (Aborted, it resolves false: the loop below then starts no run.)
  const rounds = new Map<number, number>([[0, 0]]);
  await prepareComponents(
    prepareJob(jobs, ctx.cacheDir),
    {
      compileTimeoutMs: ctx.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
      instantiateTimeoutMs: ctx.instantiateTimeoutMs ?? DEFAULT_INSTANTIATE_TIMEOUT_MS,
      signal: ctx.signal,
    },
    (us, r) => {
      rounds.set(us, r);
      hooks.calibrated?.(us, r);
    },
  );
  const tag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const runs: RunResult[] = [];
  for (const [k, job] of jobs.entries()) {
    if (ctx.signal?.aborted === true) break;
    hooks.runStart?.(job, k, jobs.length);
    const channel = runChannel(job.url, `${tag}-${k}`);
    const child: ChildJob = {
      ...job,
      channel,
      runUrl: job.params.scheme === 'memory' ? 'memory' : withChannel(job.url, channel),
      cacheDir: ctx.cacheDir,
      rounds: rounds.get(job.params.workUs)!,
      brokerOptions: ctx.brokerOptions?.[job.params.scheme] ?? {},
    };
    const result = await runChild(
      child,
      ctx.runTimeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
      ctx.stallTimeoutMs ?? 60_000,
      hooks,
      ctx.signal,
    );
    runs.push(result);
    hooks.runEnd?.(result);
  }
  return {
    version: 1,
    createdAt: new Date().toISOString(),
    command: ctx.command,
    machine: machineInfo(),
    runs: withBaselines(runs),
  };
}

/** This machine, as a report names it. */
export function machineInfo(): BenchReport['machine'] {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}

/** Each engine run gets its bare run's msgs/s and the ratio, where one was made. */
function withBaselines(runs: readonly RunResult[]): RunResult[] {
  const bare = new Map<string, RunResult>();
  for (const r of runs) if (r.side === 'bare' && r.error === undefined) bare.set(baselineKey(r.params), r);
  return runs.map((r) => {
    const b = r.side === 'engine' && r.error === undefined ? bare.get(baselineKey(r.params)) : undefined;
    if (b === undefined) return r;
    const half =
      r.secondHalfMsgsPerSec === undefined || b.secondHalfMsgsPerSec === undefined
        ? {}
        : { secondHalfRatio: r.secondHalfMsgsPerSec / b.secondHalfMsgsPerSec };
    return { ...r, baseline: { msgsPerSec: b.msgsPerSec, ratio: r.msgsPerSec / b.msgsPerSec, ...half } };
  });
}

function failed(job: Job, error: string): RunResult {
  const zero = { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, percentiles: [] };
  return {
    label: job.label,
    side: job.side,
    params: job.params,
    measured: 0,
    elapsedMs: 0,
    msgsPerSec: 0,
    mbPerSec: 0,
    latencyMs: zero,
    handlerUs: null,
    cpuMs: { process: 0, mainThread: 0, workers: 0 },
    peakRssMb: 0,
    nodeFlags: [],
    error,
  };
}

function runChild(
  job: ChildJob,
  timeoutMs: number,
  stallMs: number,
  hooks: BenchHooks,
  signal: AbortSignal | undefined,
): Promise<RunResult> {
  return new Promise((resolve) => {
    const { child, stderr } = forkBenchChild(childFile);
    child.on('error', (e) => {
      answer ??= failed(job, `the run's process: ${e.message}`);
    });
    let answer: RunResult | undefined;
    const timer = setTimeout(() => {
      answer ??= failed(job, `still running after ${Math.round(timeoutMs / 1000)} s: stopped`);
      child.kill('SIGKILL');
    }, timeoutMs);
    // stopped from outside: killed as a timed-out run is (its channels are dropped on exit below)
    const onAbort = (): void => {
      answer ??= failed(job, `interrupted (${String(signal!.reason)}): stopped`);
      child.kill('SIGKILL');
    };
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    // the child reports its settled count every 250 ms; once it started settling, a count that
    // stays put for stallMs means the messages left will not come
    let settled = 0;
    let since = Date.now();
    const stalled = (n: number): boolean => {
      if (n !== settled) {
        settled = n;
        since = Date.now();
        return false;
      }
      return n > 0 && Date.now() - since >= stallMs;
    };
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') {
        hooks.progress?.(m.settled);
        if (answer === undefined && stalled(m.settled)) {
          const of = job.params.messages.toLocaleString('en');
          answer = failed(
            job,
            `no message settled for ${Math.round(stallMs / 1000)} s after ${settled.toLocaleString('en')} of ${of}: the broker dropped the rest (its retention?) or stopped delivering; stopped`,
          );
          child.kill('SIGKILL');
        }
      } else if (m.type === 'result') answer ??= m.result;
      else answer ??= failed(job, m.message);
    });
    child.send(job);
    // 'close', not 'exit': at 'exit' the last of its stderr (the reason) may be still unread
    child.once('close', (code, exitSignal) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const result = answer ?? failed(job, exitReason(code, exitSignal, stderr()));
      // a child killed (timeout) or crashed did not remove its channel: do it here
      const crashed = exitSignal !== null || answer === undefined;
      void (
        crashed ? dropRunChannels(job.params.scheme, job.runUrl, job.channel).catch(() => {}) : Promise.resolve()
      ).then(() => resolve(result));
    });
  });
}
