/**
 * A reusable wake-up signal: `wait` resolves on the next `wake()`, after `timeoutMs`, or when the
 * signal aborts — whichever comes first. A `wake()` with nobody waiting is remembered once, so a
 * wake between a check and a wait is never lost.
 */
export class Wakeup {
  #pending = false;
  #waiters = new Set<() => void>();

  wake(): void {
    if (this.#waiters.size === 0) {
      this.#pending = true;
      return;
    }
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener("abort", done, { once: true });
      this.#waiters.add(done);
    });
  }
}

/** Sleeps `ms`, ending early (resolving) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
