// A producer that keeps publishing during a fault: explicit event ids (so a retry never makes a
// new event), retryable PublishErrors retried with the same ids, and the orderIds whose publish
// resolved recorded as acknowledged.
import { type Eventferry, isEventferryError } from "eventferry";
import { OrderPlaced, sleep } from "./harness.js";

export class BackgroundPublisher {
  /** orderIds whose publish resolved (the store and the transport or the outbox took them). */
  readonly acked = new Set<string>();
  /** orderId → when its publish resolved (ms since epoch). */
  readonly ackedAt = new Map<string, number>();
  /** Retryable PublishErrors retried, and non-retryable errors seen. */
  retries = 0;
  readonly failures: string[] = [];
  #running = true;
  #loop: Promise<void> | undefined;

  constructor(
    readonly ferry: Eventferry,
    readonly prefix: string,
    readonly options: { chunk: number; pauseMs: number; keys: number; max: number },
  ) {}

  start(): this {
    this.#loop = this.#run();
    return this;
  }

  async #run(): Promise<void> {
    const { chunk, pauseMs, keys, max } = this.options;
    for (let start = 0; this.#running && start < max; start += chunk) {
      const items = [];
      for (let i = start; i < start + chunk; i++) {
        const orderId = `${this.prefix}-${i}`;
        items.push({
          event: OrderPlaced,
          data: { orderId, n: i },
          options: { id: `evt-${orderId}`, key: `customer-${i % keys}` },
        });
      }
      for (;;) {
        try {
          await this.ferry.publishMany(items);
          const now = Date.now();
          for (const item of items) {
            this.acked.add(item.data.orderId);
            this.ackedAt.set(item.data.orderId, now);
          }
          break;
        } catch (error) {
          if (isEventferryError(error) && error.retryable) {
            this.retries++;
            await sleep(200);
            continue;
          }
          // Not acknowledged: not expected to have an effect (but it may, if the store took it).
          this.failures.push(error instanceof Error ? error.message : String(error));
          break;
        }
      }
      await sleep(pauseMs);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** orderIds acknowledged after `since` (ms since epoch). */
  ackedAfter(since: number): string[] {
    return [...this.ackedAt].filter(([, at]) => at > since).map(([id]) => id);
  }
}
