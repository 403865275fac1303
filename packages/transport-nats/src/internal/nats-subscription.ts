// A subscription on a durable pull consumer: pulls with `fetch` only as far ahead as the consumer
// has drained (at most `batchSize` requested or buffered), hands out batches as they arrive, and
// ends promptly on close() or signal abort.
import type { Delivery, EncodedEvent, Subscription } from "@eventferry/core";
import type { Consumer, JsMsg } from "@nats-io/jetstream";
import { toTransportError } from "../classify-error.js";
import { HEADER_ENCODED, HEADER_KEY, HEADER_PAYLOAD_FORMAT, HEADER_TYPE, MSG_ID_HEADER } from "./headers.js";

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
const RESOLVED = Promise.resolve();
/** Pull requests a subscription keeps open at once. */
const MAX_FETCHES = 2;

/** A delivery of the NATS transport: a JetStream message. Ack or nack once; later calls are no-ops. */
export class NatsDelivery implements Delivery {
  readonly event: EncodedEvent;
  readonly msg: JsMsg;
  #owner: NatsSubscription | undefined;

  constructor(msg: JsMsg, event: EncodedEvent, owner: NatsSubscription) {
    this.msg = msg;
    this.event = event;
    this.#owner = owner;
  }

  /** The JetStream delivery count of the message in this consumer (1, 2, 3, …). */
  get attempt(): number {
    return this.msg.info.deliveryCount;
  }

  /** The stream sequence. */
  get transportId(): string {
    return String(this.msg.seq);
  }

  ack(): Promise<void> {
    this.ackNow();
    return RESOLVED;
  }

  /** Synchronous ack (a fire-and-forget protocol message), for `ackMany`. */
  ackNow(): void {
    if (this.#owner === undefined) return;
    this.#owner = undefined;
    this.msg.ack();
  }

  nack(options?: { delayMs?: number }): Promise<void> {
    if (this.#owner === undefined) return RESOLVED;
    this.#owner = undefined;
    const delayMs = options?.delayMs;
    if (typeof delayMs === "number" && Number.isFinite(delayMs) && delayMs > 0)
      this.msg.nak(Math.ceil(delayMs));
    else this.msg.nak();
    return RESOLVED;
  }

  /**
   * Tells the server never to deliver this message again to the group (`+TERM`): for a poison
   * message the application has recorded elsewhere. Beyond the `Delivery` contract; NATS only.
   */
  term(reason?: string): Promise<void> {
    const owner = this.#owner;
    if (owner === undefined) return RESOLVED;
    this.#owner = undefined;
    // nats-server before 2.10 does not recognise `+TERM <reason>` and ignores it: send the bare
    // `+TERM` there.
    if (reason !== undefined && owner.termWithReason) this.msg.term(reason);
    else this.msg.term();
    return RESOLVED;
  }

  /** Forgets the delivery without acking or naking it: the server redelivers it after the ack wait. */
  abandon(): void {
    this.#owner = undefined;
  }

  /** Naks a delivery fetched but never handed to the application (an iterator ended while it waited). */
  release(): void {
    if (this.#owner === undefined) return;
    this.#owner = undefined;
    this.msg.nak();
  }
}

const decoder = new TextDecoder();

/** `decodeURIComponent`, or the text as it is when it is not valid percent-encoding (a hand-made header). */
function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The event a JetStream message carries (never throws: garbage becomes a string payload). */
export function eventOf(msg: JsMsg, stream: string): EncodedEvent {
  const headers = msg.headers;
  let id = headers?.get(MSG_ID_HEADER) || `${stream}:${msg.seq}`;
  let type = headers?.get(HEADER_TYPE) ?? "";
  let key = headers?.get(HEADER_KEY) || undefined;
  const encoded = headers?.get(HEADER_ENCODED);
  if (encoded) {
    const fields = encoded.split(",");
    if (fields.includes("id")) id = decodeOr(id);
    if (fields.includes("type")) type = decodeOr(type);
    if (fields.includes("key") && key !== undefined) key = decodeOr(key);
  }
  const text = decoder.decode(msg.data);
  let payload: string | Readonly<Record<string, string>> = text;
  if (headers?.get(HEADER_PAYLOAD_FORMAT) === "fields") {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        payload = parsed as Record<string, string>;
      }
    } catch {
      // left as the string it is; the inbox dead-letters it
    }
  }
  return key === undefined ? { id, type, payload } : { id, type, key, payload };
}

export interface NatsSubscriptionOptions {
  readonly consumer: Consumer;
  readonly stream: string;
  readonly batchSize: number;
  readonly fetchExpiresMs: number;
  /** The server understands `+TERM <reason>` (2.10+). */
  readonly termWithReason: boolean;
  readonly signal: AbortSignal | undefined;
  readonly onClose: (subscription: NatsSubscription) => void;
  readonly onError: (error: unknown) => void;
}

type Waiter = () => void;

export class NatsSubscription implements Subscription {
  readonly #consumer: Consumer;
  readonly #stream: string;
  readonly #batchSize: number;
  readonly #expiresMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onClose: (subscription: NatsSubscription) => void;
  readonly #onError: (error: unknown) => void;
  /** Received, not yet handed out. */
  #buffer: NatsDelivery[] = [];
  #head = 0;
  /** Messages requested by open fetches and not received yet. */
  #outstanding = 0;
  readonly #fetches = new Set<{ stop(): void }>();
  #fetching = 0;
  #waiters: Waiter[] = [];
  #wakeScheduled = false;
  #closed = false;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly termWithReason: boolean;
  /** The last pull failure, for health. */
  lastError: string | undefined;
  readonly #onAbort = (): void => {
    void this.close();
  };

