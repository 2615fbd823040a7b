import type { BrokerRecord } from '../brokers/adapter.js';

/** The events an Engine emits (engine.ts), with their payloads. */
export type EngineEvents = {
  /** Every message settled (acked after ok, or acked after dead-lettering). */
  settled: [{ record: BrokerRecord; outcome: 'ok' | 'dead-lettered' }];
  /**
   * The same messages as `settled`, one event for the messages acknowledged together (a batch's
   * ok messages, or one dead-lettered message): for observers of every message at high rates,
   * where an event object per message costs the main thread more than the observer's own work.
   * `records` is the listener's to keep.
   */
  settledBatch: [{ records: readonly BrokerRecord[]; outcome: 'ok' | 'dead-lettered' }];
  /** `component` and `broker`: the component whose handler failed it and the broker it came from (names). */
  deadLettered: [{ record: BrokerRecord; error: string; attempts: number; component: string; broker: string }];
  /**
   * `resetStats()` is about to restart the stats window: the counters and histograms still hold
   * the old one (the metrics registry carries them over, so its counters never go down).
   */
  statsReset: [];
  /** Kept for compatibility: failures of publishes are now failed attempts, not errors. */
  error: [Error];
};
