// Waiting helpers of the transport conformance suite: every wait has a timeout, so a hung
// transport fails a case instead of hanging the run. No vitest here.
import type { Delivery, Subscription } from "../contracts/transport.js";

/** Resolves after `ms` milliseconds (real time). */
export function conformanceSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`, or a rejection with `message` when it does not settle within `ms`. */
export function conformanceWithTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (timed out after ${ms} ms)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `condition()` holds (checked every 5 ms); rejects with `describe()` after `ms`. */
export async function conformanceWaitUntil(
  condition: () => boolean,
  ms: number,
  describe: () => string,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() >= deadline) throw new Error(`${describe()} (timed out after ${ms} ms)`);
    await conformanceSleep(5);
  }
}

/**
 * A background consumer: iterates `subscription.batches()`, records every delivery and batch
 * size, and acks per delivery (`each`), per batch with `ackMany` (`batch`) or not at all
 * (`none`), pausing `pauseMs` after each batch. It stops when the subscription closes.
 */
export class ConformanceReceiver {
  readonly received: Delivery[] = [];
  readonly batchSizes: number[] = [];
  /** Settles (never rejects) when the iteration has ended. */
  readonly stopped: Promise<void>;
  #error: unknown;
  #ended = false;
  readonly #listeners = new Set<() => void>();

  constructor(
    readonly subscription: Subscription,
    readonly ack: "each" | "batch" | "none",
    readonly pauseMs: number,
  ) {
    this.stopped = this.#run();
  }

  /** What the iteration threw, if it threw. */
  get error(): unknown {
    return this.#error;
  }

  /** Resolves once `count` deliveries were received; rejects on timeout or when iteration ended first. */
  waitFor(count: number, ms: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.received.length >= count) finish();
        else if (this.#ended) {
          finish(
            new Error(
              `${what}: the iteration ended after ${this.received.length} of ${count} deliveries` +
                (this.#error === undefined ? "" : `: ${String(this.#error)}`),
              { cause: this.#error },
            ),
          );
        }
      };
      const timer = setTimeout(
        () => finish(new Error(`${what}: ${this.received.length} of ${count} deliveries within ${ms} ms`)),
        ms,
      );
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        if (error === undefined) resolve();
        else reject(error);
      };
      this.#listeners.add(check);
      check();
    });
  }

  async #run(): Promise<void> {
    try {
      for await (const batch of this.subscription.batches()) {
        this.batchSizes.push(batch.length);
        for (const delivery of batch) this.received.push(delivery);
        this.#notify();
        if (this.ack === "batch") await this.subscription.ackMany(batch);
        else if (this.ack === "each") for (const delivery of batch) await delivery.ack();
        if (this.pauseMs > 0) await conformanceSleep(this.pauseMs);
      }
    } catch (error) {
      this.#error = error ?? new Error("iteration threw a nullish value");
    } finally {
      this.#ended = true;
      this.#notify();
    }
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
