/**
 * A ring-buffer double-ended queue: O(1) push, shift and peek, and `unshiftAll` to put a run
 * of items back at the front in their order (a lane's failed and skipped messages go back
 * before the rest). Arrays' `shift` and `unshift(...list)` move every element; a lane's queue
 * holds up to the engine's high-water mark of messages, so that was O(n) per message.
 *
 * The capacity is a power of two, so an index wraps with a mask; it doubles when full.
 */
export class Deque<T> {
  private items: Array<T | undefined>;
  private head = 0;
  private size = 0;
  private mask: number;

  constructor(capacity = 16) {
    let c = 16;
    while (c < capacity) c *= 2;
    this.items = new Array<T | undefined>(c);
    this.mask = c - 1;
  }

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size === this.items.length) this.grow(this.size + 1);
    this.items[(this.head + this.size) & this.mask] = item;
    this.size++;
  }

  /** The first item, or undefined when empty. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined; // let it be collected
    this.head = (this.head + 1) & this.mask;
    this.size--;
    return item;
  }

  /** Puts `list` back at the front, in its order (list[0] becomes the first item). */
  unshiftAll(list: readonly T[]): void {
    if (list.length === 0) return;
    if (this.size + list.length > this.items.length) this.grow(this.size + list.length);
    for (let i = list.length - 1; i >= 0; i--) {
      this.head = (this.head - 1) & this.mask;
      this.items[this.head] = list[i];
    }
    this.size += list.length;
  }

  /** Empties the queue; returns what it held, in order. */
  drain(): T[] {
    const out: T[] = new Array<T>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.shift()!;
    return out;
  }

  private grow(needed: number): void {
    let c = this.items.length * 2;
    while (c < needed) c *= 2;
    const items = new Array<T | undefined>(c);
    for (let i = 0; i < this.size; i++) items[i] = this.items[(this.head + i) & this.mask];
    this.items = items;
    this.head = 0;
    this.mask = c - 1;
  }
}
