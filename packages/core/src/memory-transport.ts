import { type Clock, systemClock } from "./clock.js";
import type { HealthReport } from "./contracts/health.js";
import {
  isValidTopic,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportFeatures,
} from "./contracts/transport.js";
import { ConfigError, componentMessage, EventferryError, PublishError, ValidationError } from "./errors.js";
import type { EncodedEvent } from "./event.js";
import { MemoryBroker } from "./internal/memory-broker.js";
import { MemorySubscription } from "./internal/memory-subscription.js";

const COMPONENT = "transport-memory";

/** Options of {@link createMemoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * Time source for nack delays and ack timeouts (leases). Pass `createFakeClock()` from
   * `@eventferry/core/testing` to drive them in tests. @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Most messages a topic retains (published and not yet acked by every group, or published
   * while no group exists). A publish that would exceed it rejects with a retryable
   * `PublishError`: memory is bounded by configuration, not by backlog. @default 1_000_000
   */
  maxMessagesPerTopic?: number | undefined;
}

/**
 * Defaults of the memory transport (options and per-subscription defaults).
 *
 * @example
 * createMemoryTransport({ maxMessagesPerTopic: memoryTransportDefaults.maxMessagesPerTopic / 10 });
 */
export const memoryTransportDefaults = Object.freeze({
  maxMessagesPerTopic: 1_000_000,
  /** `SubscribeOptions.batchSize` when not given. */
  batchSize: 100,
  /** `SubscribeOptions.ackTimeoutMs` when not given. */
  ackTimeoutMs: 30_000,
});

/**
 * What the memory transport can do: everything but survive a restart.
 *
 * @example
 * if (!transport.features.persistent) logger.warn("events are lost on restart");
 */
export const memoryTransportFeatures: TransportFeatures = Object.freeze({
  consumerGroups: true,
  persistent: false,
  delayedNack: true,
  redeliversUnacked: true,
  orderedPerTopic: true,
});

/** Counters of one consumer group of a topic. */
export interface MemoryGroupStats {
  /** Published messages the group has not received yet. */
  readonly backlog: number;
  /** Delivered, neither acked nor nacked, lease running. */
  readonly inFlight: number;
  /** Nacked with a delay that has not elapsed yet. */
  readonly delayed: number;
  /** Redeliverable now (nacked, lease expired, or their subscriber closed). */
  readonly ready: number;
  /** `backlog + inFlight + delayed + ready`: what the group still has to ack. */
  readonly pending: number;
  /** Open subscriptions in the group. */
  readonly subscribers: number;
}

/** Counters of one topic. */
export interface MemoryTopicStats {
  /** Messages held in memory for this topic. */
  readonly retained: number;
  /** Messages ever published to the topic. */
  readonly published: number;
  readonly groups: Readonly<Record<string, MemoryGroupStats>>;
}

/** A snapshot of the memory transport's state, from {@link MemoryTransport.stats}. */
export interface MemoryTransportStats {
  readonly topics: number;
  /** Messages held in memory across all topics: 0 once every group acked everything. */
  readonly retained: number;
  /** Sums over every group of every topic. */
  readonly pending: number;
  readonly inFlight: number;
  readonly delayed: number;
  readonly ready: number;
  /** Open subscriptions. */
  readonly subscriptions: number;
  /** Lease and delay timers currently scheduled. */
  readonly timers: number;
  readonly perTopic: Readonly<Record<string, MemoryTopicStats>>;
}

/** The memory transport: a {@link Transport} with {@link MemoryTransport.stats}. */
export interface MemoryTransport extends Transport {
  readonly name: "memory";
  /**
   * Counters for tests and health: retained messages, pending per group, open subscriptions.
   * O(topics × groups); not for a hot path.
   *
   * @example
   * expect(transport.stats().retained).toBe(0); // everything acked by every group was freed
   */
  stats(): MemoryTransportStats;
}

