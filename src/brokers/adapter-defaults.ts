/**
 * The adapters' defaults for their options (adapter-options.ts): each adapter uses these, and
 * docs/config.md shows them (the schemas' `x-default`), so the two cannot drift apart (NATS's
 * pull size was written in three places).
 */
export const DEFAULTS = {
  kafka: { commitIntervalMs: 200 },
  /** `pullMax`: the most messages a JetStream pull asks for when `batch` is not set. */
  nats: { pullMax: 1024, maxAckPending: 4096, ackWaitMs: 30_000, fetchExpiresMs: 1000, publishTimeoutMs: 5000 },
  /** `readMax`: the most entries a read asks for when `count` is not set. */
  redis: { readMax: 1024, claimIdleMs: 30_000 },
  amqp: { prefetch: 1024 },
  mqtt: { receiveMaximum: 1000 },
  memory: { partitions: 1, retention: 100_000, retentionBytes: 64 * 1024 * 1024, maxBatch: 512 },
} as const;
