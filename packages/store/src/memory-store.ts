import { ConfigError, componentMessage, type HealthReport, ValidationError } from "@eventferry/core";
import { MemoryBatches } from "./internal/memory-batches.js";
import { MEMORY_COMPONENT, MemoryContext, type MemoryStoreClock } from "./internal/memory-context.js";
import { MemoryDeadLetters } from "./internal/memory-dead-letters.js";
import { MemoryInbox } from "./internal/memory-inbox.js";
import { registerMemoryInternals } from "./internal/memory-internals.js";
import { MemoryLog } from "./internal/memory-log.js";
import { MemoryOutbox } from "./internal/memory-outbox.js";
import { MemorySchemas } from "./internal/memory-schemas.js";
import { MemoryTransaction } from "./internal/memory-transaction.js";
import type { Store, StoreTx } from "./store.js";

export type { MemoryStoreClock };

/**
 * The transaction client of the memory store (`ctx.tx` in a handler, `tx.client` in
 * `store.transaction`): a small key-value API whose writes commit or roll back with the
 * transaction, so handlers and tests can observe exactly-once effects without a database.
 *
 * Values are copied with `structuredClone` on the way in and out (no shared references).
 * Calls after the transaction finished throw an `EventferryError` (`STORE_FAILED`).
 *
 * @example
 * ferry.on(OrderCreated, async (event, ctx) => {
 *   ctx.tx.set(`invoice:${event.data.orderId}`, event.data.total);
 * });
 * store.kv.get("invoice:o-1"); // 42, once the handler's transaction committed
 */
export interface MemoryTx {
  /** Stages a write; visible to this transaction at once and to everyone after commit. */
  set(key: string, value: unknown): void;
  /** This transaction's view: its own staged writes, then the committed data. */
  get<T = unknown>(key: string): T | undefined;
  has(key: string): boolean;
  /** Stages a delete. */
  delete(key: string): void;
}

/**
 * Read access to the committed key-value data written through {@link MemoryTx}.
 *
 * @example
 * expect(store.kv.get("invoice:o-1")).toBe(42);
 * expect(store.kv.entries()).toEqual([["invoice:o-1", 42]]);
 */
export interface MemoryKv {
  get<T = unknown>(key: string): T | undefined;
  has(key: string): boolean;
  /** Every committed `[key, value]` pair, in first-write order (copies). */
  entries(): Array<[string, unknown]>;
  readonly size: number;
}

/** The memory store: a {@link Store} whose transaction client is a {@link MemoryTx}, plus `kv`. */
export interface MemoryStore extends Store<MemoryTx> {
  /** The committed key-value data written through transactions. */
  readonly kv: MemoryKv;
}

export interface MemoryStoreOptions {
  /**
   * The store's clock (`store.now()`, due times, leases). Anything with `now()` works; when it also
   * has `setTimeout`/`clearTimeout` (core's `Clock`, `createFakeClock()`), `waitForChange` uses
   * them for its timers, so a fake clock drives waits too.
   * @default the system clock (`Date.now`, global timers)
   */
  clock?: MemoryStoreClock;
  /**
   * How many completed inbox entries are kept (most recent first), like BullMQ's
   * `removeOnComplete`. Older completed entries are dropped; only their (consumer, event id)
   * pair is remembered, in the {@link MemoryStoreOptions.dedupeWindow}. `inbox.stats().completed`
   * counts the entries kept. `Infinity` keeps all.
   * @default 10_000
   */
  retainCompleted?: number;
  /**
   * How many (consumer, event id) pairs of dropped completed entries are remembered, so a
   * redelivery of an event completed long ago is still recognised as a duplicate. The trade-off:
   * a redelivery of a pair older than the window (after `retainCompleted + dedupeWindow` newer
   * completions) is recorded and handled again. Transports redeliver within minutes, so a window of
   * recent pairs is what matters (JetStream keeps a duplicate window for the same reason).
   * `Infinity` remembers every pair (memory then grows by one short string per completed entry).
   * @default 100_000
   */
  dedupeWindow?: number;
}

/**
 * Defaults of {@link createMemoryStore}.
 */
export const memoryStoreDefaults = Object.freeze({
  retainCompleted: 10_000,
  dedupeWindow: 100_000,
});

const systemTime: MemoryStoreClock = {
  now: () => Date.now(),
};

