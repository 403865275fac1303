import {
  ConfigError,
  componentMessage,
  type EventEnvelope,
  EventferryError,
  type HealthReport,
  redact,
  ValidationError,
} from "@eventferry/core";
import type { AppendResult, EventQuery, Store, StoredEvent, StoreTx } from "@eventferry/store";
import pg from "pg";
import { toStoreError } from "./classify-error.js";
import { CheckedOutClient, isQueryTimeout, PgContext, queryTimeoutError } from "./internal/context.js";
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
   * Client-side timeout of every statement the store sends itself (claims, completions, appends,
   * BEGIN/COMMIT/ROLLBACK of `transaction`, the health check; not `migrate`), and of `pool.query`
   * on the pool the store creates from `url`. A statement with no answer by then — a half-open
   * connection, e.g. behind a proxy or NAT that went silent — fails with a retryable
   * `ConnectionError` and its connection is dropped, never reused. Your own statements on
   * `tx.client` inside `transaction` (the inbox's `ctx.tx`) get no timeout. `false`: none.
   * @default 30_000
   */
  queryTimeoutMs?: number | false;
  /**
   * Every this many ms the LISTEN connection runs `SELECT 1`; no answer within as long again, and
   * it is replaced (re-LISTEN on a new connection; polling covers the gap). `false`: no check.
   * @default 10_000
   */
  listenerCheckMs?: number | false;
  /**
   * `application_name` of the pool the store creates from `url` (visible in `pg_stat_activity`).
   * The LISTEN connection is named `<applicationName>-listener-<hash of schema and prefix>`.
   * @default "eventferry"
   */
  applicationName?: string;
  /**
   * Let PostgreSQL JIT-compile statements on the connections the store creates from `url`. Off by
   * default (`-c jit=off` in the startup options): the store's statements are short, and a
   * generic plan with a high cost estimate (a claim over a key range of unknown width, say) can
   * spend hundreds of milliseconds compiling what runs in one. An `options` parameter in the URL
   * replaces this setting (pg takes the URL's value). Your own `pool` is left as it is.
   * @default false
   */
  jit?: boolean;
}

