import {
  ConfigError,
  componentMessage,
  type EventEnvelope,
  EventferryError,
  type HealthReport,
  redact,
} from "@eventferry/core";
import type { AppendResult, EventQuery, Store, StoredEvent, StoreTx } from "@eventferry/store";
import pg from "pg";
import { toStoreError } from "./classify-error.js";
import { PgContext } from "./internal/context.js";
import { COMPONENT, identifierProblem, tableNames } from "./internal/names.js";
import { PgBatches, PgSchemas } from "./internal/pg-batches.js";
import { PgDeadLetters } from "./internal/pg-dead-letters.js";
import { PgInbox } from "./internal/pg-inbox.js";
import { PgListener } from "./internal/pg-listener.js";
import { PgLog } from "./internal/pg-log.js";
import { PgOutbox } from "./internal/pg-outbox.js";
import { migrate as runMigrations } from "./migrations.js";

/** Options of {@link createPostgresStore}. Give exactly one of `url` and `pool`. */
export interface PostgresStoreOptions {
  /** A connection string (`postgres://user:pass@host:5432/db`); the store creates and owns its pool. */
  url?: string;
  /** Your own `pg` Pool. The store never ends it (`close()` leaves it open). */
  pool?: pg.Pool;
  /**
   * The schema holding the tables (created by `migrate()`): lower-case letters, digits, `_`.
   * @default "eventferry"
   */
  schema?: string;
  /** Prefix of every table name (same characters; may be empty). @default "ef_" */
  tablePrefix?: string;
  /** Size of the pool the store creates from `url`. Ignored with `pool`. @default 10 */
  poolSize?: number;
  /**
   * Wake `waitForChange` through LISTEN/NOTIFY on one dedicated connection. When false, waits
   * end by their timeout or by in-process writes only (callers poll). @default true
   */
  listen?: boolean;
  /** Connect timeout of the connections the store opens. @default 10_000 */
  connectionTimeoutMs?: number;
  /**
   * `application_name` of the pool the store creates from `url` (visible in `pg_stat_activity`).
   * The LISTEN connection is named `<applicationName>-listener-<hash of schema and prefix>`.
   * @default "eventferry"
   */
  applicationName?: string;
}

/** Defaults of {@link createPostgresStore}. */
export const postgresStoreDefaults = Object.freeze({
  schema: "eventferry",
  tablePrefix: "ef_",
  poolSize: 10,
  listen: true,
  connectionTimeoutMs: 10_000,
  applicationName: "eventferry",
});

/** The PostgreSQL store: a {@link Store} whose transaction client is a `pg` `PoolClient`. */
export interface PostgresStore extends Store<pg.PoolClient> {
  /** The pool in use (yours, or the one made from `url`). */
  readonly pool: pg.Pool;
  /** The schema and table prefix in use. */
  readonly schema: string;
  readonly tablePrefix: string;
  /** The LISTEN channel name (for operators and tests). */
  readonly channel: string;
}

function validate(options: PostgresStoreOptions): string[] {
  const problems: string[] = [];
  if (typeof options !== "object" || options === null) return ["options must be an object"];
  const hasUrl = options.url !== undefined;
  const hasPool = options.pool !== undefined;
  if (hasUrl === hasPool) problems.push("give exactly one of `url` and `pool`");
  if (hasUrl) {
    if (typeof options.url !== "string" || !/^postgres(ql)?:\/\//i.test(options.url)) {
      problems.push(
        `url must be a postgres:// or postgresql:// connection string (got ${redact(String(options.url))})`,
      );
    }
  }
  if (hasPool && (typeof options.pool?.query !== "function" || typeof options.pool?.connect !== "function")) {
    problems.push("pool must be a pg Pool");
  }
  const schemaProblem = identifierProblem("schema", options.schema ?? postgresStoreDefaults.schema, false);
  if (schemaProblem) problems.push(schemaProblem);
  const prefixProblem = identifierProblem(
    "tablePrefix",
    options.tablePrefix ?? postgresStoreDefaults.tablePrefix,
    true,
  );
  if (prefixProblem) problems.push(prefixProblem);
  if (options.poolSize !== undefined && (!Number.isInteger(options.poolSize) || options.poolSize < 1)) {
    problems.push(`poolSize must be an integer >= 1 (got ${String(options.poolSize)})`);
  }
  if (
    options.connectionTimeoutMs !== undefined &&
    (!Number.isFinite(options.connectionTimeoutMs) || options.connectionTimeoutMs <= 0)
  ) {
    problems.push(`connectionTimeoutMs must be > 0 (got ${String(options.connectionTimeoutMs)})`);
  }
  if (options.listen !== undefined && typeof options.listen !== "boolean")
    problems.push("listen must be a boolean");
  if (options.applicationName !== undefined && typeof options.applicationName !== "string") {
    problems.push("applicationName must be a string");
  }
  return problems;
}

