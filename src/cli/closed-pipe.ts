/**
 * A reader that goes away (`| head`, `| grep -q`, a `jq` that failed) closes the pipe, and a
 * write to it then fails with EPIPE (Node ignores SIGPIPE): Node emits that as an 'error' event on
 * process.stdout or process.stderr, which, with no listener, was an uncaught exception with a
 * stack trace, exit 1, at any point of any command (`--help | head -3`; a `run` whose stderr went
 * to `grep -q running` died at its next stats line, its batches in flight never settled).
 *
 * Here, as a Unix tool stops writing, a command stops writing to a closed pipe, silently; it is not
 * stopped. Its output is what it found (the summary, a verdict, the logs), not its work: a `run`
 * keeps consuming, settling and publishing until its limit or a signal stops it as usual, so no
 * message is cut off mid-batch, and a script that waited for the "running" line and let its
 * `grep -q` go is not left without the run it waited for. The exit code stays the command's own.
 *
 * Every later write to it fails with EPIPE again, and is dropped here. A worker thread's stdio is
 * piped into this process's: the pipe is dropped on the error, and a source left paused would keep
 * every later line of that worker (guests' output) in memory, so a source of a closed stream is
 * set flowing into nothing. Any other error is thrown as before.
 */
export function outliveClosedPipes(streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    let closed = false;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      closed = true;
    });
    // a pipe's own error listener (prepended) unpipes its source before `closed` is set above
    stream.on('unpipe', (source: NodeJS.ReadableStream) => {
      process.nextTick(() => {
        if (closed) source.resume();
      });
    });
    stream.on('pipe', (source: NodeJS.ReadableStream) => {
      if (closed) source.unpipe(stream);
    });
  }
}
