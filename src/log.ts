import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import { escapeControl } from './component/host-text.js';
import { didYouMean } from './engine/suggest.js';

/**
 * The host's one logger (pino). JSON lines on stderr off a TTY, one readable line each on a TTY.
 * Level and format come from WASMSG_LOG_LEVEL / WASMSG_LOG_FORMAT (json | pretty), which worker
 * threads inherit, so the pool's guest-output lines follow what the CLI was told
 * (`configureLogging`). Child loggers: `logger('engine')`, `logger('kafka', {url})`, ...
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const ENV_LEVEL = 'WASMSG_LOG_LEVEL';
const ENV_FORMAT = 'WASMSG_LOG_FORMAT';

/** An environment variable's value as the logger takes it: any case (`INFO`, `Json`), as env conventions go. */
const envValue = (variable: string): string | undefined => process.env[variable]?.toLowerCase();

function envLevel(): LogLevel {
  const v = envValue(ENV_LEVEL);
  return (LOG_LEVELS as readonly string[]).includes(v ?? '') ? (v as LogLevel) : 'info';
}

function envFormat(): LogFormat {
  const v = envValue(ENV_FORMAT);
  if ((LOG_FORMATS as readonly string[]).includes(v ?? '')) return v as LogFormat;
  return process.stderr.isTTY === true ? 'pretty' : 'json';
}

let format: LogFormat = envFormat();

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name', 'component', 'stream']);

