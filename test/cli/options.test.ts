import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { RedisAdapter } from '../../src/brokers/redis.js';
import { SCHEMES } from '../../src/brokers/connect.js';
import { ErrorCode, OptionError } from '../../src/errors.js';
import { didYouMean } from '../../src/engine/suggest.js';
import {
  MAX_WORKERS,
  checkBrokers,
  optionIssues,
  resolveOptions,
  suggest,
  type EngineOptionsInput,
} from '../../src/engine/options.js';

/** The options schema's checks that the CLI and the engine share (issue 10 items 5, 9) and the Redis consumer name (item 10). */

const c = (extra: Partial<EngineOptionsInput> = {}): EngineOptionsInput => ({
  components: [{ path: 'x.wasm', subscriptions: [{ channel: 'c' }] }],
  ...extra,
});

function throwsOption(fn: () => void, message: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof OptionError && e.code === ErrorCode.badOption && message.test(e.message),
  );
}

describe('options: workers bounded', () => {
  test('the bound is 4 per core, 16 at least, and the message names the field', () => {
    assert.ok(MAX_WORKERS >= 16);
    assert.equal(resolveOptions(c({ workers: MAX_WORKERS })).workers, MAX_WORKERS);
    throwsOption(
      () => resolveOptions(c({ workers: MAX_WORKERS + 1 })),
      /^options\.workers: at most \d+ worker threads/,
    );
  });
});

describe('options: did-you-mean', () => {
  test('unknown keys at every depth get the nearest known key', () => {
    const issues = optionIssues({
      components: [{ path: 'x', subscriptions: [{ chanel: 'c' }], bindng: 'jco' }],
      retries: { maxAtempts: 2 },
      deadletter: {},
    }).map((i) => i.message);
    assert.ok(
      issues.includes(`options.components[0].subscriptions[0]: Unrecognized key: "chanel" (did you mean 'channel'?)`),
      issues.join('\n'),
    );
    assert.ok(issues.includes(`options.components[0]: Unrecognized key: "bindng" (did you mean 'binding'?)`));
    assert.ok(issues.includes(`options.retries: Unrecognized key: "maxAtempts" (did you mean 'maxAttempts'?)`));
    assert.ok(issues.includes(`options: Unrecognized key: "deadletter" (did you mean 'deadLetter'?)`));
    assert.equal(suggest('zzzzzz', ['workers', 'batch']), undefined);
  });
});