/** Defaults of {@link createPostgresStore}. */
export const postgresStoreDefaults = Object.freeze({
  schema: "eventferry",
  tablePrefix: "ef_",
  poolSize: 10,
  listen: true,
  connectionTimeoutMs: 10_000,
  queryTimeoutMs: 30_000,
  listenerCheckMs: 10_000,
  applicationName: "eventferry",
  jit: false,
  /** TCP keepalive of the connections the store opens from `url`: first probe after this long idle. */
  keepAliveInitialDelayMs: 10_000,
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
  for (const key of ["queryTimeoutMs", "listenerCheckMs"] as const) {
    const value = options[key];
    if (
      value !== undefined &&
      value !== false &&
      (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
    ) {
      problems.push(`${key} must be a number > 0 or false (got ${String(value)})`);
    }
  }
  if (options.jit !== undefined && typeof options.jit !== "boolean") problems.push("jit must be a boolean");
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
  const queryTimeoutMs = options.queryTimeoutMs ?? postgresStoreDefaults.queryTimeoutMs;
  const listenerCheckMs = options.listenerCheckMs ?? postgresStoreDefaults.listenerCheckMs;
  let pool: pg.Pool;
  if (options.pool) pool = options.pool;
  else {
    pool = new pg.Pool({
      connectionString: options.url as string,
      max: options.poolSize ?? postgresStoreDefaults.poolSize,
      connectionTimeoutMillis,
      application_name: applicationName,
      // Notices a peer that is gone for good (no ACKs). A proxy that still ACKs but forwards
      // nothing is only noticed by the query timeouts below.
      keepAlive: true,
      keepAliveInitialDelayMillis: postgresStoreDefaults.keepAliveInitialDelayMs,
      ...((options.jit ?? postgresStoreDefaults.jit) ? {} : { options: "-c jit=off" }),
    });
    if (queryTimeoutMs !== false) timePoolQueries(pool, queryTimeoutMs);
  }
  // An idle connection whose backend went away emits `error` on the pool: without a listener that
  // would crash the process. The pool has already dropped the connection; nothing else to do.
  const onPoolError = (): void => {};
  pool.on("error", onPoolError);

  const t = tableNames(schema, tablePrefix);
  const ctx = new PgContext(pool, t, queryTimeoutMs);
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
          listenerCheckMs,
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
      // A backend terminated while fn awaits something else is kept, not thrown (CheckedOutClient).
      const held = await CheckedOutClient.from(pool, "transaction");
      const client = held.client;
      let notify = false;
      let finished = false;
      try {
        try {
          await ctx.run(client, "transaction", "BEGIN");
        } catch (error) {
          held.fail(error);
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
        // Statements of a nested transaction run on `client` itself; `touch` queues the
        // savepoint's SAVEPOINT before the first of them (a pg client runs queries in order).
        let savepoints = 0;
        const makeTx = (view: pg.PoolClient, touch: () => void): StoreTx<pg.PoolClient> => ({
          client: view,
          append: async (events: readonly EventEnvelope[]): Promise<AppendResult> => {
            live();
            touch();
            return log.append(client, events);
          },
          inbox: {
            complete: async (params) => {
              live();
              touch();
              return inbox.completeOn(client, params);
            },
          },
          outbox: {
            add: async (params) => {
              live();
              touch();
              await outbox.addOn(client, params);
              notify = true;
            },
          },
          admission: {
            admit: async (params) => {
              live();
              touch();
              return inbox.admitOn(client, params);
            },
            reopen: async (params) => {
              live();
              touch();
              return inbox.reopenOn(client, params);
            },
            savepoint: async <R>(fn: (nested: StoreTx<pg.PoolClient>) => Promise<R>): Promise<R> => {
              live();
              const name = `ef_sp_${++savepoints}`;
              let opened = false;
              const open = (): void => {
                touch();
                if (opened) return;
                opened = true;
                // A failure here fails the statement queued after it, which reports it.
                ctx.run(client, "transaction", `SAVEPOINT ${name}`).catch(() => {});
              };
              let result: R;
              try {
                result = await fn(makeTx(lazySavepointClient(client, open), open));
              } catch (error) {
                if (opened) {
                  await ctx
                    .run(client, "transaction", `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`)
                    .catch((e: Error) => held.fail(e));
                }
                throw error;
              }
              if (opened) await ctx.run(client, "transaction", `RELEASE SAVEPOINT ${name}`);
              return result;
            },
          },
        });
        const tx = makeTx(client, () => {});
        let result: T;
        try {
          result = await fn(tx);
        } catch (error) {
          await ctx.run(client, "transaction", "ROLLBACK").catch((e: Error) => held.fail(e));
          throw error;
        }
        try {
          await ctx.run(client, "commit", "COMMIT");
        } catch (error) {
          const wrapped = toStoreError(error, "commit");
          if (wrapped.code === "CONNECTION_FAILED") held.fail(error);
          throw wrapped;
        }
        if (notify) ctx.changes.notify();
        return result;
      } finally {
        finished = true;
        held.release();
      }
    },
    joinTransaction(client: pg.PoolClient): StoreTx<pg.PoolClient> {
      ctx.ensureOpen();
      if (typeof client?.query !== "function") {
        throw new ValidationError(componentMessage(COMPONENT, "joinTransaction needs a pg client"));
      }
      // The outbox insert sends pg_notify itself: relays wake when the caller commits.
      return {
        client,
        append: (events) => log.append(client, events),
        inbox: { complete: (params) => inbox.completeOn(client, params) },
        outbox: { add: (params) => outbox.addOn(client, params) },
      };
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
        const rows = await ctx.run<{ fsync: string; synchronous_commit: string; version: string }>(
          pool,
          "health check",
          "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit, current_setting('server_version') AS version",
        );
        const settings = rows[0];
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
            serverVersion: settings?.version,
            // Read by health checks that warn about settings losing acknowledged commits.
            durability: { fsync: settings?.fsync, synchronousCommit: settings?.synchronous_commit },
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

/**
 * The `pg` client a nested transaction hands out: every `query` first opens the savepoint
 * (once), then runs on the real client; everything else is the client itself.
 */
function lazySavepointClient(client: pg.PoolClient, open: () => void): pg.PoolClient {
  return new Proxy(client, {
    get(target, property) {
      if (property === "query") {
        return (...args: unknown[]) => {
          open();
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Gives `pool.query` of a pool the store created itself a default client-side `query_timeout`
 * (a statement that sets its own keeps it): `pool.query` is one statement on a client that the pool
 * releases with the error, which removes it. Checked-out clients (`pool.connect()`, `tx.client`)
 * are untouched, so statements of user handlers inside a transaction never get a timeout.
 */
function timePoolQueries(pool: pg.Pool, timeoutMs: number): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const timed = (config: unknown, ...rest: unknown[]): unknown => {
    let result: unknown;
    if (typeof config === "string") result = query({ text: config, query_timeout: timeoutMs }, ...rest);
    else if (
      typeof config === "object" &&
      config !== null &&
      typeof (config as { submit?: unknown }).submit !== "function" &&
      (config as { query_timeout?: unknown }).query_timeout === undefined
    ) {
      result = query({ ...config, query_timeout: timeoutMs }, ...rest);
    } else return query(config, ...rest);
    // Promise style: the timeout becomes the store's retryable ConnectionError.
    return result instanceof Promise
      ? result.catch((error: unknown) => {
          throw isQueryTimeout(error) ? queryTimeoutError(error, "query", timeoutMs) : error;
        })
      : result;
  };
  (pool as unknown as { query: typeof timed }).query = timed;
}
