/**
 * Per-partition contiguous watermark: records are acked out of order (parallel workers, retries),
 * but a broker that commits a position (Kafka, the memory broker's groups) may only commit up to
 * the first record not yet acked. Offsets here are the partition's positions.
 */
export class Watermark {
  /** Every offset below this is acked. */
  private next: number;
  private readonly done = new Set<number>();
  /** Ranges no record will ever be delivered for (start → end, exclusive), e.g. Kafka offset gaps. */
  private readonly gaps = new Map<number, number>();

  constructor(start = 0) {
    this.next = start;
  }

  /** Marks one offset acked; returns the new watermark (first offset not yet acked). */
  ack(offset: number): number {
    if (offset === this.next) {
      // the common case, acks in order: no set traffic
      this.next++;
      if (this.done.size > 0 || this.gaps.size > 0) this.advance();
    } else if (offset > this.next) {
      this.done.add(offset);
    }
    return this.next;
  }

  /**
   * Marks [from, to) as never to be delivered — a compacted topic's holes, or the offsets of a
   * transactional producer's control records — so the watermark passes them instead of waiting
   * there forever. One entry per gap, whatever its length.
   */
  skip(from: number, to: number): number {
    if (to <= from || to <= this.next) return this.next;
    if (from <= this.next) {
      this.next = to;
      this.advance();
    } else this.gaps.set(from, to);
    return this.next;
  }

  private advance(): void {
    for (;;) {
      if (this.done.delete(this.next)) this.next++;
      else {
        if (this.gaps.size === 0) return;
        const end = this.gaps.get(this.next);
        if (end === undefined) return;
        this.gaps.delete(this.next);
        this.next = end;
      }
    }
  }

  get committed(): number {
    return this.next;
  }

  get pendingAbove(): number {
    return this.done.size;
  }
}
