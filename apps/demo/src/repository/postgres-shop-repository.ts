import { ConfigError, type Store } from "eventferry";
import type {
  Alert,
  AuditEntry,
  Channel,
  CustomerStats,
  Notification,
  Order,
  ShopReader,
  ShopRepository,
  ShopWriter,
  Subscription,
  User,
} from "./shop-repository.js";

type Row = Record<string, unknown>;

/**
 * The part of a `pg` client (a `PoolClient` in a transaction, or the `Pool`) the repository uses.
 * Structural, so the demo needs no `@types/pg`.
 */
export interface PgQueryable {
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
}

/** What the repository reads from the PostgreSQL store (`@eventferry/store-postgres`). */
interface PostgresStoreLike {
  readonly schema?: unknown;
  readonly pool?: unknown;
}

/** The schema the demo's tables go to when the store does not name one (the store's own default). */
export const defaultPostgresShopSchema = "eventferry";

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The shop's tables (`demo_*`) in `schema`, next to the store's own, so that one transaction covers
 * a business row and its outbox entry. Every statement is idempotent.
 */
export function postgresShopSchema(schema: string): string {
  const s = `"${schema}"`;
  return `
create schema if not exists ${s};
create table if not exists ${s}.demo_orders (
  id text primary key,
  customer_id text not null,
  email text not null,
  phone text,
  items jsonb not null,
  total numeric(14, 2) not null,
  currency text not null,
  created_at timestamptz not null
);
create index if not exists demo_orders_customer on ${s}.demo_orders (customer_id);
create table if not exists ${s}.demo_users (
  id text primary key,
  email text not null,
  name text not null,
  status text not null,
  created_at timestamptz not null
);
create table if not exists ${s}.demo_subscriptions (
  id text primary key,
  customer_id text not null,
  email text not null,
  plan text not null,
  renews_at timestamptz not null,
  created_at timestamptz not null
);
create table if not exists ${s}.demo_notifications (
  seq bigint generated always as identity primary key,
  id text not null unique,
  channel text not null,
  recipient text not null,
  subject text not null,
  body text not null,
  event_id text not null,
  event_type text not null,
  sent_at timestamptz not null
);
create index if not exists demo_notifications_channel on ${s}.demo_notifications (channel, seq);
create table if not exists ${s}.demo_customer_stats (
  customer_id text primary key,
  orders integer not null default 0,
  total_spent numeric(16, 2) not null default 0,
  failed_payments integer not null default 0,
  last_order_at timestamptz
);
create table if not exists ${s}.demo_alerts (
  seq bigint generated always as identity primary key,
  id text not null unique,
  severity text not null,
  message text not null,
  event_id text not null,
  created_at timestamptz not null
);
create table if not exists ${s}.demo_audit_log (
  seq bigint generated always as identity primary key,
  event_id text not null unique,
  type text not null,
  key text,
  occurred_at timestamptz not null,
  handled_at timestamptz not null
);
`;
}

const str = (v: unknown): string => String(v);
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const optIso = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));

function toOrder(r: Row): Order {
  return {
    id: str(r.id),
    customerId: str(r.customer_id),
    email: str(r.email),
    ...(r.phone == null ? {} : { phone: str(r.phone) }),
    items: r.items as Order["items"],
    total: Number(r.total),
    currency: str(r.currency),
    createdAt: iso(r.created_at),
  };
}

function toNotification(r: Row): Notification {
  return {
    id: str(r.id),
    channel: str(r.channel) as Channel,
    recipient: str(r.recipient),
    subject: str(r.subject),
    body: str(r.body),
    eventId: str(r.event_id),
    eventType: str(r.event_type),
    sentAt: iso(r.sent_at),
  };
}

/**
 * The shop in PostgreSQL tables (`demo_*`) in the store's schema (the `schema` query of
 * `EVENTFERRY_STORE`, else `eventferry`). Writes go through the store's transaction client
 * (`tx.client`, a `pg` `PoolClient`), so business rows, outbox rows and inbox completions commit
 * together; reads use the store's pool.
 */
