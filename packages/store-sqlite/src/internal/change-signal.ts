/**
 * The in-process "something changed" signal behind `waitForChange`: `notify()` wakes every waiter;
 * a waiter also wakes after its timeout, when its signal aborts, or on `close()`.
 */
export class ChangeSignal {
  readonly #waiters = new Set<() => void>();

  notify(): void {
    if (this.#waiters.size === 0) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves on the next `notify()`, after `timeoutMs`, or when `signal` aborts. Never rejects. */
  wait(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const ms = Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 0;
      const wake = (): void => {
        this.#waiters.delete(wake);
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
    });
  }
}
