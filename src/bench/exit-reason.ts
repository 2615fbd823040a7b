import { type ChildProcess, fork } from 'node:child_process';
import { ENGINE_V8_FLAGS } from '../heap-tuning.js';

/**
 * A child process of the bench (a run's: runner.ts; the one preparing the components:
 * prepare.ts) with the runs' V8 flags and none inherited (a parent under `node --test` would pass
 * its flags on), and the last 8 KiB of its stderr, where the reason of a crash is (exitReason).
 */
export function forkBenchChild(file: string): { child: ChildProcess; stderr: () => string } {
  const child = fork(file, [], { execArgv: [...ENGINE_V8_FLAGS], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    tail = (tail + d).slice(-8192);
  });
  return { child, stderr: () => tail };
}

/** What Node and V8 write to stderr around a crash's reason, which says nothing of it. */
const NOISE = [
  /^\s*at /, // a stack frame
  /^Node\.js v\d/, // the version, after an uncaught error
  /^\s*\d+: 0x[\da-f]+/i, // a native stack frame (a V8 fatal error's)
  /^-+ Native stack trace -+$/,
  /^<--- .* --->$/, // V8's "Last few GCs", "JS stacktrace"
  /^\[\d+:0x[\da-f]+\]/i, // a GC trace
  /^\s*\^+\s*$/, // the caret under an uncaught error's source line
  /^\(Use `node --trace-/,
];

/**
 * Why a child process of the bench (a run's, or the one preparing the components: prepare.ts)
 * ended without an answer: the exit code, or the signal that ended it (an out-of-memory kill is
 * a SIGKILL with nothing on stderr), and the line of its stderr that says why — V8's `FATAL
 * ERROR` line (its heap exhausted: SIGABRT), an uncaught error's `Name: message`, else its last
 * lines. Before, the last three lines were taken as they were: an uncaught error's
 * last stack frames and `Node.js v20…`, a heap exhaustion's native stack frames.
 */
export function exitReason(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
  who = "the run's process",
): string {
  const how =
    signal !== null
      ? `was ended by ${signal}${signal === 'SIGKILL' ? " (the kernel's out-of-memory killer sends it, as does kill -9)" : ''}`
      : `exited with code ${code}`;
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const said =
    lines.findLast((l) => l.startsWith('FATAL ERROR:')) ??
    lines.findLast((l) => /^(Uncaught )?[A-Z][\w$]*(Error|Exception)\b/.test(l)) ??
    lines
      .filter((l) => !NOISE.some((n) => n.test(l)))
      .slice(-3)
      .map((l) => l.trim())
      .join(' ');
  return `${who} ${how}${said === '' ? ', writing nothing to stderr' : `: ${said.trim()}`}`;
}
