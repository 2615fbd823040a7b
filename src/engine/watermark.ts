/**
 * Per-partition contiguous watermark: records are acked out of order (parallel workers, retries),
 * but a broker that commits a position (Kafka, the memory broker's groups) may only commit up to
 * the first record not yet acked. Offsets here are the partition's sequence numbers.
 */
export class Watermark {
  /** Every offset below this is acked. */
  private next: number;
  private readonly done = new Set<number>();

  constructor(start = 0) {
    this.next = start;
  }

  /** Marks one offset acked; returns the new watermark (first offset not yet acked). */
  ack(offset: number): number {
    if (offset === this.next) {
      // the common case, acks in order: no set traffic
      this.next++;
      if (this.done.size > 0) while (this.done.delete(this.next)) this.next++;
    } else if (offset > this.next) {
      this.done.add(offset);
    }
    return this.next;
  }

  get committed(): number {
    return this.next;
  }

  get pendingAbove(): number {
    return this.done.size;
  }
}
