import type { Database } from "better-sqlite3";
import type { Store } from "eventferry";
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
  User,
} from "./shop-repository.js";

/** The shop's tables, next to the store's own in the same database file. */
export const sqliteShopSchema = `
create table if not exists demo_orders (
  id text primary key,
  customer_id text not null,
  email text not null,
  phone text,
  items text not null,
  total real not null,
  currency text not null,
  created_at text not null
);
create index if not exists demo_orders_customer on demo_orders (customer_id);
create table if not exists demo_users (
  id text primary key,
  email text not null,
  name text not null,
  status text not null,
  created_at text not null
);
create table if not exists demo_subscriptions (
  id text primary key,
  customer_id text not null,
  email text not null,
  plan text not null,
  renews_at text not null,
  created_at text not null
);
create table if not exists demo_notifications (
  seq integer primary key autoincrement,
  id text not null unique,
  channel text not null,
  recipient text not null,
  subject text not null,
  body text not null,
  event_id text not null,
  event_type text not null,
  sent_at text not null
);
create table if not exists demo_customer_stats (
  customer_id text primary key,
  orders integer not null default 0,
  total_spent real not null default 0,
  failed_payments integer not null default 0,
  last_order_at text
);
create table if not exists demo_alerts (
  seq integer primary key autoincrement,
  id text not null unique,
  severity text not null,
  message text not null,
  event_id text not null,
  created_at text not null
);
create table if not exists demo_audit_log (
  seq integer primary key autoincrement,
  event_id text not null unique,
  type text not null,
  key text,
  occurred_at text not null,
  handled_at text not null
);
`;

type Row = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toOrder(r: Row): Order {
  return {
    id: str(r.id),
    customerId: str(r.customer_id),
    email: str(r.email),
    ...(r.phone == null ? {} : { phone: str(r.phone) }),
    items: JSON.parse(str(r.items)) as Order["items"],
    total: Number(r.total),
    currency: str(r.currency),
    createdAt: str(r.created_at),
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
    sentAt: str(r.sent_at),
  };
}

/**
 * The shop in SQLite tables (`demo_*`), written through the store's better-sqlite3 `Database`
 * (`tx.client`), so business rows, outbox rows and inbox completions commit together.
 */
