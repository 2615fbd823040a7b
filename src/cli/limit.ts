import type {
  BatchListener,
  BrokerAdapter,
  BrokerRecord,
  Consumer,
  OutRecord,
  SubscribeSpec,
} from '../brokers/adapter.js';
import type { FormatSpec } from '../component/types.js';

/**
 * `wasmsg run --limit N`: the engine is handed at most N messages in all, so exactly N settle
 * (the engine batches whatever it holds, so limiting only when it stops would process whole
 * batches past N). A shared budget across every subscription of every wrapped adapter: records
 * delivered past it are given back at once (`nack`, for redelivery to another consumer or the
 * next run) and the consumers stay paused from then on. Publishing passes through.
 */
export class Budget {
  constructor(public remaining: number) {}
  readonly exhausted = new Set<() => void>();
  take(n: number): number {
    const granted = Math.min(n, this.remaining);
    this.remaining -= granted;
    if (this.remaining === 0) for (const f of this.exhausted) f();
    return granted;
  }
}

class LimitedConsumer implements Consumer {
  inner!: Consumer;
  private paused = false;
  constructor(private readonly budget: Budget) {}
  pause(): void {
    this.paused = true;
    this.inner.pause();
  }
  resume(): void {
    this.paused = false;
    if (this.budget.remaining > 0) this.inner.resume();
  }
  stopIntake(): void {
    if (!this.paused) this.inner?.pause();
  }
  settle(record: BrokerRecord, outcome: 'ack' | 'nack'): void {
    this.inner.settle(record, outcome);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  /** The wrapped consumer's lag (`wasmsg_consumer_lag` under `run --limit`). */
  lag(): Promise<number | undefined> {
    return this.inner.lag?.() ?? Promise.resolve(undefined);
  }
}

export class LimitedAdapter implements BrokerAdapter {
  readonly name: string;
  /** The wrapped adapter's: world C components see the same `format` with `--limit` as without. */
  readonly format?: FormatSpec;
  constructor(
    private readonly inner: BrokerAdapter,
    private readonly budget: Budget,
  ) {
    this.name = inner.name;
    this.format = inner.format;
  }
  connect(): Promise<void> {
    return this.inner.connect();
  }
  async subscribe(spec: SubscribeSpec, onBatch: BatchListener): Promise<Consumer> {
    const wrapper = new LimitedConsumer(this.budget);
    // a broker may deliver before subscribe() resolves: overflow is given back once `inner` is known
    const early: BrokerRecord[] = [];
    const giveBack = (records: readonly BrokerRecord[]): void => {
      if (wrapper.inner === undefined) early.push(...records);
      else for (const r of records) wrapper.inner.settle(r, 'nack');
    };
    const stop = (): void => wrapper.stopIntake();
    this.budget.exhausted.add(stop);
    wrapper.inner = await this.inner.subscribe(spec, (records) => {
      const granted = this.budget.take(records.length);
      if (granted < records.length) giveBack(records.slice(granted));
      if (granted > 0) onBatch(granted === records.length ? records : records.slice(0, granted));
    });
    for (const r of early.splice(0)) wrapper.inner.settle(r, 'nack');
    if (this.budget.remaining === 0) wrapper.inner.pause();
    return wrapper;
  }
  publish(records: readonly OutRecord[]): Promise<void> {
    return this.inner.publish(records);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
