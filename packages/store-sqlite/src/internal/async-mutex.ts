/**
 * A FIFO async mutex: `run(fn)` runs `fn` when every earlier holder has finished. The SQLite
 * store holds it for the whole of a transaction, so other operations on the same connection wait
 * instead of joining the transaction by accident.
 */
export class AsyncMutex {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;

  /** True while a holder runs or waits. */
  get busy(): boolean {
    return this.#held > 0;
  }

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    this.#held++;
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    const done = (): void => {
      this.#held--;
      release();
    };
    return previous.then(fn).then(
      (value) => {
        done();
        return value;
      },
      (error: unknown) => {
        done();
        throw error;
      },
    );
  }
}