/**
 * Creates the PostgreSQL {@link Store} on `pg`: the event log, inbox, outbox, dead letters,
 * batches and schemas in one schema, shared by any number of processes.
 *
 * - Validates synchronously: one {@link ConfigError} lists every problem. Connects lazily (the
 *   first call opens a connection); a missing database or bad credentials surfaces there as a
 *   `ConfigError`/`ConnectionError` with the password redacted.
 * - Run {@link PostgresStore.migrate} once before use (safe from many processes at once).
 * - Claims are one statement each (`FOR UPDATE SKIP LOCKED`), batches of records, completions and
 *   appends are one statement each; due times and leases use the database's clock.
 * - `waitForChange` is woken by LISTEN/NOTIFY on one dedicated connection (re-LISTENed after a
 *   reconnect); in-process writes wake it directly.
 * - Pool `error` events (an idle connection's backend terminated) are handled: the pool drops
 *   the connection and the store keeps working.
 * - `transaction(fn)` runs `fn` between BEGIN and COMMIT on one `PoolClient` (`tx.client`);
 *   `tx.inbox.complete` locks the entry row until commit, so a completion holds if and only if
 *   the transaction commits.
 *
 * @example
 * const store = createPostgresStore({ url: process.env.DATABASE_URL, schema: "app_events" });
 * await store.migrate();
 * await store.append([event]);
 */