export function createPostgresShopRepository(store: Store): ShopRepository {
  const raw = store as Store & PostgresStoreLike;
  const schema = typeof raw.schema === "string" ? raw.schema : defaultPostgresShopSchema;
  if (!IDENTIFIER.test(schema)) {
    const problem = `the PostgreSQL schema "${schema}" must be lower-case letters, digits and _`;
    throw new ConfigError(`[demo] ${problem}`, { problems: [problem] });
  }
  const pool = raw.pool as PgQueryable | undefined;
  const t = (name: string) => `"${schema}".demo_${name}`;
  /** Reads use the pool when the store exposes it, else a store transaction. */
  const read = async (sql: string, params: readonly unknown[]): Promise<Row[]> => {
    if (pool && typeof pool.query === "function") return (await pool.query(sql, params)).rows;
    return store.transaction(async (tx) => (await (tx.client as PgQueryable).query(sql, params)).rows);
  };

  const writer = (client: unknown): ShopWriter => {
    const db = client as PgQueryable;
    const run = async (sql: string, params: readonly unknown[]): Promise<boolean> =>
      ((await db.query(sql, params)).rowCount ?? 0) > 0;
    return {
      insertOrder: (o: Order) =>
        run(
          `insert into ${t("orders")} (id, customer_id, email, phone, items, total, currency, created_at)
           values ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) on conflict (id) do nothing`,
          [
            o.id,
            o.customerId,
            o.email,
            o.phone ?? null,
            JSON.stringify(o.items),
            o.total,
            o.currency,
            o.createdAt,
          ],
        ),
      insertUser: (u: User) =>
        run(
          `insert into ${t("users")} (id, email, name, status, created_at) values ($1, $2, $3, $4, $5)
           on conflict (id) do nothing`,
          [u.id, u.email, u.name, u.status, u.createdAt],
        ),
      markUserDeleted: (userId) =>
        run(`update ${t("users")} set status = 'deleted' where id = $1 and status = 'active'`, [userId]),
      insertSubscription: (s: Subscription) =>
        run(
          `insert into ${t("subscriptions")} (id, customer_id, email, plan, renews_at, created_at)
           values ($1, $2, $3, $4, $5, $6) on conflict (id) do nothing`,
          [s.id, s.customerId, s.email, s.plan, s.renewsAt, s.createdAt],
        ),
      insertNotification: (n: Notification) =>
        run(
          `insert into ${t("notifications")} (id, channel, recipient, subject, body, event_id, event_type, sent_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (id) do nothing`,
          [n.id, n.channel, n.recipient, n.subject, n.body, n.eventId, n.eventType, n.sentAt],
        ),
      async addOrderToStats({ customerId, total, at }) {
        await run(
          `insert into ${t("customer_stats")} as s (customer_id, orders, total_spent, last_order_at)
           values ($1, 1, $2, $3)
           on conflict (customer_id) do update set orders = s.orders + 1,
             total_spent = s.total_spent + excluded.total_spent,
             last_order_at = greatest(s.last_order_at, excluded.last_order_at)`,
          [customerId, total, at],
        );
      },
      async addFailedPaymentToStats({ customerId }) {
        await run(
          `insert into ${t("customer_stats")} as s (customer_id, failed_payments) values ($1, 1)
           on conflict (customer_id) do update set failed_payments = s.failed_payments + 1`,
          [customerId],
        );
      },
      insertAlert: (a: Alert) =>
        run(
          `insert into ${t("alerts")} (id, severity, message, event_id, created_at) values ($1, $2, $3, $4, $5)
           on conflict (id) do nothing`,
          [a.id, a.severity, a.message, a.eventId, a.createdAt],
        ),
      insertAudit: (e: AuditEntry) =>
        run(
          `insert into ${t("audit_log")} (event_id, type, key, occurred_at, handled_at) values ($1, $2, $3, $4, $5)
           on conflict (event_id) do nothing`,
          [e.eventId, e.type, e.key, e.occurredAt, e.handledAt],
        ),
    };
  };

  const one = async (sql: string, params: readonly unknown[]): Promise<Row | undefined> =>
    (await read(sql, params))[0];

  const reader: ShopReader = {
    async getOrder(id) {
      const r = await one(`select * from ${t("orders")} where id = $1`, [id]);
      return r && toOrder(r);
    },
    async getUser(id) {
      const r = await one(`select * from ${t("users")} where id = $1`, [id]);
      return (
        r && {
          id: str(r.id),
          email: str(r.email),
          name: str(r.name),
          status: str(r.status) as User["status"],
          createdAt: iso(r.created_at),
        }
      );
    },
    async getSubscription(id) {
      const r = await one(`select * from ${t("subscriptions")} where id = $1`, [id]);
      return (
        r && {
          id: str(r.id),
          customerId: str(r.customer_id),
          email: str(r.email),
          plan: str(r.plan),
          renewsAt: iso(r.renews_at),
          createdAt: iso(r.created_at),
        }
      );
    },
    async getCustomerStats(customerId): Promise<CustomerStats | undefined> {
      const r = await one(`select * from ${t("customer_stats")} where customer_id = $1`, [customerId]);
      return (
        r && {
          customerId: str(r.customer_id),
          orders: Number(r.orders),
          totalSpent: Number(r.total_spent),
          failedPayments: Number(r.failed_payments),
          lastOrderAt: optIso(r.last_order_at),
        }
      );
    },
    async listNotifications({ channel, limit }) {
      const rows =
        channel === undefined
          ? await read(`select * from ${t("notifications")} order by seq desc limit $1`, [limit])
          : await read(`select * from ${t("notifications")} where channel = $1 order by seq desc limit $2`, [
              channel,
              limit,
            ]);
      return rows.map(toNotification);
    },
    async listAlerts({ limit }) {
      const rows = await read(`select * from ${t("alerts")} order by seq desc limit $1`, [limit]);
      return rows.map((r) => ({
        id: str(r.id),
        severity: str(r.severity) as Alert["severity"],
        message: str(r.message),
        eventId: str(r.event_id),
        createdAt: iso(r.created_at),
      }));
    },
    async listAudit({ limit }) {
      const rows = await read(`select * from ${t("audit_log")} order by seq desc limit $1`, [limit]);
      return rows.map((r) => ({
        eventId: str(r.event_id),
        type: str(r.type),
        key: r.key == null ? null : str(r.key),
        occurredAt: iso(r.occurred_at),
        handledAt: iso(r.handled_at),
      }));
    },
  };

  return {
    kind: "postgres",
    migrate: () =>
      store.transaction(async (tx) => {
        const db = tx.client as PgQueryable;
        // Two demos starting at once on one schema: one creates, the other waits and finds it done.
        await db.query("select pg_advisory_xact_lock(hashtext($1))", [`eventferry-demo:${schema}`]);
        await db.query(postgresShopSchema(schema));
      }),
    writer,
    reader,
  };
}
