import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redact } from '../brokers/common.js';
import { SCHEMES, schemeOf } from '../brokers/connect.js';
import { ErrorCode, OptionError } from '../errors.js';
import type { RunParams } from './types.js';

/**
 * `wasmsg bench`'s options and their matrix: every option that takes a comma list multiplies
 * the runs (brokers × sizes × keys × workers × batch × ordering × work × rates), each run one
 * point of it, in that order (the broker outermost, so one broker's runs sit together).
 */

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The default component: does nothing and returns ok (examples/noop-wat). */
export const NOOP_COMPONENT = `${packageRoot}examples/noop-wat/noop.wasm`;
/** The component of `--work`: spins the number of rounds its payload starts with (examples/spin-wat). */
export const SPIN_COMPONENT = `${packageRoot}examples/spin-wat/spin.wasm`;

export interface BenchOptions {
  /** A component of the user's; default the no-op (or the spin component with `work`). */
  readonly component?: string;
  readonly brokers: readonly string[];
  readonly messages: number;
  readonly sizes: readonly number[];
  readonly keys: readonly number[];
  readonly workers: readonly number[];
  readonly batch: readonly number[];
  readonly ordering: ReadonlyArray<RunParams['ordering']>;
  /** µs of handler work per message (the spin component), 0 = none. */
  readonly workUs: readonly number[];
  /** msgs/s of fixed-rate runs; empty = throughput mode. */
  readonly rates: readonly number[];
  /** Also run each broker's bare npm client on the same workload, as the baseline. */
  readonly baseline: boolean;
  /** Messages run before measuring (JIT, connections, group joins); default min(5000, messages / 5). */
  readonly warmup?: number;
}

/** A point of the matrix with what the child needs to run it. */
export interface Job {
  readonly params: RunParams;
  readonly side: 'engine' | 'bare';
  readonly label: string;
  /** The broker URL as given (with credentials), or `memory`. */
  readonly url: string;
  readonly componentPath: string;
  readonly warmup: number;
}

const ORDERINGS = ['none', 'partition', 'key'] as const;

function bad(option: string, message: string): never {
  throw new OptionError(ErrorCode.badOption, `--${option}: ${message}`, { option });
}

/** `memory`, or a broker URL whose scheme is known; the channel comes from its path. */
export function checkBrokerUrl(url: string): string {
  if (url === 'memory' || url.startsWith('memory://')) return 'memory';
  const scheme = schemeOf(url);
  if (scheme === '' || !(SCHEMES as readonly string[]).includes(scheme)) {
    bad('brokers', `'${redact(url)}' is not memory or a broker URL (${SCHEMES.join(', ')}://...)`);
  }
  if (scheme === 'nats-core') {
    bad('brokers', `'${redact(url)}': core NATS loses messages by design (at most once); bench nats:// (JetStream)`);
  }
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/, '').replace(/\?.*$/, '');
  if (path === '' || path === '/') {
    bad('brokers', `'${redact(url)}' names no channel: add one as its path (e.g. redis://127.0.0.1:6379/bench)`);
  }
  if (/[#+*>]/.test(path)) bad('brokers', `'${redact(url)}': the channel must be a plain name, not a wildcard`);
  return ({ rediss: 'redis', amqps: 'amqp', mqtts: 'mqtt' } as Record<string, string>)[scheme] ?? scheme;
}

/**
 * Each value of a list once: a value given twice (`--workers 2,2`, `--brokers memory,memory`)
 * made two runs with one label, which the table, report.json and report.html could not tell apart.
 */
function distinct<T>(option: string, values: readonly T[], name: (v: T) => string = String): void {
  const seen = new Map<string, T>();
  for (const v of values) {
    const key = name(v);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, v);
      continue;
    }
    // (the values themselves are not shown: two broker URLs may differ in their password alone)
    const given = first === v ? `'${key}' is given twice` : `two values both name '${key}'`;
    bad(option, `${given}: its runs would be made again under the same label, which no report can tell apart`);
  }
}

