import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { createBroker } from '../../src/brokers/connect.js';
import { ErrorCode } from '../../src/errors.js';
import { startAlone, within } from '../helpers.js';
import { type KafkaMock, startKafkaMock } from '../integration/clients.js';

/**
 * Kafka's connect deadline (`connectTimeoutMs`) past the adapter's connect probe: the producer's
 * connect and each subscription's consumer — its connect and its group join (kafka-join.ts) —
 * against librdkafka's mock cluster made to stop answering where it matters
 * (scripts/kafka-mock.c: `delay` holds one request's answer, `rtt` every answer of a broker,
 * `coordinator` picks the broker a group's requests go to). The adapter is given one seed broker,
 * so that every client's first connection goes there.
 */

/** A mock cluster of three brokers with the topic `in`, the seed broker's URL and its node id. */
async function cluster(): Promise<{ mock: KafkaMock; url: string; seed: number; other: number }> {
  const mock = await startKafkaMock(['in:1']);
  const address = mock.bootstrap.split(',')[0]!;
  const admin = new Kafka({ clientId: 'wasmsg-test', brokers: [address], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    const seed = brokers.find((b) => `${b.host}:${b.port}` === address)!.nodeId;
    return { mock, url: `kafka://${address}/in`, seed, other: brokers.find((b) => b.nodeId !== seed)!.nodeId };
  } finally {
    await admin.disconnect();
  }
}

/** start() in a child process ended on its own, rejected within `ms` (10 s), and the process ended < 1 s after. */
function assertEndedAlone(r: ReturnType<typeof startAlone>, ms = 10_000): void {
  assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
  // (the component's load included: the first test compiles it)
  assert.ok(r.took! < ms, `start() rejected ${Math.round(r.took!)} ms after it was called`);
  assert.ok(r.lingered! < 1000, `the process ended ${Math.round(r.lingered!)} ms after start() rejected`);
}

const commands = async (mock: KafkaMock, lines: string[]): Promise<void> => {
  for (const line of lines) assert.equal(await mock.command(line), 'OK', line);
};

/**
 * An adapter (connectTimeoutMs 1000) subscribes to `in` in `group` on a mock cluster given
 * `faults` after the adapter's connect: subscribe() returns within 30 s. How long it took, ms.
 */
async function subscribesAfter(faults: string[], group: string): Promise<number> {
  const { mock, url } = await cluster();
  const adapter = await createBroker({ name: 'b', url, options: { connectTimeoutMs: 1000 } });
  try {
    await adapter.connect();
    await commands(mock, faults);
    const began = performance.now();
    const consumer = await within(
      adapter.subscribe({ channel: 'in', kind: 'queue', group }, () => {}),
      30_000,
      'subscribe()',
    );
    const took = performance.now() - began;
    await consumer.close();
    return took;
  } finally {
    await adapter.close();
    await mock.stop();
  }
}

describe("kafka: a cluster that stops answering after a good connect probe: start() fails at connectTimeoutMs, typed, and the caller's process ends on its own at once", () => {
  // ApiVersions (api key 18) opens each client's connection: the probe's is the seed broker's
  // first, the producer's its second, the consumer's its third
  const cases: Array<[string, (c: { seed: number; other: number }) => string[], string, Record<string, unknown>]> = [
    [
      "the producer's connect",
      // before: the deadline fired, but the failed start's close of the producer waited for its
      // request in flight to time out (kafkajs's requestTimeout, 30 s): start() rejected 30 s in
      ({ seed }) => [`delay ${seed} 18 60000 1`],
      'not connected',
      {},
    ],
    [
      "the consumer's connect",
      // before: kafkajs's own timeouts and retries: start() rejected ≈ 30 s in, untyped
      // ("Broker not connected")
      ({ seed }) => [`delay ${seed} 18 60000 2`],
      "consumer group 'g' (topic 'in') not connected: no answer",
      { group: 'g', topic: 'in', step: 'connect' },
    ],
    [
      "the group's join (its coordinator, another broker, holds the join and the group's offsets)",
      // before: the join waited for the coordinator through kafkajs's retries and restarts, for
      // good (killed by the test's timeout). The coordinator holds only JoinGroup (api key 11) and
      // OffsetFetch (9, the adapter's ping): a broker silent for everything (`rtt`) failed the
      // producer's connect first in 1 run of 4, whenever kafkajs's metadata refresh picked it
      ({ other }) => [`coordinator g ${other}`, `delay ${other} 11 60000`, `delay ${other} 9 60000`],
      "consumer group 'g' (topic 'in') not joined: no answer",
      { group: 'g', topic: 'in', step: 'join' },
    ],
  ];
  for (const [what, faults, missed, context] of cases) {
    test(what, { timeout: 60_000 }, async () => {
      const { mock, url, ...ids } = await cluster();
      try {
        await commands(mock, faults(ids));
        const r = startAlone(url, { connectTimeoutMs: 1000 }, { group: 'g' });
        assertEndedAlone(r);
        assert.equal(r.code, ErrorCode.brokerUnavailable, r.message);
        assert.equal(r.message, `cannot reach ${url}: ${missed} within 1000 ms (broker 'b', connectTimeoutMs)`);
        assert.deepEqual(r.context, { broker: 'b', url, connectTimeoutMs: 1000, ...context });
      } finally {
        await mock.stop();
      }
    });
  }
});

describe('kafka: the deadline counts from the cluster’s last answer, not from the start of a join', () => {
  test(
    "a group's first join, held by its coordinator longer than connectTimeoutMs (≈ 3 s on the mock), subscribes",
    { timeout: 60_000 },
    async () => {
      // the coordinator answers the pings (OffsetFetch) meanwhile: a join that waits for the
      // group's members is no broker failing to answer
      const took = await subscribesAfter([], 'first');
      assert.ok(took > 1000, `the join took ${Math.round(took)} ms: longer than the deadline, or this tests nothing`);
    },
  );
});

describe('kafka: a join the cluster answers with a refusal', () => {
  // before: kafkajs crashed the consumer at each refusal, the adapter restarted it, each answer
  // put the deadline off: start() never returned (the child killed at 30 s)
  // [what, the mock's fault, the join's words, kafkajs's error type, how soon start() rejects]
  const cases: Array<[string, string, string | RegExp, string, number]> = [
    [
      'GROUP_AUTHORIZATION_FAILED (a refusal: at once)',
      'error 11 30 64', // api key 11: JoinGroup
      "its join (broker 'b'): Not authorized to access group: Group authorization failed",
      'GROUP_AUTHORIZATION_FAILED',
      10_000,
    ],
    [
      'INVALID_REQUEST (another error kafkajs does not retry: 4 times in a row, over 3 connect deadlines)',
      'error 11 42 64',
      // (the restart's backoff between the crashes: 1 + 2 + 4 s, past 3 × connectTimeoutMs 1000)
      /^its join 4 times in a row \(broker 'b'\): This most likely occurs because of a request being malformed/,
      'INVALID_REQUEST',
      20_000,
    ],
  ];
  for (const [what, fault, words, type, ms] of cases) {
    test(
      `refused every time (JoinGroup: ${what}): start() rejects E_BAD_INPUT naming the broker, group, topic and the cluster's error, and the caller's process ends on its own at once`,
      { timeout: 60_000 },
      async () => {
        const { mock, url } = await cluster();
        try {
          await commands(mock, [fault]);
          const r = startAlone(url, { connectTimeoutMs: 1000 }, { group: 'g' }, ms + 10_000);
          assertEndedAlone(r, ms);
          assert.equal(r.code, ErrorCode.badInput, r.message);
          const head = `kafka ${url}: cannot subscribe to topic 'in': the cluster refused consumer group 'g' `;
          if (typeof words === 'string') assert.equal(r.message, `${head}${words}`);
          else {
            assert.ok((r.message ?? '').startsWith(head), r.message);
            assert.match((r.message ?? '').slice(head.length), words);
          }
          assert.deepEqual(r.context, { url, broker: 'b', group: 'g', topic: 'in', error: type });
        } finally {
          await mock.stop();
        }
      },
    );
  }

  test(
    'refused every time with an error kafkajs does not retry, no refusal, connectTimeoutMs 4000: the fourth crash (≈ 7 s in) does not end the join, one past 3 connect deadlines does',
    { timeout: 60_000 },
    async () => {
      // before: the fourth crash ended it, whatever the deadline (a new engine process that lost the
      // mock's SyncGroup race four times in 22 s exited)
      const { mock, url } = await cluster();
      try {
        await commands(mock, ['error 11 42 64']);
        const r = startAlone(url, { connectTimeoutMs: 4000 }, { group: 'g' }, 50_000);
        assert.equal(r.signal, null, `ended by itself, not by the test's timeout: ${r.stderr}`);
        assert.equal(r.code, ErrorCode.badInput, r.message);
        assert.match(r.message ?? '', /its join (?:[5-9]|\d\d) times in a row \(broker 'b'\)/);
      } finally {
        await mock.stop();
      }
    },
  );

  test(
    "refused three times in a row with an error kafkajs does not retry, no refusal (JoinGroup: INVALID_REQUEST, as the mock's answer to a follower's late SyncGroup): restarted, and subscribes",
    { timeout: 60_000 },
    async () => {
      // before: the second crash ended the join (CI: a new engine process lost the mock's
      // SyncGroup race twice in a row, and exited)
      await subscribesAfter(['error 11 42 3'], 'g');
    },
  );

  test(
    'refused twice with a retriable error (JoinGroup: NOT_COORDINATOR): kafkajs joins again, and subscribes',
    { timeout: 60_000 },
    async () => {
      await subscribesAfter(['error 11 16 2'], 'g'); // 16: NOT_COORDINATOR (retriable: kafkajs restarts the consumer)
    },
  );
});
