import type { EncodedEvent } from "../event.js";
import type { HealthReport } from "./health.js";

/**
 * What a transport can do. The conformance suite reads the same object, and the runtime fails
 * fast with a `ConfigError` when a feature it needs is missing.
 */
export interface TransportFeatures {
  /** Several subscribers in one group share the messages (each message to one of them). */
  readonly consumerGroups: boolean;
  /** Messages survive a restart of the process (and of the server, as far as it persists). */
  readonly persistent: boolean;
  /** `nack({ delayMs })` delays the redelivery by the transport's own mechanism. */
  readonly delayedNack: boolean;
  /** Un-acked deliveries of a subscriber that died come back to the group. */
  readonly redeliversUnacked: boolean;
  /** Within one topic and group, messages are delivered in publish order (absent redeliveries). */
  readonly orderedPerTopic: boolean;
  /** Largest payload in bytes the transport accepts, when it has a limit. */
  readonly maxPayloadBytes?: number | undefined;
}

export interface PublishOptions {
  signal?: AbortSignal | undefined;
}

export interface Publisher {
  /**
   * Publishes a batch to `topic`. Resolves when the transport has accepted every event (durably,
   * for persistent transports). Rejects with a `PublishError` listing the ids that failed.
   * MUST NOT reorder events of one call within a topic. After `close()` it MUST reject with an
   * `EventferryError` of code `CLOSED`.
   */
  publish(topic: string, events: readonly EncodedEvent[], options?: PublishOptions): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Consumer group: each message of a topic goes to one subscriber per group. */
  readonly group: string;
  /**
   * Stable name of this worker within the group (not new per poll): what a transport uses to find
   * a crashed worker's un-acked messages. @default a random name per subscription
   */
  readonly consumer?: string | undefined;
  /** Largest batch a fetch returns. @default 100 */
  readonly batchSize?: number | undefined;
  /**
   * An un-acked delivery is handed out again after this long (lease/ack-wait/idle time).
   * @default 30_000
   */
  readonly ackTimeoutMs?: number | undefined;
  /** Aborting it closes the subscription. */
  readonly signal?: AbortSignal | undefined;
}

/** One message handed to a subscriber. Ack or nack it exactly once. */
export interface Delivery {
  readonly event: EncodedEvent;
  /** 1 on the first delivery, counting redeliveries of the same message in this group. */
  readonly attempt: number;
  /** The transport's own message id (stream entry id, sequence, …), for logs. */
  readonly transportId: string;
  /** Done: the message is not delivered to this group again. */
  ack(): Promise<void>;
  /** Not done: deliver it again, after `delayMs` where the transport supports it. */
  nack(options?: { delayMs?: number }): Promise<void>;
}

/**
 * A running subscription. Iterate it for deliveries one by one, or {@link Subscription.batches}
 * for the batches the transport fetched. Iteration is the backpressure: nothing more is fetched
 * than `batchSize` ahead of the consumer.
 */
export interface Subscription extends AsyncIterable<Delivery> {
  /** Deliveries grouped as fetched (each at most `batchSize`, never empty). */
  batches(): AsyncIterable<readonly Delivery[]>;
  /** Acks many deliveries in one round trip where the transport can. */
  ackMany(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Stops fetching and ends iteration. Un-acked deliveries are left to redelivery. Idempotent,
   * and safe while a fetch is blocked.
   */
  close(): Promise<void>;
}

export interface Subscriber {
  /**
   * Joins `options.group` on `topic` (creating the group when new). MUST resolve only once the
   * group exists, so every message published after it resolved reaches the group.
   */
  subscribe(topic: string, options: SubscribeOptions): Promise<Subscription>;
  /** Closes every subscription and the connections. Idempotent. */
  close(): Promise<void>;
}

/** A transport: a Publisher and a Subscriber with a name, features and a health check. */
export interface Transport extends Publisher, Subscriber {
  /** e.g. `memory`, `redis`, `nats`, `store`. */
  readonly name: string;
  readonly features: TransportFeatures;
  health(): Promise<HealthReport>;
}

const TOPIC_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** True when `topic` is a valid topic name (dot-separated segments of `[A-Za-z0-9_-]`). */
export function isValidTopic(topic: string): boolean {
  return topic.length > 0 && topic.length <= 200 && TOPIC_RE.test(topic);
}
