import { trap } from './guest.js';

/** One own-handle table per resource type; index 0 is never valid. Dropped slots are reused. */
export class HandleTable<T> {
  private readonly items: Array<T | undefined> = [undefined];
  private readonly free: number[] = [];
  private count = 0;

  add(value: T): number {
    this.count++;
    const h = this.free.pop();
    if (h !== undefined) {
      this.items[h] = value;
      return h;
    }
    this.items.push(value);
    return this.items.length - 1;
  }

  /** A borrow: the handle must be live, else the guest traps (jco would make a placeholder). */
  get(handle: number, what: string): T {
    const v = this.items[handle];
    if (v === undefined) trap(`unknown ${what} handle ${handle}`);
    return v;
  }

  /** Moves ownership out (a drop, or an own passed to the host). */
  remove(handle: number, what: string): T {
    const v = this.items[handle];
    if (v === undefined) trap(`unknown ${what} handle ${handle}`);
    this.items[handle] = undefined;
    this.free.push(handle);
    this.count--;
    return v;
  }

  get size(): number {
    return this.count;
  }
}