/**
 * An in-process broker implementing the {@link Transport} contract: for tests, for a single
 * process, and as the reference the conformance suite is written against.
 *
 * Semantics:
 * - **Topics and groups.** Each message of a topic goes to exactly one subscriber per consumer
 *   group; several groups each get every message. Subscribers pull: a fetch hands out up to
 *   `batchSize` deliveries (redeliveries first, then new messages in publish order), so an idle
 *   subscriber takes nothing and iteration is the backpressure.
 * - **Ack / nack.** `ack()` removes the message from the group (an ack from an older delivery whose
 *   lease expired still acks it, like Redis `XACK`). `nack()` makes it redeliverable now, or after
 *   `delayMs` on the transport's clock; a nack from a delivery that is no longer current is a no-op.
 * - **Leases.** A delivery not settled within the subscription's `ackTimeoutMs` is handed out
 *   again, even if its subscriber is still alive; when a subscription closes, its un-acked
 *   deliveries are redeliverable at once. `attempt` counts the deliveries of the message in the
 *   group (1, 2, 3, …).
 * - **Retention.** A topic keeps every message from the start until every existing group acked
 *   it; a group created by a later `subscribe` starts at the oldest message still retained (so a
 *   message published before any group exists is seen by the first group that subscribes). A
 *   group lives as long as the transport, like a Redis consumer group, and keeps holding what it
 *   has not acked. Retention is bounded by `maxMessagesPerTopic`.
 * - **Consumers.** Each subscription is its own consumer; `SubscribeOptions.consumer` is only a
 *   label (there is no per-name pending list to reclaim: closing is what releases).
 * - **Blocking.** An iteration with nothing to deliver waits on a promise (no polling) and ends
 *   promptly on `subscription.close()`, `transport.close()` or `signal` abort.
 * - **Close.** `close()` is idempotent; afterwards `publish` and `subscribe` reject with an
 *   `EventferryError` of code `CLOSED`, and acks/nacks are no-ops.
 *
 * Events are moved opaquely (the payload is never parsed); each published event is copied and
 * frozen, so neither side can change what the other sees. Per-message work is O(1).
 *
 * @example
 * const transport = createMemoryTransport();
 * const sub = await transport.subscribe("orders", { group: "billing", batchSize: 50 });
 * await transport.publish("orders", [{ id: "e-1", type: "order.created", payload: "{}" }]);
 * for await (const delivery of sub) {
 *   await handle(delivery.event);
 *   await delivery.ack();
 * }
 */
