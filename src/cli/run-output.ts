import cliProgress from 'cli-progress';
import type { Logger } from 'pino';
import { redact } from '../brokers/common.js';
import type { Engine } from '../engine/engine.js';
import type { EngineStats } from '../engine/stats.js';

/**
 * What `wasmsg run` shows of its progress and stats: the stats as a line and as JSON, the busy
 * window (first received → last settled), the progress bar or periodic stats lines on stderr
 * while it runs, the summary on stdout at the end, and the hint of what a run with nothing fed
 * to it waits on. stdout carries only the summary; everything else goes to stderr.
 */

/** Percentiles never above the max (hdr-histogram rounds a percentile up to its bucket's top). */
function latency(s: EngineStats): EngineStats['latencyMs'] {
  const l = s.latencyMs;
  return { p50: Math.min(l.p50, l.max), p90: Math.min(l.p90, l.max), p99: Math.min(l.p99, l.max), max: l.max };
}

/** The busy window: first message received → last one settled, sampled (see BusyWindow). */
export interface Busy {
  readonly ms: number;
  readonly msgsPerSec: number;
}

export function statsToJSON(s: EngineStats, busy?: Busy): Record<string, unknown> {
  return {
    processed: s.processed,
    acked: s.acked,
    failed: s.failed,
    retried: s.retried,
    deadLettered: s.deadLettered,
    published: s.published,
    received: s.received,
    elapsedMs: Math.round(s.elapsedMs),
    msgsPerSec: Math.round(s.msgsPerSec),
    ...(busy === undefined ? {} : { busyMs: Math.round(busy.ms), busyMsgsPerSec: Math.round(busy.msgsPerSec) }),
    latencyMs: latency(s),
    workerUs: s.workerUs,
  };
}

/**
 * One stats line, its fields named for what they count: `handled ok` (the handler returned ok),
 * `settled` (acked to the broker: handled ok, or dead-lettered after the last attempt).
 */
export function statsLine(s: EngineStats, busy?: Busy): string {
  const rate =
    busy === undefined
      ? `${Math.round(s.msgsPerSec)} msgs/s overall`
      : `${Math.round(busy.msgsPerSec)} msgs/s busy (${(busy.ms / 1000).toFixed(1)} s from first received to last settled), ${Math.round(s.msgsPerSec)} msgs/s overall (${(s.elapsedMs / 1000).toFixed(1)} s)`;
  return `received ${s.received}  handled ok ${s.processed}  settled ${s.acked}  retried ${s.retried}  dead-lettered ${s.deadLettered}  published ${s.published}  ${rate}`;
}

/**
 * First received → last settled, from the counters sampled every `everyMs` (the engine's hot
 * path pays nothing): the window starts at the sample before the first received one and ends at
 * the sample where `acked` last grew, so it errs long (the rate low) by at most two samples.
 */
