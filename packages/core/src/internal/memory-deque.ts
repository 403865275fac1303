const MIN_CAPACITY = 16;

/**
 * A double-ended queue on a growable ring buffer: O(1) amortised `push`, `pushFront`, `shift`
 * and indexed `at`. Capacity grows by doubling and shrinks by half when the queue falls below a
 * quarter of it, so a drained queue gives its memory back.
 */
export class MemoryDeque<T> {
  #items: (T | undefined)[] = new Array(MIN_CAPACITY);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#resize(this.#items.length * 2);
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item;
    this.#length++;
  }

  pushFront(item: T): void {
    if (this.#length === this.#items.length) this.#resize(this.#items.length * 2);
    this.#head = (this.#head - 1) & (this.#items.length - 1);
    this.#items[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the first item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (this.#items.length - 1);
    this.#length--;
    const capacity = this.#items.length;
    if (capacity > MIN_CAPACITY && this.#length < capacity >>> 2) this.#resize(capacity >>> 1);
    return item;
  }

  /** The first item without removing it. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  /** The item at `index` from the front (0-based), or `undefined` when out of range. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.#length) return undefined;
    return this.#items[(this.#head + index) & (this.#items.length - 1)];
  }

  clear(): void {
    this.#items = new Array(MIN_CAPACITY);
    this.#head = 0;
    this.#length = 0;
  }

  #resize(capacity: number): void {
    const next: (T | undefined)[] = new Array(capacity);
    const mask = this.#items.length - 1;
    for (let i = 0; i < this.#length; i++) next[i] = this.#items[(this.#head + i) & mask];
    this.#items = next;
    this.#head = 0;
  }
}
