import { ConfigError, type Store } from "eventferry";
import { createMemoryShopRepository, isMemoryStore } from "./memory-shop-repository.js";
import { createPostgresShopRepository } from "./postgres-shop-repository.js";
import { createSqliteShopRepository } from "./sqlite-shop-repository.js";

/** An order as the shop keeps it. */
export interface Order {
  readonly id: string;
  readonly customerId: string;
  readonly email: string;
  readonly phone?: string | undefined;
  readonly items: readonly { sku: string; quantity: number; unitPrice: number }[];
  readonly total: number;
  readonly currency: string;
  readonly createdAt: string;
}

/** A user account. */
export interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly status: "active" | "deleted";
  readonly createdAt: string;
}

/** A subscription with its renewal date. */
export interface Subscription {
  readonly id: string;
  readonly customerId: string;
  readonly email: string;
  readonly plan: string;
  readonly renewsAt: string;
  readonly createdAt: string;
}

export type Channel = "email" | "sms" | "webhook";

/** What a (simulated) notification provider sent. */
export interface Notification {
  /** `${eventId}:${channel}`: one notification per event and channel. */
  readonly id: string;
  readonly channel: Channel;
  readonly recipient: string;
  readonly subject: string;
  readonly body: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly sentAt: string;
}

/** The customer-stats read model. */
export interface CustomerStats {
  readonly customerId: string;
  readonly orders: number;
  readonly totalSpent: number;
  readonly failedPayments: number;
  readonly lastOrderAt: string | null;
}

export interface Alert {
  readonly id: string;
  readonly severity: "warning" | "critical";
  readonly message: string;
  readonly eventId: string;
  readonly createdAt: string;
}

/** One handled event, as the audit handler records it. */
export interface AuditEntry {
  readonly eventId: string;
  readonly type: string;
  readonly key: string | null;
  readonly occurredAt: string;
  readonly handledAt: string;
}

/**
 * Writes of the shop, inside a store transaction (`tx.client` in `store.transaction`, `ctx.tx` in
 * a handler): they commit or roll back with it. Inserts are idempotent by id and report whether
 * the row was new.
 */
export interface ShopWriter {
  insertOrder(order: Order): Promise<boolean>;
  insertUser(user: User): Promise<boolean>;
  /** Marks a user deleted; false when there is no such active user. */
  markUserDeleted(userId: string): Promise<boolean>;
  insertSubscription(subscription: Subscription): Promise<boolean>;
  insertNotification(notification: Notification): Promise<boolean>;
  /** Counts an order into its customer's stats. */
  addOrderToStats(params: { customerId: string; total: number; at: string }): Promise<void>;
  /** Counts a failed payment into its customer's stats. */
  addFailedPaymentToStats(params: { customerId: string }): Promise<void>;
  insertAlert(alert: Alert): Promise<boolean>;
  insertAudit(entry: AuditEntry): Promise<boolean>;
}

/** Reads of the shop, outside any handler. Lists are newest first. */
export interface ShopReader {
  getOrder(id: string): Promise<Order | undefined>;
  getUser(id: string): Promise<User | undefined>;
  getSubscription(id: string): Promise<Subscription | undefined>;
  getCustomerStats(customerId: string): Promise<CustomerStats | undefined>;
  listNotifications(query: { channel?: Channel | undefined; limit: number }): Promise<Notification[]>;
  listAlerts(query: { limit: number }): Promise<Alert[]>;
  listAudit(query: { limit: number }): Promise<AuditEntry[]>;
}

/**
 * The shop's data over the store's own client, so that business writes and events commit in one
 * transaction. One implementation per store kind.
 */
export interface ShopRepository {
  /** The store kind it works with (`sqlite`, `postgres`, `memory`). */
  readonly kind: string;
  /** Creates the shop's tables (idempotent). */
  migrate(): Promise<void>;
  /** The writer over a transaction client of the store. */
  writer(client: unknown): ShopWriter;
  readonly reader: ShopReader;
}

/**
 * Picks the repository for a store by its `name`. Throws a `ConfigError` for a store the demo has
 * no repository for.
 */
export function createShopRepository(store: Store): ShopRepository {
  if (store.name === "sqlite") return createSqliteShopRepository(store);
  if (store.name === "postgres") return createPostgresShopRepository(store);
  if (store.name === "memory" && isMemoryStore(store)) return createMemoryShopRepository(store);
  const problem = `the demo keeps its shop tables in SQLite, PostgreSQL or memory; store "${store.name}" has no shop repository (use EVENTFERRY_STORE=sqlite:./.eventferry/demo.db, postgres://… or memory:)`;
  throw new ConfigError(`[demo] ${problem}`, { problems: [problem] });
}