export class BusyWindow {
  private prevT: number;
  private start: number | undefined;
  private end: number | undefined;
  private lastAcked = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly snapshot: () => Pick<EngineStats, 'received' | 'acked'>,
    everyMs = 50,
  ) {
    this.prevT = performance.now();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): void {
    const t = performance.now();
    const s = this.snapshot();
    if (this.start === undefined && s.received > 0) this.start = this.prevT;
    if (s.acked > this.lastAcked) {
      this.lastAcked = s.acked;
      this.end = t;
    }
    this.prevT = t;
  }

  busy(): Busy | undefined {
    if (this.start === undefined || this.end === undefined) return undefined;
    const ms = Math.max(1, this.end - this.start);
    return { ms, msgsPerSec: (this.lastAcked / ms) * 1000 };
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** What a run shows while it goes (progressMode): a bar, stats lines every `everyMs`, or nothing. */
export type ProgressMode =
  { kind: 'bar'; total: number } | { kind: 'lines'; everyMs: number; fields: boolean } | { kind: 'none' };

/** Stats lines on a TTY without a limit (no bar to draw) and no `--stats-interval` given. */
const TTY_LINES_MS = 1000;
/** `--stats-interval` off a TTY when not given (no commander default: given is told from left out). */
export const DEFAULT_STATS_INTERVAL_S = 5;

/**
 * On a TTY: a progress bar towards `limit` (or a stats line every second without one), unless
 * `--stats-interval S` is given: then a stats line every S seconds instead of either (0: the bar
 * alone, or nothing) — before, a TTY ignored the flag without a word, and the bar and lines
 * written between its redraws would garble each other. Off a TTY: a stats log line, the counters
 * also as fields, every S seconds (default 5, 0: none).
 */
export function progressMode(opts: {
  tty: boolean;
  limit: number | undefined;
  statsInterval: number | undefined;
}): ProgressMode {
  const { tty, limit, statsInterval } = opts;
  if (!tty) {
    const s = statsInterval ?? DEFAULT_STATS_INTERVAL_S;
    return s > 0 ? { kind: 'lines', everyMs: s * 1000, fields: true } : { kind: 'none' };
  }
  if (statsInterval !== undefined && statsInterval > 0) {
    return { kind: 'lines', everyMs: statsInterval * 1000, fields: false };
  }
  if (limit !== undefined) return { kind: 'bar', total: limit };
  return statsInterval === undefined ? { kind: 'lines', everyMs: TTY_LINES_MS, fields: false } : { kind: 'none' };
}

/** What a run shows while it goes, on stderr, as progressMode decides. */
export class Progress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(
    snapshot: () => EngineStats,
    busyWindow: BusyWindow,
    log: Logger,
    opts: { tty: boolean; limit: number | undefined; statsInterval: number | undefined },
  ) {
    const mode = progressMode(opts);
    if (mode.kind === 'bar') {
      const bar = new cliProgress.SingleBar(
        {
          format: 'wasmsg {bar} {value}/{total} | {rate} msgs/s | eta {eta}s',
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = bar;
      bar.start(mode.total, 0, { rate: 0 });
      this.ticker = setInterval(() => {
        const s = snapshot();
        bar.update(s.acked, { rate: Math.round(s.msgsPerSec) });
      }, 200);
    } else if (mode.kind === 'lines') {
      // off a TTY a log line with the counters as fields; on one, the readable line alone
      this.ticker = setInterval(() => {
        const s = snapshot();
        const busy = busyWindow.busy();
        if (mode.fields) log.info({ stats: statsToJSON(s, busy) }, statsLine(s, busy));
        else log.info(statsLine(s, busy));
      }, mode.everyMs);
    }
  }

  /** Ends the periodic output (before the engine stops). */
  stopTicking(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
  }

  /** Brings the bar to the final count and closes it (once the engine stopped). */
  finish(stats: EngineStats): void {
    this.bar?.update(stats.acked, { rate: Math.round(stats.msgsPerSec) });
    this.bar?.stop();
  }
}

/** The run's result on stdout: one JSON object with `json`, else the stats line and the latency. */
export function writeSummary(stats: EngineStats, busy: Busy | undefined, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(statsToJSON(stats, busy))}\n`);
  } else {
    const l = latency(stats);
    process.stdout.write(
      [
        statsLine(stats, busy),
        `failed attempts ${stats.failed}`,
        `latency ms  p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}`,
      ].join('\n') + '\n',
    );
  }
}

/** What a run with nothing fed to it waits on, and how to feed it. */
export function waitingHint(
  engine: Engine,
  brokers: ReadonlyArray<{ name: string; url: string }>,
  embedded: boolean,
): string {
  const parts = engine.options.components.flatMap((c) =>
    c.subscriptions.map((sub) => {
      if (sub.broker === 'default' && embedded) {
        return `channel ${sub.channel} of the embedded broker (in this process: nothing else can publish to it; feed it with --generate N, or consume a real broker with --from <url>)`;
      }
      const spec = brokers.find((b) => b.name === sub.broker);
      const where = spec === undefined ? `broker ${sub.broker}` : redact(spec.url);
      return `channel ${sub.channel} of ${where}${sub.group === undefined ? '' : ` as group ${sub.group}`} (publish to it to feed this run)`;
    }),
  );
  return `waiting for messages on ${parts.length === 0 ? 'nothing (no subscriptions)' : parts.join('; ')}; stop with Ctrl-C`;
}
