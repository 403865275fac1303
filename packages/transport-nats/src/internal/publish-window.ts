// A counting semaphore bounding the JetStream publishes awaiting their PubAck, across every
// publish call of a transport: memory and server load stay bounded whatever callers do.

export class PublishWindow {
  readonly #limit: number;
  #inFlight = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Takes a slot now (true) or returns false when the window is full. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#limit) return false;
    this.#inFlight++;
    return true;
  }

  /** Resolves once a slot is taken. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#waiters.push(() => {
        this.#inFlight++;
        resolve();
      });
    });
  }

  release(): void {
    this.#inFlight--;
    const next = this.#waiters.shift();
    if (next !== undefined) next();
  }
}
