import type { Admin } from 'kafkajs';

/**
 * The Kafka adapter's start-time check for deployments of the old default queue group: until
 * 2026-11-27 every queue subscription without a group was in the group `wasmsg`; it is now
 * `wasmsg.<topic>` (brokers/kafka.ts, subscribe). A deployment that relied on the old default
 * starts a new group, which has no committed offsets and reads its topic from the beginning —
 * everything the old group had handled is handled again. Nothing here changes what is consumed
 * (the old group may be another application's): the start says so, and how to resume instead.
 */

/** The default queue group before 2026-11-27, for every topic. */
export const OLD_DEFAULT_GROUP = 'wasmsg';

/**
 * The warning for a queue subscription to `topic` on its default group `group`, or undefined:
 * one when the old default group has committed offsets for the topic and `group` has none (this
 * start is the one that reads from the beginning; once the new group committed, its own offsets
 * are what it resumes from, and the old group's linger until the broker expires them).
 */
export async function oldGroupWarning(admin: Admin, topic: string, group: string): Promise<string | undefined> {
  const committed = async (groupId: string): Promise<number> => {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (offsets?.partitions ?? []).filter((p) => Number(p.offset) >= 0).length;
  };
  const [old, own] = await Promise.all([committed(OLD_DEFAULT_GROUP), committed(group)]);
  if (old === 0 || own > 0) return undefined;
  return (
    `queue subscription to '${topic}' without a group is in the consumer group '${group}' (the default ` +
    `since 2026-11-27; it was '${OLD_DEFAULT_GROUP}'), which has no committed offsets: it reads the topic from ` +
    `the beginning. The group '${OLD_DEFAULT_GROUP}' has committed offsets for ${old} of its partitions: to ` +
    `resume from them instead, give the subscription group: ${OLD_DEFAULT_GROUP} (--group ${OLD_DEFAULT_GROUP}; ` +
    `see README, "Real brokers")`
  );
}
