import { type Admin, Kafka, type KafkaConfig } from 'kafkajs';
import type { BatchListener, SubscribeSpec } from './adapter.js';
import { KAFKA_HEARTBEAT_MS, KAFKA_SESSION_TIMEOUT_MS } from './adapter-options.js';
import { type WasmsgError, describe } from '../errors.js';
import { subscribeFailed, unreachable } from './common.js';
import { type Missed, connectDeadline, connectWithin } from './deadline.js';
import { abandonable } from './kafka-abandon.js';
import { KafkaGroupConsumer } from './kafka-consumer.js';
import { oldGroupWarning } from './kafka-old-group.js';
import type { KafkaAdapter } from './kafka.js';

/**
 * A subscription's consumer, connected and a member of its group with partitions assigned, within
 * the connect deadline (`connectTimeoutMs`, deadline.ts) — counted from the cluster's last answer,
 * not from the start: a group join waits for the group's other members (a new group's first join
 * for the broker's `group.initial.rebalance.delay.ms`, 3 s by default; a rebalance for every member
 * to join again, up to its rebalance timeout), and that is no broker failing to answer. Answers
 * are the consumer's own (its connect, metadata, coordinator lookup, join) and the group
 * coordinator's to a ping (an OffsetFetch for the group, through an admin client of the
 * subscription's own) as the join begins and whenever a quarter of the deadline passed without
 * one: the deadline fires only when the cluster has answered none of them for that long. Then the
 * subscription's sockets are destroyed, its seed brokers are none (kafka-abandon.ts) and its
 * consumer is closed and not restarted: nothing of it keeps the process alive. A join the cluster
 * refuses with an error kafkajs does not retry (its consumer crashes and is not restarted by it)
 * fails with it (E_BAD_INPUT; at once for a refusal, for another error once it crashed the join 4 times
 * in a row and for 3 connect deadlines),
 * leaving as little: before, the consumer's own restart (kafka-consumer.ts) joined again and
 * again, each refusal an answer, and subscribe() never returned. A retriable refusal is kafkajs's
 * to retry (it restarts the consumer). Before, the
 * consumer's connect and join were bounded by kafkajs's own timeouts and retries alone: a cluster
 * that stopped answering after the adapter's connect left subscribe() (and the engine's start)
 * waiting 30 s for an untyped "Broker not connected", or for good once its group coordinator was
 * the one that stopped.
 */