  constructor(options: NatsSubscriptionOptions) {
    this.#consumer = options.consumer;
    this.#stream = options.stream;
    this.#batchSize = options.batchSize;
    this.#expiresMs = options.fetchExpiresMs;
    this.termWithReason = options.termWithReason;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    this.#onError = options.onError;
    if (this.#signal?.aborted) {
      void this.close();
      return;
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#pump();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Deliveries received and not yet handed out. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** Starts pulls while what is buffered and requested is below one batch. */
  #pump(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    // One pull request at a time holds messages for us: two would interleave and break stream
    // order. A new one starts once the previous one has delivered everything it asked for (its
    // end-of-request may still be on the way, hence MAX_FETCHES).
    if (this.#fetching >= MAX_FETCHES || this.#outstanding > 0) return;
    const want = this.#batchSize - this.buffered;
    // Top up by at least half a batch, except when nothing is buffered.
    if (want <= 0 || (this.buffered > 0 && want * 2 < this.#batchSize)) return;
    void this.#fetch(want);
  }

  async #fetch(count: number): Promise<void> {
    this.#fetching++;
    this.#outstanding += count;
    let received = 0;
    let failure: unknown;
    try {
      const messages = await this.#consumer.fetch({ max_messages: count, expires: this.#expiresMs });
      if (this.#closed) {
        messages.stop();
      } else {
        const handle = { stop: () => messages.stop() };
        this.#fetches.add(handle);
        try {
          for await (const msg of messages) {
            received++;
            this.#outstanding--;
            // After close() a late message is left to the ack wait, like everything else unsettled.
            if (this.#closed) continue;
            this.#buffer.push(new NatsDelivery(msg, eventOf(msg, this.#stream), this));
            this.#wake();
            if (this.#outstanding === 0) this.#pump();
          }
        } finally {
          this.#fetches.delete(handle);
        }
      }
    } catch (error) {
      failure = error;
    } finally {
      this.#outstanding -= count - received;
      this.#fetching--;
    }
    if (this.#closed) return;
    if (failure !== undefined) {
      this.#failures++;
      const reported = toTransportError(failure, `pulling from ${this.#stream}`);
      this.lastError = reported.message;
      this.#onError(reported);
      // Back off (250 ms doubling to 5 s) while the server is away; the connection reconnects.
      const delay = Math.min(5_000, 250 * 2 ** Math.min(this.#failures - 1, 5));
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, delay);
      return;
    }
    this.#failures = 0;
    this.lastError = undefined;
    this.#pump();
  }

  /**
   * Wakes waiting iterations. Messages arrive in bursts (one socket read holds hundreds) and are
   * pushed one microtask apart: waking at once would hand out batches of one or two. So a wake is
   * deferred to the next macrotask, unless a full batch is already buffered or the subscription
   * closed.
   */
  #wake(): void {
    if (this.#waiters.length === 0) return;
    if (this.#closed || this.buffered >= this.#batchSize) {
      this.#wakeNow();
      return;
    }
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(this.#wakeNow);
  }

  readonly #wakeNow = (): void => {
    this.#wakeScheduled = false;
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  };

  /** Waits until something is buffered or the subscription closed. */
  #wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Up to `max` buffered deliveries, handed out (empty when none). */
  take(max: number): NatsDelivery[] {
    const available = this.buffered;
    if (available === 0) return [];
    const n = Math.min(max, available);
    const batch = this.#buffer.slice(this.#head, this.#head + n);
    this.#head += n;
    if (this.#head === this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    this.#pump();
    return batch;
  }

  /** The next batch (at most `max`), or `null` once closed. */
  async next(max: number): Promise<NatsDelivery[] | null> {
    for (;;) {
      if (this.#closed) return null;
      const batch = this.take(max);
      if (batch.length > 0) return batch;
      await this.#wait();
    }
  }

  batches(): AsyncIterable<readonly Delivery[]> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<readonly Delivery[]> => {
        let finished = false;
        return {
          next: async () => {
            if (finished) return DONE;
            const batch = await this.next(this.#batchSize);
            if (batch === null || finished) {
              finished = true;
              if (batch !== null) for (const d of batch) this.#unhand(d);
              return DONE;
            }
            return { done: false, value: batch };
          },
          return: async () => {
            finished = true;
            return DONE;
          },
        };
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery> {
    let local: NatsDelivery[] = [];
    let index = 0;
    let finished = false;
    return {
      next: async (): Promise<IteratorResult<Delivery>> => {
        if (finished || this.#closed) {
          finished = true;
          return DONE;
        }
        if (index < local.length) return { done: false, value: local[index++] as NatsDelivery };
        // One at a time, so a delivery iterator never holds deliveries it did not yield.
        const batch = await this.next(1);
        if (batch === null || finished) {
          finished = true;
          if (batch !== null) for (const d of batch) this.#unhand(d);
          return DONE;
        }
        local = batch;
        index = 1;
        return { done: false, value: batch[0] as NatsDelivery };
      },
      return: async () => {
        finished = true;
        for (let i = index; i < local.length; i++) this.#unhand(local[i] as NatsDelivery);
        local = [];
        index = 0;
        return DONE;
      },
    };
  }

  /** A fetched delivery nobody will see: back to the server at once. */
  #unhand(delivery: NatsDelivery): void {
    delivery.release();
  }

  ackMany(deliveries: readonly Delivery[]): Promise<void> {
    let others: Promise<void>[] | undefined;
    for (const delivery of deliveries) {
      if (delivery instanceof NatsDelivery) delivery.ackNow();
      else {
        others ??= [];
        others.push(delivery.ack());
      }
    }
    return others === undefined ? RESOLVED : Promise.all(others).then(() => undefined);
  }

  close(): Promise<void> {
    if (this.#closed) return RESOLVED;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const fetch of this.#fetches) fetch.stop();
    this.#fetches.clear();
    // What was fetched and not handed out is left to the ack wait, and so is what was handed out
    // and not settled yet (it can still be acked or nacked while the connection is open): it
    // reaches another subscriber of the group after `ackTimeoutMs`. (Naking it here would be
    // faster, but nats-server 2.9 may then hand a message to the pull request this subscription
    // left open on the server, and deliver it twice.)
    for (let i = this.#head; i < this.#buffer.length; i++) (this.#buffer[i] as NatsDelivery).abandon();
    this.#buffer = [];
    this.#head = 0;
    this.#wake();
    this.#onClose(this);
    return RESOLVED;
  }
}
