import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ConfigError, componentMessage, type HealthReport, ValidationError } from "@eventferry/core";
import type { Store, StoreTx } from "@eventferry/store";
import Database from "better-sqlite3";
import { SQLITE_COMPONENT, toStoreError } from "./classify-error.js";
import { SqliteBatches } from "./internal/sqlite-batches.js";
import { type Db, NOW_MS_SQL, SqliteContext } from "./internal/sqlite-context.js";
import { SqliteDeadLetters } from "./internal/sqlite-dead-letters.js";
import { SqliteInbox } from "./internal/sqlite-inbox.js";
import { SqliteLog } from "./internal/sqlite-log.js";
import { SqliteOutbox } from "./internal/sqlite-outbox.js";
import { SqliteSchemas } from "./internal/sqlite-schemas.js";
import { registerSqliteInternals } from "./internal/store-internals.js";
import { migrationsTable, sqliteMigrations } from "./migrations.js";

/** A better-sqlite3 connection: `ctx.tx` of a handler, `tx.client` in `store.transaction`. */
export type SqliteDatabase = Db;

/** `PRAGMA synchronous` levels the store accepts. */
export type SqliteSynchronous = "off" | "normal" | "full" | "extra";

/**
 * Options of {@link createSqliteStore}: where the database is (`path` or `database`), the table
 * prefix, and the pragmas that matter.
 *
 * @example
 * createSqliteStore({ path: "./data/events.db", synchronous: "full", busyTimeoutMs: 2_000 });
 */
export interface SqliteStoreOptions {
  /**
   * The database file; the store opens it (on first use), creates its parent directory when
   * missing, and closes it on `close()`. `":memory:"` is a private in-memory database.
   * Give exactly one of `path` and `database`.
   */
  path?: string;
  /**
   * Your better-sqlite3 connection. The store configures it (WAL, busy timeout, synchronous,
   * foreign keys) and never closes it. Give exactly one of `path` and `database`.
   */
  database?: SqliteDatabase;
  /**
   * Prefix of every table the store creates: letters, digits and `_`, starting with a letter or
   * `_`, at most 63 characters. Anything else is a `ConfigError` (it is never put into SQL).
   * @default "eventferry_"
   */
  tablePrefix?: string;
  /**
   * How long a statement waits for another connection's write lock before failing with a
   * retryable `SQLITE_BUSY` error (`PRAGMA busy_timeout`). better-sqlite3 waits synchronously,
   * blocking the event loop meanwhile: keep it short.
   * @default 5_000
   */
  busyTimeoutMs?: number;
  /**
   * `PRAGMA synchronous`. In WAL mode `"normal"` never corrupts the database but a power loss
   * (not a process crash) may lose the last transactions; `"full"` syncs every commit (durable,
   * slower); `"off"` leaves syncing to the OS.
   * @default "normal"
   */
  synchronous?: SqliteSynchronous;
}

/**
 * Defaults of {@link createSqliteStore}.
 *
 * @example
 * sqliteStoreDefaults.tablePrefix; // "eventferry_"
 */
export const sqliteStoreDefaults = Object.freeze({
  tablePrefix: "eventferry_",
  busyTimeoutMs: 5_000,
  synchronous: "normal" as SqliteSynchronous,
});

/**
 * The SQLite store: a {@link Store} whose transaction client is the better-sqlite3 connection.
 *
 * @example
 * await store.transaction(async (tx) => tx.client.prepare("insert into t values (?)").run(1));
 */
export interface SqliteStore extends Store<SqliteDatabase> {
  /** The table prefix in use. */
  readonly tablePrefix: string;
}

const PREFIX_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SYNCHRONOUS = ["off", "normal", "full", "extra"];