export function createSqliteShopRepository(store: Store): ShopRepository {
  /** Reads run in a store transaction too: the store owns the connection. */
  const read = <T>(fn: (db: Database) => T): Promise<T> =>
    store.transaction(async (tx) => fn(tx.client as Database));

  const writer = (client: unknown): ShopWriter => {
    const db = client as Database;
    const run = (sql: string, ...params: unknown[]): boolean => db.prepare(sql).run(...params).changes > 0;
    return {
      insertOrder: async (o: Order) =>
        run(
          "insert or ignore into demo_orders (id, customer_id, email, phone, items, total, currency, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
          o.id,
          o.customerId,
          o.email,
          o.phone ?? null,
          JSON.stringify(o.items),
          o.total,
          o.currency,
          o.createdAt,
        ),
      insertUser: async (u: User) =>
        run(
          "insert or ignore into demo_users (id, email, name, status, created_at) values (?, ?, ?, ?, ?)",
          u.id,
          u.email,
          u.name,
          u.status,
          u.createdAt,
        ),
      markUserDeleted: async (userId) =>
        run("update demo_users set status = 'deleted' where id = ? and status = 'active'", userId),
      insertSubscription: async (s) =>
        run(
          "insert or ignore into demo_subscriptions (id, customer_id, email, plan, renews_at, created_at) values (?, ?, ?, ?, ?, ?)",
          s.id,
          s.customerId,
          s.email,
          s.plan,
          s.renewsAt,
          s.createdAt,
        ),
      insertNotification: async (n) =>
        run(
          "insert or ignore into demo_notifications (id, channel, recipient, subject, body, event_id, event_type, sent_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
          n.id,
          n.channel,
          n.recipient,
          n.subject,
          n.body,
          n.eventId,
          n.eventType,
          n.sentAt,
        ),
      async addOrderToStats({ customerId, total, at }) {
        run(
          `insert into demo_customer_stats (customer_id, orders, total_spent, last_order_at) values (?, 1, ?, ?)
           on conflict (customer_id) do update set orders = orders + 1, total_spent = total_spent + excluded.total_spent,
             last_order_at = max(coalesce(last_order_at, ''), excluded.last_order_at)`,
          customerId,
          total,
          at,
        );
      },
      async addFailedPaymentToStats({ customerId }) {
        run(
          `insert into demo_customer_stats (customer_id, failed_payments) values (?, 1)
           on conflict (customer_id) do update set failed_payments = failed_payments + 1`,
          customerId,
        );
      },
      insertAlert: async (a: Alert) =>
        run(
          "insert or ignore into demo_alerts (id, severity, message, event_id, created_at) values (?, ?, ?, ?, ?)",
          a.id,
          a.severity,
          a.message,
          a.eventId,
          a.createdAt,
        ),
      insertAudit: async (e: AuditEntry) =>
        run(
          "insert or ignore into demo_audit_log (event_id, type, key, occurred_at, handled_at) values (?, ?, ?, ?, ?)",
          e.eventId,
          e.type,
          e.key,
          e.occurredAt,
          e.handledAt,
        ),
    };
  };

  const reader: ShopReader = {
    getOrder: (id) =>
      read((db) => {
        const row = db.prepare("select * from demo_orders where id = ?").get(id) as Row | undefined;
        return row && toOrder(row);
      }),
    getUser: (id) =>
      read((db) => {
        const r = db.prepare("select * from demo_users where id = ?").get(id) as Row | undefined;
        return (
          r && {
            id: str(r.id),
            email: str(r.email),
            name: str(r.name),
            status: str(r.status) as User["status"],
            createdAt: str(r.created_at),
          }
        );
      }),
    getSubscription: (id) =>
      read((db) => {
        const r = db.prepare("select * from demo_subscriptions where id = ?").get(id) as Row | undefined;
        return (
          r && {
            id: str(r.id),
            customerId: str(r.customer_id),
            email: str(r.email),
            plan: str(r.plan),
            renewsAt: str(r.renews_at),
            createdAt: str(r.created_at),
          }
        );
      }),
    getCustomerStats: (customerId) =>
      read((db): CustomerStats | undefined => {
        const r = db.prepare("select * from demo_customer_stats where customer_id = ?").get(customerId) as
          | Row
          | undefined;
        return (
          r && {
            customerId: str(r.customer_id),
            orders: Number(r.orders),
            totalSpent: Number(r.total_spent),
            failedPayments: Number(r.failed_payments),
            lastOrderAt: optStr(r.last_order_at),
          }
        );
      }),
    listNotifications: ({ channel, limit }) =>
      read((db) => {
        const rows = (
          channel === undefined
            ? db.prepare("select * from demo_notifications order by seq desc limit ?").all(limit)
            : db
                .prepare("select * from demo_notifications where channel = ? order by seq desc limit ?")
                .all(channel, limit)
        ) as Row[];
        return rows.map(toNotification);
      }),
    listAlerts: ({ limit }) =>
      read((db) =>
        (db.prepare("select * from demo_alerts order by seq desc limit ?").all(limit) as Row[]).map((r) => ({
          id: str(r.id),
          severity: str(r.severity) as Alert["severity"],
          message: str(r.message),
          eventId: str(r.event_id),
          createdAt: str(r.created_at),
        })),
      ),
    listAudit: ({ limit }) =>
      read((db) =>
        (db.prepare("select * from demo_audit_log order by seq desc limit ?").all(limit) as Row[]).map(
          (r) => ({
            eventId: str(r.event_id),
            type: str(r.type),
            key: optStr(r.key),
            occurredAt: str(r.occurred_at),
            handledAt: str(r.handled_at),
          }),
        ),
      ),
  };

  return {
    kind: "sqlite",
    migrate: () =>
      store.transaction(async (tx) => {
        (tx.client as Database).exec(sqliteShopSchema);
      }),
    writer,
    reader,
  };
}
