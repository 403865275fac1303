import {
  ConfigError,
  componentMessage,
  type EncodedEvent,
  EventferryError,
  type HealthReport,
  isEventferryError,
  isValidTopic,
  PublishError,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportFeatures,
  ValidationError,
} from "@eventferry/core";
import type { Store } from "@eventferry/store";
import { sqliteInternals } from "./internal/store-internals.js";
import { StoreSubscription } from "./internal/store-subscription.js";

const COMPONENT = "transport-store";

/**
 * What the `store:` transport on SQLite can do: every feature of the contract.
 *
 * @example
 * sqliteStoreTransportFeatures.delayedNack; // true
 */
export const sqliteStoreTransportFeatures: TransportFeatures = Object.freeze({
  consumerGroups: true,
  persistent: true,
  delayedNack: true,
  redeliversUnacked: true,
  orderedPerTopic: true,
});

/**
 * Options of {@link createStoreTransport}: how idle subscriptions poll for messages published by
 * other processes.
 *
 * @example
 * createStoreTransport(store, { minPollMs: 10, maxPollMs: 250 });
 */
export interface SqliteStoreTransportOptions {
  /**
   * Shortest wait between polls of an idle subscription. Publishes in this process wake
   * subscribers at once; polls find what other processes published.
   * @default 20
   */
  minPollMs?: number;
  /** Longest wait between polls of an idle subscription (the interval doubles up to it). @default 500 */
  maxPollMs?: number;
}

/**
 * Defaults of {@link createStoreTransport} (and of `batchSize`/`ackTimeoutMs` in `subscribe`).
 *
 * @example
 * sqliteStoreTransportDefaults.maxPollMs; // 500
 */
export const sqliteStoreTransportDefaults = Object.freeze({
  minPollMs: 20,
  maxPollMs: 500,
  batchSize: 100,
  ackTimeoutMs: 30_000,
});

/**
 * The `store:` transport on a SQLite store: the database is the queue. `publish` writes one row
 * per subscribed group of the topic in one transaction (a topic without groups drops the
 * message, as pub/sub does); subscribers claim rows in publish order with a lease of
 * `ackTimeoutMs`, `ack` deletes the row, `nack` makes it due again after `delayMs`. A single
 * service, or several processes on one host sharing the file, need no broker. Groups are durable:
 * messages wait for a group whose subscribers are gone until one comes back.
 *
 * Closing the transport closes its subscriptions, not the store (the caller owns the store).
 * Publishes made inside a store transaction join it (they commit or roll back with it).
 *
 * @example
 * const store = createSqliteStore({ path: "./data/events.db" });
 * await store.migrate();
 * const transport = createStoreTransport(store);
 */
export function createStoreTransport(store: Store, options: SqliteStoreTransportOptions = {}): Transport {
  const ctx = sqliteInternals(store);
  const problems: string[] = [];
  if (!ctx) problems.push("store must be a store made by createSqliteStore");
  const minPollMs = options.minPollMs ?? sqliteStoreTransportDefaults.minPollMs;
  const maxPollMs = options.maxPollMs ?? sqliteStoreTransportDefaults.maxPollMs;
  if (!(Number.isFinite(minPollMs) && minPollMs > 0))
    problems.push(`minPollMs must be > 0, got ${String(minPollMs)}`);
  if (!(Number.isFinite(maxPollMs) && maxPollMs >= minPollMs)) {
    problems.push(`maxPollMs must be >= minPollMs, got ${String(maxPollMs)}`);
  }
  if (problems.length > 0 || !ctx) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }
  const subscriptions = new Set<StoreSubscription>();
  let closed = false;
  const closedError = (): EventferryError =>
    new EventferryError("CLOSED", componentMessage(COMPONENT, "the transport is closed"));
  const groups = ctx.t("transport_groups");
  const messages = ctx.t("transport_messages");

  return {
    name: "store",
    features: sqliteStoreTransportFeatures,

    async publish(topic: string, events: readonly EncodedEvent[], _options?: PublishOptions): Promise<void> {
      if (closed || ctx.closed) throw closedError();
      if (typeof topic !== "string" || !isValidTopic(topic)) {
        throw new ValidationError(componentMessage(COMPONENT, `invalid topic ${JSON.stringify(topic)}`));
      }
      if (events.length === 0) return;
      try {
        await ctx.write("publish", () => {
          const now = ctx.nowMs();
          const names = (
            ctx.stmt(`SELECT grp FROM ${groups} WHERE topic = ?`).all(topic) as Array<{ grp: string }>
          ).map((r) => r.grp);
          if (names.length === 0) return;
          const insert = ctx.stmt(
            `INSERT INTO ${messages} (topic, grp, event_id, type, key, payload, payload_is_map, due_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          );
          for (const event of events) {
            const isMap = typeof event.payload !== "string";
            const payload = isMap ? JSON.stringify(event.payload) : (event.payload as string);
            for (const grp of names) {
              insert.run(
                topic,
                grp,
                String(event.id),
                String(event.type ?? ""),
                event.key ?? null,
                payload,
                isMap ? 1 : 0,
                now,
              );
            }
          }
        });
      } catch (error) {
        if (isEventferryError(error) && error.code === "CLOSED") throw error;
        throw new PublishError(
          componentMessage(
            COMPONENT,
            `publish to ${topic} failed: ${error instanceof Error ? error.message : String(error)}`,
          ),
          { cause: error, details: { ids: events.map((e) => e.id) } },
        );
      }
      ctx.changed();
    },

    async subscribe(topic: string, o: SubscribeOptions): Promise<Subscription> {
      if (closed || ctx.closed) throw closedError();
      if (typeof topic !== "string" || !isValidTopic(topic)) {
        throw new ValidationError(componentMessage(COMPONENT, `invalid topic ${JSON.stringify(topic)}`));
      }
      if (typeof o?.group !== "string" || o.group === "") {
        throw new ValidationError(componentMessage(COMPONENT, "subscribe needs a group"));
      }
      const batchSize = o.batchSize ?? sqliteStoreTransportDefaults.batchSize;
      const ackTimeoutMs = o.ackTimeoutMs ?? sqliteStoreTransportDefaults.ackTimeoutMs;
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new ValidationError(
          componentMessage(COMPONENT, `batchSize must be an integer >= 1, got ${batchSize}`),
        );
      }
      if (!Number.isFinite(ackTimeoutMs) || ackTimeoutMs <= 0) {
        throw new ValidationError(
          componentMessage(COMPONENT, `ackTimeoutMs must be > 0, got ${ackTimeoutMs}`),
        );
      }
      await ctx.write("subscribe", () => {
        ctx
          .stmt(`INSERT INTO ${groups} (topic, grp, created_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
          .run(topic, o.group, ctx.nowMs());
      });
      const subscription = new StoreSubscription({
        ctx,
        topic,
        group: o.group,
        batchSize,
        ackTimeoutMs: Math.ceil(ackTimeoutMs),
        minPollMs,
        maxPollMs,
        signal: o.signal,
        onClose: (s) => subscriptions.delete(s),
      });
      subscriptions.add(subscription);
      return subscription;
    },

    async health(): Promise<HealthReport> {
      if (closed) return { status: "unhealthy", component: COMPONENT, reasons: ["the transport is closed"] };
      const report = await store.health();
      return { ...report, component: COMPONENT };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
    },
  };
}
