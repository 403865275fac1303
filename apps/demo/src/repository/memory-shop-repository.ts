import type { createMemoryStore, MemoryTx, Store } from "eventferry";
import type {
  Alert,
  AuditEntry,
  CustomerStats,
  Notification,
  Order,
  ShopReader,
  ShopRepository,
  ShopWriter,
  Subscription,
  User,
} from "./shop-repository.js";

type MemoryStore = ReturnType<typeof createMemoryStore>;

/** True for the memory store (it has the committed key-value view `kv`). */
export function isMemoryStore(store: Store): store is MemoryStore {
  return store.name === "memory" && typeof (store as Partial<MemoryStore>).kv?.entries === "function";
}

interface OrderStats {
  orders: number;
  totalSpent: number;
  lastOrderAt: string | null;
}

/**
 * The shop in the memory store's key-value data. Each read-modify-write key has one writer
 * (one handler whose events are keyed by customer), so handlers never race on a key.
 */
export function createMemoryShopRepository(store: MemoryStore): ShopRepository {
  const insert = (tx: MemoryTx, key: string, value: unknown): boolean => {
    if (tx.has(key)) return false;
    tx.set(key, value);
    return true;
  };
  const list = <T>(prefix: string, limit: number, filter: (value: T) => boolean = () => true): T[] =>
    store.kv
      .entries()
      .filter(([key]) => key.startsWith(prefix))
      .map(([, value]) => value as T)
      .filter(filter)
      .reverse()
      .slice(0, limit);

  const writer = (client: unknown): ShopWriter => {
    const tx = client as MemoryTx;
    return {
      insertOrder: async (order: Order) => insert(tx, `order:${order.id}`, order),
      insertUser: async (user: User) => insert(tx, `user:${user.id}`, user),
      async markUserDeleted(userId) {
        const user = tx.get<User>(`user:${userId}`);
        if (!user || user.status === "deleted") return false;
        tx.set(`user:${userId}`, { ...user, status: "deleted" });
        return true;
      },
      insertSubscription: async (s: Subscription) => insert(tx, `subscription:${s.id}`, s),
      insertNotification: async (n: Notification) => insert(tx, `notification:${n.id}`, n),
      async addOrderToStats({ customerId, total, at }) {
        const key = `stats-orders:${customerId}`;
        const s = tx.get<OrderStats>(key) ?? { orders: 0, totalSpent: 0, lastOrderAt: null };
        tx.set(key, {
          orders: s.orders + 1,
          totalSpent: s.totalSpent + total,
          lastOrderAt: s.lastOrderAt && s.lastOrderAt > at ? s.lastOrderAt : at,
        });
      },
      async addFailedPaymentToStats({ customerId }) {
        const key = `stats-payments:${customerId}`;
        tx.set(key, (tx.get<number>(key) ?? 0) + 1);
      },
      insertAlert: async (a: Alert) => insert(tx, `alert:${a.id}`, a),
      insertAudit: async (e: AuditEntry) => insert(tx, `audit:${e.eventId}`, e),
    };
  };

  const reader: ShopReader = {
    getOrder: async (id) => store.kv.get<Order>(`order:${id}`),
    getUser: async (id) => store.kv.get<User>(`user:${id}`),
    getSubscription: async (id) => store.kv.get<Subscription>(`subscription:${id}`),
    async getCustomerStats(customerId): Promise<CustomerStats | undefined> {
      const orders = store.kv.get<OrderStats>(`stats-orders:${customerId}`);
      const failed = store.kv.get<number>(`stats-payments:${customerId}`);
      if (!orders && failed === undefined) return undefined;
      return {
        customerId,
        orders: orders?.orders ?? 0,
        totalSpent: orders?.totalSpent ?? 0,
        failedPayments: failed ?? 0,
        lastOrderAt: orders?.lastOrderAt ?? null,
      };
    },
    listNotifications: async ({ channel, limit }) =>
      list<Notification>("notification:", limit, (n) => channel === undefined || n.channel === channel),
    listAlerts: async ({ limit }) => list<Alert>("alert:", limit),
    listAudit: async ({ limit }) => list<AuditEntry>("audit:", limit),
  };

  return { kind: "memory", migrate: async () => {}, writer, reader };
}