export function checkOptions(o: BenchOptions): void {
  const positive = (option: string, values: readonly number[], min: number, max: number): void => {
    if (values.length === 0) bad(option, 'give at least one value');
    for (const v of values) {
      if (!Number.isInteger(v) || v < min || v > max) bad(option, `${v} is not an integer from ${min} to ${max}`);
    }
    distinct(option, values);
  };
  if (o.brokers.length === 0) bad('brokers', 'give at least one broker');
  for (const b of o.brokers) checkBrokerUrl(b);
  // by the name a run's label gives it: `memory` and `memory://x` are both `memory`, two URLs
  // differing in their password alone one redacted URL
  distinct('brokers', o.brokers, (b) => (checkBrokerUrl(b) === 'memory' ? 'memory' : redact(b)));
  positive('messages', [o.messages], 1, 1e9);
  positive('size', o.sizes, 0, 64 * 1024 * 1024);
  positive('keys', o.keys, 0, 1e9);
  positive('workers', o.workers, 1, 256);
  positive('batch', o.batch, 1, 100_000);
  positive('work', o.workUs, 0, 60_000_000);
  if (o.rates.length > 0) positive('rate', o.rates, 1, 1e8);
  for (const v of o.ordering)
    if (!ORDERINGS.includes(v)) bad('ordering', `'${v}' is not one of ${ORDERINGS.join(', ')}`);
  distinct('ordering', o.ordering);
  if (o.component !== undefined && o.workUs.some((w) => w > 0)) {
    bad('work', 'the busy work is done by the bundled spin component: give either a component or --work, not both');
  }
  const least = o.workUs.some((w) => w > 0) ? 24 : 8;
  if (o.sizes.some((s) => s < least)) {
    bad(
      'size',
      `payloads carry their send time in their last 8 bytes${least > 8 ? ' and the spin count before it' : ''}: give ${least} or more`,
    );
  }
  const warmup = o.warmup ?? defaultWarmup(o.messages);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup >= o.messages) {
    bad('warmup', `${warmup} must be an integer from 0 to messages − 1 (${o.messages - 1})`);
  }
}

export const defaultWarmup = (messages: number): number => Math.min(5000, Math.floor(messages / 5));

/** The runs, in order: for each point, the bare baseline (when asked) right before the engine. */
export function expand(o: BenchOptions): Job[] {
  checkOptions(o);
  const jobs: Job[] = [];
  const varying = {
    size: o.sizes.length > 1,
    keys: o.keys.length > 1,
    workers: o.workers.length > 1,
    batch: o.batch.length > 1,
    ordering: o.ordering.length > 1,
    work: o.workUs.length > 1,
    rate: o.rates.length > 1,
  };
  const warmup = o.warmup ?? defaultWarmup(o.messages);
  const rates = o.rates.length === 0 ? [0] : o.rates;
  const bareSeen = new Set<string>();
  for (const url of o.brokers) {
    const scheme = checkBrokerUrl(url);
    const broker = scheme === 'memory' ? 'memory' : redact(url);
    for (const size of o.sizes)
      for (const keys of o.keys)
        for (const workers of o.workers)
          for (const batch of o.batch)
            for (const ordering of o.ordering)
              for (const workUs of o.workUs)
                for (const rate of rates) {
                  const component = o.component ?? (workUs > 0 ? SPIN_COMPONENT : NOOP_COMPONENT);
                  const params: RunParams = {
                    broker,
                    scheme,
                    component: basename(component),
                    messages: o.messages,
                    size,
                    keys,
                    workers,
                    batch,
                    ordering,
                    workUs,
                    mode: rate > 0 ? 'rate' : 'throughput',
                    rate,
                  };
                  const parts = [broker];
                  if (varying.size) parts.push(`${size} B`);
                  if (varying.keys) parts.push(`${keys} keys`);
                  if (varying.workers) parts.push(`${workers} worker${workers === 1 ? '' : 's'}`);
                  if (varying.batch) parts.push(`batch ${batch}`);
                  if (varying.ordering) parts.push(`ordering ${ordering}`);
                  if (varying.work) parts.push(`work ${workUs} µs`);
                  if (varying.rate) parts.push(`${rate} msgs/s`);
                  const label = parts.join(' · ');
                  // the bare client's workload depends on the broker, size, keys, work and rate only
                  const bareKey = baselineKey(params);
                  if (o.baseline && !bareSeen.has(bareKey)) {
                    bareSeen.add(bareKey);
                    const bareParts = [broker];
                    if (varying.size) bareParts.push(`${size} B`);
                    if (varying.keys) bareParts.push(`${keys} keys`);
                    if (varying.work) bareParts.push(`work ${workUs} µs`);
                    if (varying.rate) bareParts.push(`${rate} msgs/s`);
                    jobs.push({
                      params: { ...params, workers: 1, ordering: 'none' },
                      side: 'bare',
                      label: `${bareParts.join(' · ')} · bare client`,
                      url,
                      componentPath: component,
                      warmup,
                    });
                  }
                  jobs.push({ params, side: 'engine', label, url, componentPath: component, warmup });
                }
  }
  return jobs;
}

/** The bare run a run compares with: same broker, size, keys, work and rate. */
export function baselineKey(p: RunParams): string {
  return `${p.broker}|${p.size}|${p.keys}|${p.workUs}|${p.rate}`;
}
