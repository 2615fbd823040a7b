import { createWriteStream } from 'node:fs';
import type { Engine } from '../engine/engine.js';
import type { EngineStats } from '../engine/stats.js';
import { RateLimiter, logger } from '../log.js';

/** What `wasmsg run` tells about messages that failed: retries as they happen, and dead letters. */

/**
 * Dead letters made visible: each distinct reason logged (a warning) with the component and the
 * message's position, the first 5 of a reason in each 10 s, then how many more; with `file`, each
 * dead letter written to it as one JSON line (payload base64, headers, error, position).
 */
export function watchDeadLetters(
  engine: Engine,
  file: string | undefined,
): { close(stats: EngineStats): Promise<void> } {
  const log = logger('run');
  const limiter = new RateLimiter(5, 10_000, (reason, n, ms) =>
    log.warn({ reason, suppressed: n }, `${n} more dead letters in ${ms / 1000} s for the same reason`),
  );
  // retries: the engine emits no per-retry event; the counters, read every 5 s, say how many
  let seen = { retried: 0, failed: 0 };
  const retries = (s: Pick<EngineStats, 'retried' | 'failed'>): void => {
    const retried = s.retried - seen.retried;
    const failed = s.failed - seen.failed;
    if (retried > 0) {
      log.warn(
        { retried, failedAttempts: failed },
        `${retried} retries (${failed} failed attempts) since the last report; a message's reason is logged when it is dead-lettered`,
      );
    }
    seen = { retried: s.retried, failed: s.failed };
  };
  const retryTicker = setInterval(() => retries(engine.snapshot()), 5000);
  retryTicker.unref();
  const out = file === undefined ? undefined : createWriteStream(file, { flags: 'w' });
  let outError: unknown;
  out?.on('error', (err) => (outError = err));
  engine.on('deadLettered', ({ record, error, attempts, component, broker }) => {
    const position = { broker, channel: record.channel, partition: record.partition, offset: record.offset };
    const reason = error.length > 500 ? `${error.slice(0, 500)}...` : error;
    if (limiter.allow(reason)) {
      logger(component).warn({ ...position, attempts, reason }, `dead-lettered after ${attempts} attempts`);
    }
    out?.write(
      `${JSON.stringify({
        component,
        ...position,
        key: record.key,
        timestamp: record.timestamp,
        attempts,
        error,
        headers: record.headers,
        payload: Buffer.from(record.value).toString('base64'),
      })}\n`,
    );
  });
  return {
    async close(stats) {
      clearInterval(retryTicker);
      retries(stats);
      limiter.flush();
      if (stats.deadLettered > 0) {
        log.warn(
          { deadLettered: stats.deadLettered, retried: stats.retried, failedAttempts: stats.failed },
          `${stats.deadLettered} messages dead-lettered (${stats.retried} retries, ${stats.failed} failed attempts)${file === undefined ? '' : `, written to ${file}`}`,
        );
      }
      if (out !== undefined) await new Promise<void>((resolve) => out.end(resolve));
      if (outError !== undefined) throw outError;
    },
  };
}