export async function joinWithin(
  adapter: KafkaAdapter,
  config: KafkaConfig,
  spec: SubscribeSpec,
  onBatch: BatchListener,
  groupId: string,
): Promise<KafkaGroupConsumer> {
  const o = adapter.options;
  const ms = connectDeadline(o, o.client?.requestTimeout);
  const given = abandonable(config);
  const kafka = new Kafka({ ...config, ...given.config });
  // a consumer kafkajs restarts after a crash would connect again after the deadline
  const restart = o.consumer?.retry?.restartOnFailure ?? config.retry?.restartOnFailure;
  const consumer = kafka.consumer({
    sessionTimeout: o.sessionTimeoutMs ?? KAFKA_SESSION_TIMEOUT_MS,
    heartbeatInterval: KAFKA_HEARTBEAT_MS,
    allowAutoTopicCreation: true,
    // how long a fetch that finds nothing waits (kafkajs: 5 s); a stop waits for it too
    maxWaitTimeInMs: 500,
    ...o.consumer,
    retry: {
      ...(o.consumer?.retry ?? { retries: 5 }), // (kafkajs's default for a consumer given no `retry`)
      restartOnFailure: async (e) => !given.abandoned() && (restart === undefined || (await restart(e))),
    },
    groupId,
  });
  // A crash kafkajs does not restart from (a non-retriable error: a JoinGroup refused with
  // GROUP_AUTHORIZATION_FAILED), before the join completed: the subscribe fails with it, and
  // leaves nothing running: the consumer closed (listened to before its own restart,
  // kafka-consumer.ts, which the close stops), the sockets given up as at the deadline (a ping's
  // OffsetFetch in flight would connect the admin client again after its disconnect).
  // A refusal (REFUSALS) ends it at once; another error once it has crashed the join CRASHES
  // times in a row over three connect deadlines at least (30 s by default; the restart's backoff
  // between, kafka-consumer.ts: 1, 2, 4, 8, 16 s): the librdkafka mock answers a follower whose
  // SyncGroup comes after the leader's with INVALID_REQUEST, a race a new process lost twice in a
  // row on a loaded CI machine, and four times in 22 s on a slower one (its cold start).
  let refuse: ((err: unknown) => void) | undefined;
  let crashes = 0;
  let firstCrash = 0;
  const unlistenCrash = consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || refuse === undefined) return;
    const refusal = REFUSALS.has(errorType(payload.error) ?? '');
    if (!refusal && crashes++ === 0) firstCrash = performance.now();
    if (!refusal && (crashes < CRASHES || performance.now() - firstCrash < 3 * ms)) return;
    given.abandon();
    void c.close().catch(() => {});
    refuse(refusedJoin(adapter, spec, groupId, payload.error, refusal ? 1 : crashes));
  });
  const c = new KafkaGroupConsumer(consumer, spec.channel, onBatch, adapter, groupId, spec.kind === 'queue');
  // (connected on first use: the old-group check, a topic reader's start offsets, pings)
  let admin: Promise<Admin> | undefined;
  const adminOf = (): Promise<Admin> =>
    (admin ??= (async () => {
      const a = kafka.admin();
      try {
        await a.connect();
      } catch (err) {
        admin = undefined; // (a failed connect is not kept: the next use connects again)
        throw err;
      }
      return a;
    })());
  let step: 'connect' | 'join' = 'connect';
  let pinger: NodeJS.Timeout | undefined;
  let unlisten = (): void => {};
  const done = (): void => {
    clearInterval(pinger);
    unlisten();
    unlistenCrash();
    refuse = undefined; // (a crash after the join: the consumer's own restart, kafka-consumer.ts)
    void admin?.then((a) => a.disconnect()).catch(() => {});
  };
  const join = async (answer: () => void): Promise<void> => {
    // before joining, while the new group has committed nothing: a deployment of the old default is told
    if (spec.kind === 'queue' && spec.group === undefined) await oldGroupCheck(adapter, adminOf, spec.channel, groupId);
    await start(c, spec, adminOf, answer);
  };
  // (resolves with a failure before the deadline, which then passes as it is: connectWithin would
  // make kafkajs's errors of the subscribe and join "cannot reach …")
  const attempt = async (answered: () => void): Promise<{ joined: KafkaGroupConsumer } | { failed: unknown }> => {
    let quietSince = performance.now();
    const answer = (): void => {
      quietSince = performance.now();
      answered();
    };
    unlisten = consumer.on(consumer.events.REQUEST, answer);
    // The coordinator asked about the group: an answer, error codes included (an ACL that refuses
    // OffsetFetch); the first one, as the join begins, connects the admin client and finds the
    // coordinator (a retry of kafkajs's, ≈ 300 ms), so that those that matter answer at once.
    let pinging = false;
    const ping = (): void => {
      pinging = true;
      adminOf()
        .then((a) => a.fetchOffsets({ groupId, topics: [] }))
        .then(answer, (err: unknown) => void (protocolAnswer(err) && answer()))
        .finally(() => (pinging = false));
    };
    pinger = setInterval(() => {
      if (step === 'join' && !pinging && performance.now() - quietSince >= ms / 4) ping();
    }, ms / 8);
    try {
      try {
        await consumer.connect();
      } catch (err) {
        throw unreachable(o.url, err);
      }
      step = 'join';
      const refused = new Promise<never>((_, reject) => (refuse = reject));
      ping();
      await Promise.race([refused, join(answer)]);
      return { joined: c };
    } catch (err) {
      await c.close().catch(() => {}); // not left connected (and heartbeating) in the group
      return { failed: err };
    } finally {
      done();
    }
  };
  const abandon = (): Promise<void> => {
    given.abandon();
    done();
    return c.close(); // (its timers cleared, and no restart: closed)
  };
  const missed = (): Missed => ({
    what: `consumer group '${groupId}' (topic '${spec.channel}') not ${step === 'connect' ? 'connected' : 'joined'}: no answer`,
    context: { group: groupId, topic: spec.channel, step },
  });
  const outcome = await connectWithin(o, ms, attempt, abandon, missed);
  if ('failed' in outcome) throw outcome.failed;
  return outcome.joined;
}