/** One readable line: `12:00:01.123 WARN  [kafka] msg key=value ...` (values escaped). */
export function prettyLine(obj: Record<string, unknown>): string {
  const time = typeof obj['time'] === 'number' ? new Date(obj['time']).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[obj['level'] as number] ?? String(obj['level'])).padEnd(5);
  const tag = [obj['component'], obj['stream']].filter((v) => v !== undefined).join(' ');
  const fields = Object.entries(obj)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${escapeControl(typeof v === 'string' && !/[\s"]/.test(v) ? v : JSON.stringify(v))}`);
  return [
    time,
    level,
    tag === '' ? undefined : `[${escapeControl(tag)}]`,
    escapeControl(String(obj['msg'] ?? '')),
    ...fields,
  ]
    .filter((p) => p !== undefined && p !== '')
    .join(' ');
}

/** The sink: stderr, looked up at each write (tests and the CLI may swap or capture it). */
const sink = {
  write(line: string): void {
    if (format === 'json') {
      process.stderr.write(line);
      return;
    }
    try {
      process.stderr.write(`${prettyLine(JSON.parse(line) as Record<string, unknown>)}\n`);
    } catch {
      process.stderr.write(line);
    }
  },
};

export const rootLogger: PinoLogger = pino(
  { name: 'wasmsg', level: envLevel(), base: undefined, timestamp: pino.stdTimeFunctions.epochTime },
  sink,
);

/**
 * Sets level and format for this process and the worker threads it starts afterwards: both are
 * written to the environment workers inherit (a worker's stderr is never a TTY, so it could not
 * tell the format itself).
 */
export function configureLogging(opts: { level?: string; format?: LogFormat }): void {
  if (opts.level !== undefined) rootLogger.level = opts.level as LevelWithSilent;
  if (opts.format !== undefined) format = opts.format;
  process.env[ENV_LEVEL] = rootLogger.level;
  process.env[ENV_FORMAT] = format;
}

/** What is wrong with `variable`'s value when it is set (not empty) to none of `valid`. */
function envProblem(variable: string, what: string, valid: readonly string[]): string | undefined {
  const v = process.env[variable];
  if (v === undefined || v === '' || valid.includes(v.toLowerCase())) return undefined;
  const hint = didYouMean(v, valid);
  return `${variable}=${v} is not a ${what}${hint === undefined ? '' : ` (${hint})`}: give one of ${valid.join(', ')}`;
}

/**
 * What is wrong with WASMSG_LOG_LEVEL, when it is set (not empty) to no level: the level it gave
 * is not used (the logger runs at info), so it is said rather than ignored. The CLI refuses it
 * (a usage error, where no --log-level replaces it); the library warns once, at the first
 * `resolveOptions` (`new Engine`), in `warnEnvLogging`.
 */
export function envLevelProblem(): string | undefined {
  return envProblem(ENV_LEVEL, 'log level', LOG_LEVELS);
}

/** The same for WASMSG_LOG_FORMAT (json | pretty): set to neither, the format was the TTY's default. */
export function envFormatProblem(): string | undefined {
  return envProblem(ENV_FORMAT, 'log format', LOG_FORMATS);
}

let envLoggingWarned = false;
/**
 * One warning in this process (at the first options resolved) for each of WASMSG_LOG_LEVEL and
 * WASMSG_LOG_FORMAT that names no level or format, with what the logger uses instead.
 */
export function warnEnvLogging(): void {
  if (envLoggingWarned) return;
  envLoggingWarned = true;
  const level = envLevelProblem();
  if (level !== undefined) logger('engine').warn(`${level}; logging at ${rootLogger.level}`);
  const format = envFormatProblem();
  if (format !== undefined) logger('engine').warn(`${format}; logging as ${logFormat()}`);
}

export function logFormat(): LogFormat {
  return format;
}

/** A child logger for one part of the host (an adapter, a component, the CLI). */
export function logger(component: string, bindings: Record<string, unknown> = {}): PinoLogger {
  return rootLogger.child({ component, ...bindings });
}

/**
 * At most `burst` events per key in each `intervalMs`; what is dropped is counted and reported
 * once per key when its window ends (`onSuppressed`), or at `flush()`.
 */
export class RateLimiter {
  private readonly windows = new Map<
    string,
    { start: number; seen: number; dropped: number; timer?: NodeJS.Timeout }
  >();

  constructor(
    private readonly burst: number,
    private readonly intervalMs: number,
    private readonly onSuppressed: (key: string, dropped: number, intervalMs: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True if this event may be logged now. */
  allow(key: string): boolean {
    const t = this.now();
    let w = this.windows.get(key);
    if (w === undefined || t - w.start >= this.intervalMs) {
      if (w !== undefined) this.report(key, w);
      w = { start: t, seen: 0, dropped: 0 };
      this.windows.set(key, w);
    }
    if (w.seen < this.burst) {
      w.seen++;
      return true;
    }
    w.dropped++;
    if (w.timer === undefined) {
      const win = w;
      win.timer = setTimeout(() => this.report(key, win), Math.max(0, win.start + this.intervalMs - t));
      win.timer.unref();
    }
    return false;
  }

  /** Reports every pending count (at exit). */
  flush(): void {
    for (const [key, w] of this.windows) this.report(key, w);
  }

  /**
   * Reports the counts of windows that have ended. Where timers do not run while idle (a
   * piscina worker waits for its next task in Atomics.wait), the owner calls this after its work.
   */
  tick(): void {
    const t = this.now();
    for (const [key, w] of this.windows) {
      if (t - w.start < this.intervalMs) continue;
      this.report(key, w);
      this.windows.delete(key);
    }
  }

  private report(key: string, w: { dropped: number; timer?: NodeJS.Timeout }): void {
    if (w.timer !== undefined) clearTimeout(w.timer);
    delete w.timer;
    if (w.dropped > 0) this.onSuppressed(key, w.dropped, this.intervalMs);
    w.dropped = 0;
  }
}

// per thread: each worker thread limits the lines of its own instances
const guestLimiter = new RateLimiter(100, 1000, (key, dropped) => {
  const [component, stream] = key.split('\u0000');
  rootLogger.warn(
    { component, stream, suppressed: dropped },
    `${dropped} more ${stream} lines not shown (over 100 a second from one thread)`,
  );
});

/**
 * Reports the guest lines dropped in windows that have ended (`flush`: all of them, the last
 * one included). The worker calls it after each batch and when the engine stops: an idle
 * worker's timers do not run, and its counts came with its next batch, or never.
 */
export function guestLinesDropped(flush = false): void {
  if (flush) guestLimiter.flush();
  else guestLimiter.tick();
}

/** A guest's stdout/stderr line: tagged with component and stream, rate-limited per both, escaped. */
export function guestLine(line: { component: string; stream: string; text: string }): void {
  if (!guestLimiter.allow(`${line.component}\u0000${line.stream}`)) return;
  rootLogger.info({ component: escapeControl(line.component), stream: line.stream }, escapeControl(line.text));
}
