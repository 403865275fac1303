// A subscription of the memory transport: pulls batches from its group, blocks (on a promise, no
// polling) while the group has nothing, and ends promptly on close() or signal abort.
import type { Delivery, Subscription } from "../contracts/transport.js";
import {
  type MemoryConsumer,
  MemoryDelivery,
  type MemoryEntry,
  type MemoryGroup,
  type MemoryWaiter,
} from "./memory-broker.js";

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** What the transport needs to know about its subscriptions. */
export interface MemorySubscriptionOptions {
  readonly group: MemoryGroup;
  readonly consumerName: string;
  readonly batchSize: number;
  readonly ackTimeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onClose: (subscription: MemorySubscription) => void;
}

export class MemorySubscription implements Subscription, MemoryConsumer {
  readonly inFlight = new Set<MemoryEntry>();
  readonly ackTimeoutMs: number;
  readonly consumerName: string;
  readonly #group: MemoryGroup;
  readonly #batchSize: number;
  readonly #waiters = new Set<MemoryWaiter>();
  readonly #signal: AbortSignal | undefined;
  readonly #onClose: (subscription: MemorySubscription) => void;
  readonly #onAbort = (): void => {
    void this.close();
  };
  #closed = false;

  constructor(options: MemorySubscriptionOptions) {
    this.#group = options.group;
    this.consumerName = options.consumerName;
    this.#batchSize = options.batchSize;
    this.ackTimeoutMs = options.ackTimeoutMs;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    this.#group.consumers.add(this);
    if (this.#signal?.aborted) void this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A batch now, a promise of one (`null` when closed meanwhile), or `null` when closed. */
  fetch(): MemoryDelivery[] | Promise<MemoryDelivery[] | null> | null {
    if (this.#closed) return null;
    const batch = this.#group.take(this, this.#batchSize);
    if (batch !== undefined) return batch;
    return new Promise<MemoryDelivery[] | null>((resolve) => {
      const waiter: MemoryWaiter = {
        consumer: this,
        max: this.#batchSize,
        done: false,
        resolve: (result) => {
          this.#waiters.delete(waiter);
          resolve(result);
        },
      };
      this.#waiters.add(waiter);
      this.#group.wait(waiter);
    });
  }

  batches(): AsyncIterable<readonly Delivery[]> {
    return { [Symbol.asyncIterator]: () => new BatchIterator(this, this.#group) };
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery> {
    return new DeliveryIterator(this, this.#group);
  }

  ackMany(deliveries: readonly Delivery[]): Promise<void> {
    const others: Promise<void>[] = [];
    for (const delivery of deliveries) {
      if (delivery instanceof MemoryDelivery) delivery.ackNow();
      else others.push(delivery.ack());
    }
    return others.length === 0 ? Promise.resolve() : Promise.all(others).then(() => undefined);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const waiter of [...this.#waiters]) {
      waiter.done = true;
      waiter.resolve(null);
    }
    this.#group.release(this);
    this.#onClose(this);
    return Promise.resolve();
  }
}

class BatchIterator implements AsyncIterator<readonly Delivery[]> {
  #finished = false;

  constructor(
    readonly subscription: MemorySubscription,
    readonly group: MemoryGroup,
  ) {}

  next(): Promise<IteratorResult<readonly Delivery[]>> {
    if (this.#finished) return Promise.resolve(DONE);
    const result = this.subscription.fetch();
    if (result === null) return this.return();
    if (Array.isArray(result)) return Promise.resolve({ done: false, value: result });
    return result.then((batch): IteratorResult<readonly Delivery[]> => {
      if (batch === null) {
        this.#finished = true;
        return DONE;
      }
      if (this.#finished) {
        // return() was called while this fetch was blocked: nobody will see the batch.
        this.group.giveBack(this.subscription, batch);
        return DONE;
      }
      return { done: false, value: batch };
    });
  }

  return(): Promise<IteratorResult<readonly Delivery[]>> {
    this.#finished = true;
    return Promise.resolve(DONE);
  }
}

class DeliveryIterator implements AsyncIterator<Delivery> {
  #buffer: MemoryDelivery[] = [];
  #index = 0;
  #pending: Promise<IteratorResult<Delivery>> | undefined;
  #finished = false;

  constructor(
    readonly subscription: MemorySubscription,
    readonly group: MemoryGroup,
  ) {}

  next(): Promise<IteratorResult<Delivery>> {
    if (this.#finished || this.subscription.closed) return this.#finish();
    if (this.#index < this.#buffer.length) {
      return Promise.resolve({ done: false, value: this.#buffer[this.#index++]! });
    }
    if (this.#pending !== undefined) return this.#pending.then(() => this.next());
    const result = this.subscription.fetch();
    if (result === null) return this.#finish();
    if (Array.isArray(result)) return Promise.resolve(this.#fill(result));
    const pending = result.then((batch): IteratorResult<Delivery> => {
      this.#pending = undefined;
      if (batch === null) {
        this.#finished = true;
        return DONE;
      }
      if (this.#finished) {
        this.group.giveBack(this.subscription, batch);
        return DONE;
      }
      return this.#fill(batch);
    });
    this.#pending = pending;
    return pending;
  }

  return(): Promise<IteratorResult<Delivery>> {
    return this.#finish();
  }

  #fill(batch: MemoryDelivery[]): IteratorResult<Delivery> {
    this.#buffer = batch;
    this.#index = 1;
    return { done: false, value: batch[0]! };
  }

  /** Ends this iterator; fetched deliveries it never yielded go back to the group. */
  #finish(): Promise<IteratorResult<Delivery>> {
    this.#finished = true;
    if (this.#index < this.#buffer.length && !this.subscription.closed) {
      this.group.giveBack(this.subscription, this.#buffer.slice(this.#index));
    }
    this.#buffer = [];
    this.#index = 0;
    return Promise.resolve(DONE);
  }
}