/** Crashes in a row before the join, on an error kafkajs does not retry but no refusal, that end it (over 3 connect deadlines at least). */
const CRASHES = 4;

/** Error types of a join the cluster refuses as asked (authorization, the group's name or settings): no retry would change them. */
const REFUSALS = new Set([
  'GROUP_AUTHORIZATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'INVALID_GROUP_ID',
  'INVALID_SESSION_TIMEOUT',
  'INCONSISTENT_GROUP_PROTOCOL',
]);

/** A kafkajs protocol error's type (`GROUP_AUTHORIZATION_FAILED`), or undefined. */
function errorType(err: Error): string | undefined {
  const type = (err as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

/**
 * A join the cluster refused, kafkajs's consumer crashed on it and not restarting (E_BAD_INPUT, as
 * the other adapters' refused subscriptions: the group cannot be joined as named or as allowed).
 */
function refusedJoin(
  adapter: KafkaAdapter,
  spec: SubscribeSpec,
  groupId: string,
  err: Error,
  /** the crashes in a row it ended at */
  crashes: number,
): WasmsgError {
  const { name, url } = adapter.options;
  const times = crashes > 1 ? ` ${crashes} times in a row` : '';
  const type = errorType(err);
  return subscribeFailed(
    'kafka',
    url,
    `topic '${spec.channel}'`,
    err,
    `the cluster refused consumer group '${groupId}' its join${times} (broker '${name}'): ${describe(err)}`,
    { broker: name, group: groupId, topic: spec.channel, ...(type === undefined ? {} : { error: type }) },
  );
}

/** Warns when the old default group's offsets go unused (kafka-old-group.ts). */
async function oldGroupCheck(
  adapter: KafkaAdapter,
  adminOf: () => Promise<Admin>,
  topic: string,
  group: string,
): Promise<void> {
  try {
    const warning = await oldGroupWarning(await adminOf(), topic, group);
    if (warning !== undefined) adapter.warn(warning);
  } catch {
    // a courtesy: a broker that refuses OffsetFetch (ACLs) starts all the same
  }
}

/** Subscribes `c`, and runs it until it is a member of its group with partitions assigned. */
async function start(
  c: KafkaGroupConsumer,
  spec: SubscribeSpec,
  adminOf: () => Promise<Admin>,
  answer: () => void,
): Promise<void> {
  const { consumer } = c;
  await consumer.subscribe({ topic: spec.channel, fromBeginning: spec.kind === 'queue' });
  // A topic subscriber (a group of its own) starts at the end of each partition as of now:
  // the offsets are read before joining and sought to on joining, so a message produced after
  // subscribe() returns is never skipped by a "latest" resolved a moment later.
  let start: Array<{ partition: number; offset: string }> = [];
  if (spec.kind === 'topic') {
    const offsets = await (await adminOf()).fetchTopicOffsets(spec.channel);
    answer();
    start = offsets.map((o) => ({ partition: o.partition, offset: o.high }));
  }
  // subscribed = a member of the group with partitions assigned
  const joined = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const o of start) consumer.seek({ topic: spec.channel, ...o });
      start = [];
      resolve();
    }),
  );
  await c.run();
  await joined;
}

/** Whether `err` is (or was caused by) an error code the cluster answered with. */
function protocolAnswer(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (e.name === 'KafkaJSProtocolError') return true;
  return false;
}