/**
 * Creates an in-memory {@link Store}: the event log, inbox, outbox, dead letters, batches and
 * schemas, kept in this process only (lost on exit; `features.shared` is false). It is the
 * backend of tests and of the in-process bus, and it keeps every MUST rule of the contract —
 * it passes `describeStoreConformance` — so code that works here works on SQLite and PostgreSQL.
 *
 * - Claims are indexed: each consumer keeps its claimable entries in a heap by priority, due time
 *   and record order, so a claim costs O(limit · log n), not a scan of the backlog.
 * - Transactions stage their writes (key-value data through `tx.client`, `append`,
 *   `outbox.add`, `inbox.complete`) and apply them atomically when `fn` resolves; nothing is
 *   applied when it throws. Transactions may run concurrently. `tx.inbox.complete` checks the
 *   lease token at call time and holds no lock; the commit checks it again, and when the lease was
 *   lost meanwhile (it expired and another claim took the entry) the commit applies nothing and
 *   `transaction` rejects with an `EventferryError` of code `LEASE_LOST`.
 * - Memory stays bounded for finished work: see {@link MemoryStoreOptions.retainCompleted};
 *   published outbox rows are kept until `outbox.cleanup`, dead letters until purged, and the
 *   event log keeps every event (it is the log).
 * - Events are stored as JSON text: every read returns a fresh copy with JSON semantics (a `Date`
 *   in `data` comes back as a string), exactly as from a database.
 *
 * Throws a {@link ConfigError} listing every invalid option.
 *
 * @example
 * const store = createMemoryStore();
 * await store.append([event]);
 * for await (const e of store.read({ pattern: "order.*" })) console.log(e.position, e.type);
 *
 * @example
 * // deterministic time in tests
 * const clock = createFakeClock();
 * const store = createMemoryStore({ clock, retainCompleted: 100 });
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const problems: string[] = [];
  const retainCompleted = options.retainCompleted ?? memoryStoreDefaults.retainCompleted;
  const dedupeWindow = options.dedupeWindow ?? memoryStoreDefaults.dedupeWindow;
  if (
    !(
      retainCompleted === Number.POSITIVE_INFINITY ||
      (Number.isInteger(retainCompleted) && retainCompleted >= 0)
    )
  ) {
    problems.push(`retainCompleted must be an integer >= 0 or Infinity, got ${String(retainCompleted)}`);
  }
  if (!(dedupeWindow === Number.POSITIVE_INFINITY || (Number.isInteger(dedupeWindow) && dedupeWindow >= 0))) {
    problems.push(`dedupeWindow must be an integer >= 0 or Infinity, got ${String(dedupeWindow)}`);
  }
  if (options.clock !== undefined && typeof options.clock?.now !== "function") {
    problems.push("clock must have a now() method");
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(MEMORY_COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }

  const ctx = new MemoryContext(options.clock ?? systemTime);
  const kvData = new Map<string, unknown>();
  const log = new MemoryLog(ctx);
  const outbox = new MemoryOutbox(ctx);
  const batches = new MemoryBatches(ctx);
  const schemas = new MemorySchemas(ctx);
  // The inbox and the dead letters refer to each other (stats count added dead letters).
  let inboxRef: MemoryInbox | undefined;
  const deadLetters = new MemoryDeadLetters(ctx, () => inboxRef as MemoryInbox);
  const inbox = new MemoryInbox(ctx, {
    retainCompleted,
    dedupeWindow,
    countAddedDeadLetters: (consumers) => deadLetters.countAdded(consumers),
  });
  inboxRef = inbox;

  const kv: MemoryKv = {
    get: <T = unknown>(key: string): T | undefined => structuredClone(kvData.get(key)) as T | undefined,
    has: (key: string): boolean => kvData.has(key),
    entries: (): Array<[string, unknown]> => [...kvData].map(([k, v]) => [k, structuredClone(v)]),
    get size(): number {
      return kvData.size;
    },
  };

  const store: MemoryStore = {
    name: "memory",
    features: Object.freeze({ shared: false, crossProcessNotify: false }),
    kv,
    inbox,
    outbox,
    deadLetters,
    batches,
    schemas,

    async migrate(): Promise<void> {
      ctx.ensureOpen();
    },

    async transaction<T>(fn: (tx: StoreTx<MemoryTx>) => Promise<T>): Promise<T> {
      ctx.ensureOpen();
      if (typeof fn !== "function") {
        throw new ValidationError(componentMessage(MEMORY_COMPONENT, "transaction needs a function"));
      }
      const tx = new MemoryTransaction({ ctx, kv: kvData, log, inbox, outbox });
      let result: T;
      try {
        result = await fn(tx.storeTx);
      } catch (error) {
        tx.rollback();
        throw error;
      }
      tx.commit();
      return result;
    },

    append: (events) => log.append(events),

    read: (query) => log.read(query),

    async now(): Promise<Date> {
      ctx.ensureOpen();
      return new Date(ctx.now());
    },

    async waitForChange(params: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
      ctx.ensureOpen();
      let timeoutMs = params?.timeoutMs ?? 0;
      // Wake when the next delayed or retried entry becomes due, if that is sooner.
      const now = ctx.now();
      const nextDue = inbox.nextDueAfter(now);
      if (nextDue !== undefined) timeoutMs = Math.min(timeoutMs, nextDue - now);
      await ctx.changes.wait(timeoutMs, params?.signal);
    },

    async health(): Promise<HealthReport> {
      const sizes = inbox.sizes();
      const outboxSizes = outbox.sizes();
      const details = {
        events: log.size,
        inboxPending: sizes.pending,
        inboxInFlight: sizes.inFlight,
        inboxCompletedKept: sizes.completed,
        deadLetters: sizes.dead + deadLetters.countAdded(undefined),
        outboxUnpublished: outboxSizes.unpublished,
        batches: batches.size,
        keys: kvData.size,
      };
      if (ctx.closed) {
        return {
          status: "unhealthy",
          component: MEMORY_COMPONENT,
          reasons: ["the store is closed"],
          details,
        };
      }
      return { status: "healthy", component: MEMORY_COMPONENT, reasons: [], latencyMs: 0, details };
    },

    async close(): Promise<void> {
      if (ctx.closed) return;
      ctx.closed = true;
      ctx.changes.notify();
    },
  };
  registerMemoryInternals(store, { inbox, outbox, log, ctx });
  return store;
}
