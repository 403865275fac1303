/**
 * A first-in-first-out queue on an array with a moving head: O(1) amortised `push` and `shift`,
 * plus the rare sorted insert and removal from the middle that the per-key queues need.
 */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  first(): T | undefined {
    return this.#items[this.#head];
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined as T;
    this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes `item` wherever it is (O(n)); true when it was there. */
  remove(item: T): boolean {
    if (this.first() === item) {
      this.shift();
      return true;
    }
    const i = this.#items.indexOf(item, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    return true;
  }

  /** Inserts keeping the queue sorted by `rank` (assumes it is sorted already). */
  insertSorted(item: T, rank: (item: T) => number): void {
    const r = rank(item);
    let lo = this.#head;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rank(this.#items[mid] as T) < r) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.#head && this.#head > 0) {
      this.#head--;
      this.#items[this.#head] = item;
    } else {
      this.#items.splice(lo, 0, item);
    }
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
