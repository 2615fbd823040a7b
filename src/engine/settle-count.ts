import { ErrorCode, OptionError, WasmsgError } from '../errors.js';

/**
 * The count of settled messages and `engine.waitForSettled(n)`'s waiters (main thread). Counting
 * costs an add and a compare per settled batch; waiters are kept sorted, so only reaching the
 * nearest target looks at them. Once nothing settles any more (`end`: the engine stops or failed
 * to start), every waiter short of its count is rejected, and so is any later one.
 */
export class SettleCount {
  private total = 0;
  private next = Infinity;
  private ended = false;
  private readonly waiters: Array<{ n: number; resolve: () => void; reject: (e: Error) => void }> = [];
  /** (a set: process() streams come and go while they wait for their source) */
  private readonly endedListeners = new Set<() => void>();

  /** `n` more settled. */
  add(n: number): void {
    if ((this.total += n) < this.next) return;
    while (this.waiters.length > 0 && this.waiters[0]!.n <= this.total) this.waiters.shift()!.resolve();
    this.next = this.waiters[0]?.n ?? Infinity;
  }

  /** Resolves once `n` have settled; rejects (E_ENGINE_STATE) if the count ends short of it. */
  waitFor(n: number): Promise<void> {
    // (NaN at the head of the sorted waiters, or a string, held back every waiter behind it)
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      const given = typeof n === 'string' ? `'${n}'` : typeof n === 'bigint' ? `${n}n` : String(n);
      return Promise.reject(
        new OptionError(
          ErrorCode.badOption,
          `engine.waitForSettled(${given}): give a count of messages: a number ≥ 0`,
          {
            option: 'waitForSettled',
          },
        ),
      );
    }
    if (this.total >= n) return Promise.resolve();
    if (this.ended) return Promise.reject(this.short(n));
    return new Promise((resolve, reject) => {
      this.waiters.push({ n, resolve, reject });
      this.waiters.sort((a, b) => a.n - b.n);
      this.next = this.waiters[0]!.n;
    });
  }

  /** Calls `listener` once nothing settles any more (at once if that is already so); returns how to unsubscribe. */
  onEnd(listener: () => void): () => void {
    if (this.ended) {
      listener();
      return () => {};
    }
    this.endedListeners.add(listener);
    return () => void this.endedListeners.delete(listener);
  }

  /** Nothing settles from here on. */
  end(): void {
    this.ended = true;
    const listeners = [...this.endedListeners];
    this.endedListeners.clear();
    for (const l of listeners) l();
    for (const w of this.waiters.splice(0)) w.reject(this.short(w.n));
    this.next = Infinity;
  }

  private short(n: number): WasmsgError {
    return new WasmsgError(
      ErrorCode.engineState,
      `engine.waitForSettled(${n}): the engine stopped with ${this.total} settled`,
      { settled: this.total, wanted: n },
    );
  }
}
