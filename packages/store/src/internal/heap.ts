/**
 * A binary min-heap ordered by `less`. Items are never updated in place: callers push a fresh
 * item and recognise stale ones on pop (lazy deletion), then call {@link Heap.compact} when
 * stale items pile up, so the heap never holds much more than the live set.
 */
export class Heap<T> {
  #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const p = items[parent] as T;
      if (!this.#less(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Drops every item for which `live` is false (O(n)). */
  compact(live: (item: T) => boolean): void {
    this.#items = this.#items.filter(live);
    for (let i = (this.#items.length >>> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[start] as T;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#less(items[right] as T, items[left] as T)) child = right;
      const c = items[child] as T;
      if (!this.#less(c, item)) break;
      items[i] = c;
      i = child;
    }
    items[i] = item;
  }
}