/**
 * Creates the SQLite {@link Store} on better-sqlite3: the embedded default. Tables live in one
 * file (WAL mode); several processes on one host may share it. Validates `options` synchronously
 * (one `ConfigError` listing every problem) and opens the file on first use.
 *
 * Transaction model: better-sqlite3 is synchronous and a connection has one transaction at a time,
 * so `transaction(fn)` holds an async mutex over the connection from `BEGIN IMMEDIATE` to
 * `COMMIT`: other operations of this store instance wait for it (calls made inside `fn`'s async
 * context join the transaction instead). Handlers on one store therefore run their transactions
 * one at a time: keep them short.
 *
 * @example
 * const store = createSqliteStore({ path: "./data/events.db" });
 * await store.migrate();
 * await store.transaction(async (tx) => {
 *   tx.client.prepare("insert into invoices (id) values (?)").run("inv-1");
 *   await tx.outbox.add({ topic: "billing", events: [invoiceSent] });
 * });
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const problems: string[] = [];
  const o = (options ?? {}) as SqliteStoreOptions;
  const hasPath = o.path !== undefined;
  const hasDb = o.database !== undefined;
  if (hasPath === hasDb) problems.push("give exactly one of path and database");
  if (hasPath && (typeof o.path !== "string" || o.path === ""))
    problems.push("path must be a non-empty string");
  if (
    hasDb &&
    (typeof o.database !== "object" || o.database === null || typeof o.database.prepare !== "function")
  ) {
    problems.push("database must be a better-sqlite3 Database");
  }
  const tablePrefix = o.tablePrefix ?? sqliteStoreDefaults.tablePrefix;
  if (typeof tablePrefix !== "string" || !PREFIX_RE.test(tablePrefix)) {
    problems.push(
      `tablePrefix must be letters, digits and _ (starting with a letter or _, at most 63), got ${JSON.stringify(tablePrefix)}`,
    );
  }
  const busyTimeoutMs = o.busyTimeoutMs ?? sqliteStoreDefaults.busyTimeoutMs;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    problems.push(`busyTimeoutMs must be an integer >= 0, got ${String(busyTimeoutMs)}`);
  }
  const synchronous = o.synchronous ?? sqliteStoreDefaults.synchronous;
  if (!SYNCHRONOUS.includes(synchronous)) {
    problems.push(`synchronous must be one of ${SYNCHRONOUS.join(", ")}, got ${JSON.stringify(synchronous)}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(SQLITE_COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }

  const own = hasPath;
  const path = own ? (o.path as string) : (o.database as Db).name;
  const open = (): Db => {
    let db: Db;
    if (own) {
      if (path !== ":memory:" && !path.startsWith("file:"))
        mkdirSync(dirname(resolve(path)), { recursive: true });
      db = new Database(path);
    } else {
      db = o.database as Db;
    }
    try {
      if (path !== ":memory:") {
        const mode = db.pragma("journal_mode = WAL", { simple: true });
        if (String(mode).toLowerCase() !== "wal" && !db.memory) {
          throw new Error(`journal_mode stayed ${String(mode)}`);
        }
      }
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma("foreign_keys = ON");
      // Reads the schema: fails here, at open, for a file that is not a database.
      db.prepare("SELECT count(*) FROM sqlite_master").get();
    } catch (error) {
      if (own && db.open) db.close();
      throw error;
    }
    return db;
  };
  const ctx = new SqliteContext({ prefix: tablePrefix, path, open });
  const log = new SqliteLog(ctx);
  const inbox = new SqliteInbox(ctx);
  const outbox = new SqliteOutbox(ctx);
  const deadLetters = new SqliteDeadLetters(ctx);
  const batches = new SqliteBatches(ctx);
  const schemas = new SqliteSchemas(ctx);

  const storeTx: StoreTx<SqliteDatabase> = {
    get client(): SqliteDatabase {
      return ctx.db;
    },
    append: (events) => log.append(events),
    inbox: { complete: (params) => inbox.complete(params) },
    outbox: { add: (params) => outbox.add(params) },
    admission: {
      admit: (params) => inbox.admit(params),
      reopen: (params) => inbox.reopen(params),
      savepoint: (fn) => ctx.savepoint(() => fn(storeTx)),
    },
  };

  const store: SqliteStore = {
    name: "sqlite",
    features: Object.freeze({ shared: true, crossProcessNotify: false }),
    tablePrefix,
    inbox,
    outbox,
    deadLetters,
    batches,
    schemas,

    migrate(): Promise<void> {
      return ctx.run("migrate", (db) => {
        db.transaction(() => {
          db.exec(
            `CREATE TABLE IF NOT EXISTS ${migrationsTable(tablePrefix)} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)`,
          );
          const applied = new Set(
            (
              db.prepare(`SELECT version FROM ${migrationsTable(tablePrefix)}`).all() as Array<{
                version: number;
              }>
            ).map((r) => r.version),
          );
          for (const m of sqliteMigrations) {
            if (applied.has(m.version)) continue;
            db.exec(m.sql(tablePrefix));
            db.prepare(
              `INSERT INTO ${migrationsTable(tablePrefix)} (version, name, applied_ms) VALUES (?, ?, ${NOW_MS_SQL})`,
            ).run(m.version, m.name);
          }
        }).immediate();
      });
    },

    transaction<T>(fn: (tx: StoreTx<SqliteDatabase>) => Promise<T>): Promise<T> {
      if (typeof fn !== "function") {
        return Promise.reject(
          new ValidationError(componentMessage(SQLITE_COMPONENT, "transaction needs a function")),
        );
      }
      return ctx.transaction(() => fn(storeTx));
    },

    append: (events) => log.append(events),
    read: (query) => log.read(query),

    now(): Promise<Date> {
      return ctx.run("now", () => new Date(ctx.nowMs()));
    },

    async waitForChange(params: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
      ctx.ensureOpen();
      let timeoutMs = params?.timeoutMs ?? 0;
      if (!ctx.inTransaction) {
        try {
          const next = await ctx.run("waitForChange", () => {
            const now = ctx.nowMs();
            const due = inbox.nextDueAfter(now);
            return due === undefined ? undefined : due - now;
          });
          if (next !== undefined) timeoutMs = Math.min(timeoutMs, next);
        } catch {
          // A hint only: fall back to the plain timeout.
        }
      }
      if (ctx.closed) return;
      await ctx.changes.wait(timeoutMs, params?.signal);
    },

    async health(): Promise<HealthReport> {
      if (ctx.closed) {
        return { status: "unhealthy", component: SQLITE_COMPONENT, reasons: ["the store is closed"] };
      }
      const started = performance.now();
      try {
        const details = await ctx.run("health", (db) => ({
          path,
          journalMode: db.pragma("journal_mode", { simple: true }),
          synchronous,
          busyTimeoutMs,
          sqliteVersion: (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v,
        }));
        return {
          status: "healthy",
          component: SQLITE_COMPONENT,
          reasons: [],
          latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
          details,
        };
      } catch (error) {
        const e = toStoreError(error, "health", path);
        return { status: "unhealthy", component: SQLITE_COMPONENT, reasons: [e.message] };
      }
    },

    async close(): Promise<void> {
      if (ctx.closed) return;
      await ctx.close(own);
    },
  };
  registerSqliteInternals(store, ctx);
  return store;
}
