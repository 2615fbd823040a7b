/**
 * stdout or stderr that cannot be written. A reader that goes away (`| head`, `| grep -q`, a `jq`
 * that failed) closes the pipe, and a write to it then fails with EPIPE (Node ignores SIGPIPE); a
 * file on a full disk fails with ENOSPC. Node emits either as an 'error' event on process.stdout
 * or process.stderr, which, with no listener, was an uncaught exception with a stack trace, exit
 * 1, at any point of any command (`--help | head -3`; a `run` whose stderr went to
 * `grep -q running`, or to a log file on a full disk, died at its next log line, its batches in
 * flight never settled).
 *
 * Here a command stops writing to that stream and is not stopped: its output is what it found
 * (the summary, a verdict, the logs), not its work. A `run` keeps consuming, settling and
 * publishing until its limit or a signal stops it as usual, so no message is cut off mid-batch,
 * and a script that waited for the "running" line and let its `grep -q` go is not left without
 * the run it waited for. A closed pipe is said nowhere (the reader chose to stop reading, as with
 * a Unix tool) and the exit code stays the command's own; stdout failing otherwise (ENOSPC, EIO)
 * lost the result a script asked for: one line on stderr, and exit 1 if the command would have
 * exited 0. stderr failing otherwise has nowhere to be said.
 *
 * Every later write to a failed stream fails again, and is dropped here. A worker thread's stdio
 * is piped into this process's: the pipe is dropped on the error, and a source left paused would
 * keep every later line of that worker (guests' output) in memory, so a source of a failed stream
 * is set flowing into nothing.
 */
export function outliveUnwritableOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    let failed = false;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (failed) return;
      failed = true;
      if (stream !== process.stdout || err.code === 'EPIPE') return;
      process.stderr.write(`wasmsg: cannot write the output: ${err.message}\n`);
      // (at exit: the command sets its exit code when it returns, maybe after this event)
      process.once('exit', () => {
        if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = 1;
      });
    });
    // a pipe's own error listener (prepended) unpipes its source before `failed` is set above
    stream.on('unpipe', (source: NodeJS.ReadableStream) => {
      process.nextTick(() => {
        if (failed) source.resume();
      });
    });
    stream.on('pipe', (source: NodeJS.ReadableStream) => {
      if (failed) source.unpipe(stream);
    });
  }
}