export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
  const problems = validate(options);
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }
  const schema = options.schema ?? postgresStoreDefaults.schema;
  const tablePrefix = options.tablePrefix ?? postgresStoreDefaults.tablePrefix;
  const connectionTimeoutMillis = options.connectionTimeoutMs ?? postgresStoreDefaults.connectionTimeoutMs;
  const owned = options.pool === undefined;
  const applicationName = options.applicationName ?? postgresStoreDefaults.applicationName;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.url as string,
      max: options.poolSize ?? postgresStoreDefaults.poolSize,
      connectionTimeoutMillis,
      application_name: applicationName,
    });
  // An idle connection whose backend went away emits `error` on the pool: without a listener that
  // would crash the process. The pool has already dropped the connection; nothing else to do.
  const onPoolError = (): void => {};
  pool.on("error", onPoolError);

  const t = tableNames(schema, tablePrefix);
  const ctx = new PgContext(pool, t);
  const log = new PgLog(ctx);
  const inbox = new PgInbox(ctx);
  const outbox = new PgOutbox(ctx);
  const deadLetters = new PgDeadLetters(ctx);
  const batches = new PgBatches(ctx);
  const schemas = new PgSchemas(ctx);
  const listener =
    (options.listen ?? true)
      ? new PgListener(
          {
            ...(pool.options as pg.ClientConfig),
            connectionTimeoutMillis,
            application_name: `${applicationName}-listener-${t.hash}`,
          },
          t.channel,
          () => ctx.changes.notify(),
        )
      : undefined;

  const store: PostgresStore = {
    name: "postgres",
    features: Object.freeze({ shared: true, crossProcessNotify: listener !== undefined }),
    pool,
    schema,
    tablePrefix,
    channel: t.channel,
    async migrate() {
      ctx.ensureOpen();
      try {
        await runMigrations(pool, { schema, tablePrefix });
      } catch (error) {
        throw toStoreError(error, "migrate");
      }
    },
    async transaction<T>(fn: (tx: StoreTx<pg.PoolClient>) => Promise<T>): Promise<T> {
      ctx.ensureOpen();
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw toStoreError(error, "transaction");
      }
      let broken: Error | undefined;
      // Checked out, the client has no pool listener: a backend terminated between statements
      // (while fn awaits something else) emits `error` on it, which would crash the process.
      // Keep the error: the next statement fails anyway, and the client is released as broken.
      const onClientError = (error: Error): void => {
        broken ??= error;
      };
      client.on("error", onClientError);
      let notify = false;
      let finished = false;
      try {
        try {
          await client.query("BEGIN");
        } catch (error) {
          broken = error as Error;
          throw toStoreError(error, "transaction");
        }
        const live = (): void => {
          if (finished) {
            throw new EventferryError(
              "STORE_FAILED",
              componentMessage(COMPONENT, "the transaction has finished; use tx only inside fn"),
            );
          }
        };
        const tx: StoreTx<pg.PoolClient> = {
          client,
          append: async (events: readonly EventEnvelope[]): Promise<AppendResult> => {
            live();
            return log.append(client, events);
          },
          inbox: {
            complete: async (params) => {
              live();
              return inbox.completeOn(client, params);
            },
          },
          outbox: {
            add: async (params) => {
              live();
              await outbox.addOn(client, params);
              notify = true;
            },
          },
        };
        let result: T;
        try {
          result = await fn(tx);
        } catch (error) {
          await client.query("ROLLBACK").catch((e: Error) => {
            broken = e;
          });
          throw error;
        }
        try {
          await client.query("COMMIT");
        } catch (error) {
          const wrapped = toStoreError(error, "commit");
          if (wrapped.code === "CONNECTION_FAILED") broken = error as Error;
          throw wrapped;
        }
        if (notify) ctx.changes.notify();
        return result;
      } finally {
        finished = true;
        client.off("error", onClientError);
        client.release(broken);
      }
    },
    append: (events) => log.append(pool, events),
    read: (query?: EventQuery): AsyncIterable<StoredEvent> => log.read(query),
    inbox,
    outbox,
    deadLetters,
    batches,
    schemas,
    async now() {
      const [row] = await ctx.query<{ now: Date }>(pool, "now", "SELECT now() AS now");
      return (row as { now: Date }).now;
    },
    async waitForChange(params: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
      if (ctx.closed || params?.signal?.aborted) return;
      if (listener && !listener.listening) void listener.start();
      const { promise, cancel } = ctx.changes.wait();
      const signal = params?.signal;
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      try {
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, params?.timeoutMs ?? 0));
          onAbort = resolve;
          signal?.addEventListener("abort", onAbort, { once: true });
          void promise.then(resolve);
        });
      } finally {
        cancel();
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener("abort", onAbort);
      }
    },
    async health(): Promise<HealthReport> {
      if (ctx.closed) return { status: "unhealthy", component: COMPONENT, reasons: ["the store is closed"] };
      const started = Date.now();
      try {
        await pool.query("SELECT 1");
        return {
          status: "healthy",
          component: COMPONENT,
          reasons: [],
          latencyMs: Date.now() - started,
          details: {
            schema,
            tablePrefix,
            poolTotal: pool.totalCount,
            poolIdle: pool.idleCount,
            poolWaiting: pool.waitingCount,
            listening: listener?.listening ?? false,
          },
        };
      } catch (error) {
        return {
          status: "unhealthy",
          component: COMPONENT,
          reasons: [toStoreError(error, "health check").message],
          latencyMs: Date.now() - started,
        };
      }
    },
    async close() {
      if (ctx.closed) return;
      ctx.closed = true;
      ctx.changes.notify();
      await listener?.stop();
      if (owned) await pool.end().catch(() => {});
      else pool.off("error", onPoolError);
    },
  };
  return store;
}