describe("options: waits bounded by Node's timers", () => {
  test('batch.lingerMs, retries.backoffMs and retries.maxBackoffMs above 2^31 − 1 ms are refused, naming the field', () => {
    // before: accepted, and setTimeout turned the wait into 1 ms (TimeoutOverflowWarning): a
    // linger or a retry backoff of 35 days ran at once
    const max = 2 ** 31 - 1;
    const r = resolveOptions(c({ batch: { lingerMs: max }, retries: { backoffMs: max, maxBackoffMs: max } }));
    assert.deepEqual([r.batch.lingerMs, r.retries.backoffMs, r.retries.maxBackoffMs], [max, max, max]);
    throwsOption(
      () => resolveOptions(c({ batch: { lingerMs: max + 1 } })),
      /^options\.batch\.lingerMs: at most 2147483647 ms \(Node's timers' limit/,
    );
    throwsOption(
      () => resolveOptions(c({ retries: { backoffMs: 3e9 } })),
      /^options\.retries\.backoffMs: at most 2147483647 ms/,
    );
    throwsOption(
      () => resolveOptions(c({ retries: { maxBackoffMs: 1e12 } })),
      /^options\.retries\.maxBackoffMs: at most 2147483647 ms/,
    );
  });
});

describe('didYouMean: the one phrase of every did-you-mean', () => {
  test('the nearest key, or nothing when none is near enough', () => {
    assert.equal(didYouMean('maxMesages', ['maxMessages', 'maxBytes']), "did you mean 'maxMessages'?");
    assert.equal(didYouMean('redsi', SCHEMES), "did you mean 'redis'?");
    assert.equal(didYouMean('zzzzzz', ['workers', 'batch']), undefined);
  });
});

describe("options: checkBrokers (the engine constructor's cross-field checks)", () => {
  test('two adapters of one name', () => {
    throwsOption(() => checkBrokers(resolveOptions(c()), ['a', 'a']), /^brokers: two brokers are named 'a'$/);
  });
  test('a URL broker named like an adapter or another URL broker', () => {
    const o = resolveOptions(c({ brokers: [{ name: 'a', url: 'redis://h' }] }));
    throwsOption(() => checkBrokers(o, ['a']), /^options\.brokers\[0\]\.name: two brokers are named 'a'$/);
  });
  test("an unknown subscription broker names the known ones, in the engine's order", () => {
    const o = resolveOptions({
      components: [{ path: 'x', subscriptions: [{ channel: 'c', broker: 'kafka' }] }],
      brokers: [{ name: 'r', url: 'redis://h' }],
    });
    throwsOption(
      () => checkBrokers(o, ['m']),
      /^options\.components\[0\]\.subscriptions\[0\]\.broker: no broker named 'kafka' \(known: m, default, r\)$/,
    );
  });
  test("an unknown broker in a component's grants names the known ones", () => {
    // before: accepted; the component was denied that broker (and granted no other) at every call:
    // `grants.brokers: [defualt]` dead-lettered everything it published, and validate said valid
    const granting = (brokers: string[]): ReturnType<typeof resolveOptions> =>
      resolveOptions({
        components: [{ path: 'x', subscriptions: [{ channel: 'c' }], grants: { brokers } }],
        brokers: [{ name: 'r', url: 'redis://h' }],
      });
    throwsOption(
      () => checkBrokers(granting(['r', 'defualt']), []),
      /^options\.components\[0\]\.grants\.brokers\[1\]: no broker named 'defualt' \(known: default, r\)$/,
    );
    checkBrokers(granting(['default', 'r']), []);
    checkBrokers(granting(['m']), ['m']);
  });
  test("a subscription to a channel its component's grants.subscribe does not allow is refused, naming both", () => {
    // before: accepted; the engine subscribed the component to it all the same (a configure()
    // channel outside the grants was refused: configure.ts), and it got every message of it
    const granting = (subscribe: string[] | undefined): ReturnType<typeof resolveOptions> =>
      resolveOptions({
        components: [
          {
            path: 'x',
            subscriptions: [{ channel: 'orders.eu' }, { channel: 'audit' }],
            ...(subscribe === undefined ? {} : { grants: { subscribe } }),
          },
        ],
      });
    throwsOption(
      () => checkBrokers(granting(['orders.*']), []),
      /^options\.components\[0\]\.subscriptions\[1\]\.channel: 'audit' is not among the channels its grants\.subscribe allows \(orders\.\*\)$/,
    );
    throwsOption(
      () => checkBrokers(granting([]), []),
      /^options\.components\[0\]\.subscriptions\[0\]\.channel: 'orders\.eu' is not among the channels its grants\.subscribe allows \(none\)$/,
    );
    checkBrokers(granting(['orders.*', 'audit']), []);
    checkBrokers(granting(undefined), []);
  });
  test('two components of one name (given, or after their file) are refused, naming both', () => {
    // before: accepted; their metrics series, log lines and dead letters' x-wasmsg-component
    // carried one name for two components
    const named = (...components: Array<{ path: string; name?: string }>): ReturnType<typeof resolveOptions> =>
      resolveOptions({ components: components.map((c) => ({ ...c, subscriptions: [{ channel: 'c' }] })) });
    throwsOption(
      () =>
        checkBrokers(
          named({ path: 'a.wasm', name: 'orders' }, { path: 'b.wasm' }, { path: 'c.wasm', name: 'orders' }),
          [],
        ),
      /^options\.components\[2\]\.name: components\[0\] and components\[2\] are both named 'orders' \(a name labels a component's metrics, logs and dead letters: each must be unique\)$/,
    );
    throwsOption(
      () => checkBrokers(named({ path: '/x/relay.wasm' }, { path: '/y/relay.wasm' }), []),
      /^options\.components\[1\]\.name: components\[0\] and components\[1\] are both named 'relay', after their file .*; give each a name of its own \(name: \.\.\.\)$/,
    );
    throwsOption(
      () => checkBrokers(named({ path: 'a.wasm', name: 'relay' }, { path: 'relay.wasm' }), []),
      /^options\.components\[1\]\.name: .* both named 'relay', components\[1\] after its file .*; give components\[1\] a name of its own/,
    );
    checkBrokers(
      named({ path: 'relay.wasm', name: 'a' }, { path: 'relay.wasm', name: 'b' }, { path: 'relay.wasm' }),
      [],
    );
  });
  test('an unknown dead-letter broker', () => {
    throwsOption(
      () => checkBrokers(resolveOptions(c({ deadLetter: { broker: 'dlq' } })), []),
      /^options\.deadLetter\.broker: no broker named 'dlq'$/,
    );
  });
  test('`default` is always known; a valid set passes', () => {
    checkBrokers(resolveOptions(c({ deadLetter: { broker: 'default' } })), []);
    checkBrokers(resolveOptions(c({ brokers: [{ name: 'default', url: 'kafka://h:9092' }] })), ['other']);
  });
  test("a topic subscription's group: Kafka's topic reader is named after it; elsewhere it is refused, not ignored", () => {
    const topic = (url?: string): ReturnType<typeof resolveOptions> =>
      resolveOptions({
        components: [{ path: 'x', subscriptions: [{ channel: 'c', kind: 'topic', group: 'g' }] }],
        ...(url === undefined ? {} : { brokers: [{ name: 'default', url }] }),
      });
    checkBrokers(topic('kafka://h:9092'), []);
    throwsOption(
      () => checkBrokers(topic('nats://h'), []),
      /^options\.components\[0\]\.subscriptions\[0\]\.group: a topic subscription on nats has no group/,
    );
    throwsOption(() => checkBrokers(topic(), []), /\.group: a topic subscription on the embedded broker has no group/);
    checkBrokers(topic(), ['default']); // an adapter passed in: its broker is not known here
  });
  test('URL schemes: the schema accepts exactly SCHEMES', () => {
    for (const scheme of SCHEMES) resolveOptions(c({ brokers: [{ name: 'b', url: `${scheme}://h` }] }));
    throwsOption(
      () => resolveOptions(c({ brokers: [{ name: 'b', url: 'http://h' }] })),
      /^options\.brokers\[0\]\.url: must be a URL with one of the schemes kafka, nats, nats-core, /,
    );
  });
});

describe('Redis consumer name (item 10)', () => {
  test('stable across processes: wasmsg-<hostname>-<group>, no PID; settable', () => {
    const a = new RedisAdapter({ name: 'r', url: 'redis://127.0.0.1:6379/s' });
    assert.equal(a.consumerName('g'), `wasmsg-${hostname()}-g`);
    assert.ok(!a.consumerName('g').includes(String(process.pid)));
    const b = new RedisAdapter({ name: 'r', url: 'redis://127.0.0.1:6379/s', consumer: 'me' });
    assert.equal(b.consumerName('g'), 'me');
  });
});