export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const problems: string[] = [];
  const clock = options.clock ?? systemClock;
  if (
    typeof clock !== "object" ||
    clock === null ||
    typeof clock.now !== "function" ||
    typeof clock.setTimeout !== "function" ||
    typeof clock.clearTimeout !== "function"
  ) {
    problems.push("clock must have now(), setTimeout() and clearTimeout()");
  }
  const maxMessagesPerTopic = options.maxMessagesPerTopic ?? memoryTransportDefaults.maxMessagesPerTopic;
  if (!Number.isSafeInteger(maxMessagesPerTopic) || maxMessagesPerTopic < 1) {
    problems.push(`maxMessagesPerTopic must be a positive integer, got ${String(maxMessagesPerTopic)}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }

  const broker = new MemoryBroker(clock, maxMessagesPerTopic);
  const subscriptions = new Set<MemorySubscription>();
  let consumerSeq = 0;

  const closedError = (operation: string): EventferryError =>
    new EventferryError("CLOSED", componentMessage(COMPONENT, `${operation} after close()`));

  const stats = (): MemoryTransportStats => {
    const perTopic: Record<string, MemoryTopicStats> = {};
    let retained = 0;
    let pending = 0;
    let inFlight = 0;
    let delayed = 0;
    let ready = 0;
    for (const topic of broker.topics.values()) {
      const groups: Record<string, MemoryGroupStats> = {};
      for (const group of topic.groups.values()) {
        const backlog = group.backlog;
        const groupPending = backlog + group.inFlightCount + group.delayedCount + group.readyCount;
        groups[group.name] = {
          backlog,
          inFlight: group.inFlightCount,
          delayed: group.delayedCount,
          ready: group.readyCount,
          pending: groupPending,
          subscribers: group.consumers.size,
        };
        pending += groupPending;
        inFlight += group.inFlightCount;
        delayed += group.delayedCount;
        ready += group.readyCount;
      }
      retained += topic.log.length;
      perTopic[topic.name] = { retained: topic.log.length, published: topic.published, groups };
    }
    return {
      topics: broker.topics.size,
      retained,
      pending,
      inFlight,
      delayed,
      ready,
      subscriptions: subscriptions.size,
      timers: broker.timerCount,
      perTopic,
    };
  };

  const transport: MemoryTransport = {
    name: "memory",
    features: memoryTransportFeatures,

    async publish(topicName: string, events: readonly EncodedEvent[], publishOptions?: PublishOptions) {
      if (broker.closed) throw closedError("publish");
      if (!isValidTopic(topicName)) throw invalidTopic(topicName);
      const signal = publishOptions?.signal;
      if (signal?.aborted) {
        throw new EventferryError("ABORTED", componentMessage(COMPONENT, "publish aborted"), {
          cause: signal.reason,
        });
      }
      if (!Array.isArray(events)) {
        throw new ValidationError(componentMessage(COMPONENT, "publish expects an array of events"));
      }
      if (events.length === 0) return;
      const copies = events.map(copyEvent);
      const topic = broker.topic(topicName);
      if (topic.log.length + copies.length > broker.maxMessagesPerTopic) {
        throw new PublishError(
          componentMessage(
            COMPONENT,
            `topic "${topicName}" retains ${topic.log.length} messages; ${copies.length} more would exceed maxMessagesPerTopic (${broker.maxMessagesPerTopic})`,
          ),
          {
            failedIds: copies.map((event) => event.id),
            details: {
              topic: topicName,
              retained: topic.log.length,
              maxMessagesPerTopic: broker.maxMessagesPerTopic,
            },
          },
        );
      }
      topic.append(copies);
    },

    async subscribe(topicName: string, subscribeOptions: SubscribeOptions): Promise<Subscription> {
      if (broker.closed) throw closedError("subscribe");
      const settings = validateSubscribe(topicName, subscribeOptions);
      const group = broker.topic(topicName).group(settings.group);
      const subscription = new MemorySubscription({
        group,
        consumerName: settings.consumer ?? `memory-${++consumerSeq}`,
        batchSize: settings.batchSize,
        ackTimeoutMs: settings.ackTimeoutMs,
        signal: subscribeOptions.signal,
        onClose: (closed) => subscriptions.delete(closed),
      });
      if (!subscription.closed) subscriptions.add(subscription);
      return subscription;
    },

    async close() {
      if (broker.closed) return;
      for (const subscription of [...subscriptions]) await subscription.close();
      broker.close();
    },

    async health(): Promise<HealthReport> {
      const details: Record<string, unknown> = { ...stats() };
      return broker.closed
        ? { status: "unhealthy", component: COMPONENT, reasons: ["closed"], details }
        : { status: "healthy", component: COMPONENT, reasons: [], details };
    },

    stats,
  };
  return transport;
}

function invalidTopic(topic: string): ConfigError {
  return new ConfigError(
    componentMessage(COMPONENT, `invalid topic "${topic}": use dot-separated segments of [A-Za-z0-9_-]`),
  );
}

interface SubscribeSettings {
  group: string;
  consumer: string | undefined;
  batchSize: number;
  ackTimeoutMs: number;
}

function validateSubscribe(topic: string, options: SubscribeOptions): SubscribeSettings {
  const problems: string[] = [];
  if (!isValidTopic(topic))
    problems.push(`invalid topic "${topic}": use dot-separated segments of [A-Za-z0-9_-]`);
  const group = options?.group;
  if (typeof group !== "string" || group.length === 0 || group.length > 200) {
    problems.push("group must be a non-empty string of at most 200 characters");
  }
  const consumer = options?.consumer;
  if (consumer !== undefined && (typeof consumer !== "string" || consumer.length === 0)) {
    problems.push("consumer must be a non-empty string");
  }
  const batchSize = options?.batchSize ?? memoryTransportDefaults.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    problems.push(`batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  const ackTimeoutMs = options?.ackTimeoutMs ?? memoryTransportDefaults.ackTimeoutMs;
  if (typeof ackTimeoutMs !== "number" || !Number.isFinite(ackTimeoutMs) || ackTimeoutMs <= 0) {
    problems.push(`ackTimeoutMs must be a positive number, got ${String(ackTimeoutMs)}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid subscribe options: ${problems.join("; ")}`), {
      problems,
    });
  }
  return { group, consumer, batchSize, ackTimeoutMs };
}

/** A frozen copy, so a publisher mutating its objects later cannot change what was published. */
function copyEvent(event: EncodedEvent): EncodedEvent {
  if (
    typeof event !== "object" ||
    event === null ||
    typeof event.id !== "string" ||
    typeof event.type !== "string" ||
    (typeof event.payload !== "string" && (typeof event.payload !== "object" || event.payload === null))
  ) {
    throw new ValidationError(
      componentMessage(
        COMPONENT,
        "every event needs a string id, a string type and a string or object payload",
      ),
    );
  }
  const payload = typeof event.payload === "string" ? event.payload : Object.freeze({ ...event.payload });
  return Object.freeze(
    event.key === undefined
      ? { id: event.id, type: event.type, payload }
      : { id: event.id, type: event.type, key: event.key, payload },
  );
}
