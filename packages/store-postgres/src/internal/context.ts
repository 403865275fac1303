import { ConnectionError, componentMessage, EventferryError } from "@eventferry/core";
import type { Pool, PoolClient, QueryConfig, QueryResultRow } from "pg";
import { toStoreError } from "../classify-error.js";
import { COMPONENT, type TableNames } from "./names.js";

/** A pool or a checked-out client: what every statement runs on. */
export type Queryable = Pool | PoolClient;

/** Wakes in-process `waitForChange` calls. */
export class ChangeSignal {
  readonly #waiters = new Set<() => void>();

  /** Resolves on the next `notify`. Returns the resolver so a caller can drop it. */
  wait(): { promise: Promise<void>; cancel: () => void } {
    let resolver!: () => void;
    const promise = new Promise<void>((resolve) => {
      resolver = resolve;
    });
    this.#waiters.add(resolver);
    return { promise, cancel: () => this.#waiters.delete(resolver) };
  }

  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }
}

/** The message of the error `pg` rejects a query with when its `query_timeout` passed. */
const QUERY_TIMEOUT_MESSAGE = "Query read timeout";

/** True for the error of a `pg` query whose client-side `query_timeout` passed. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === QUERY_TIMEOUT_MESSAGE;
}

/**
 * The error a statement that got no answer within `timeoutMs` fails with: a retryable
 * {@link ConnectionError} (the connection is presumed dead — half-open — and is dropped).
 */
export function queryTimeoutError(error: unknown, operation: string, timeoutMs: number): ConnectionError {
  return new ConnectionError(
    componentMessage(
      COMPONENT,
      `${operation} failed: no answer from PostgreSQL within ${timeoutMs} ms (queryTimeoutMs); the connection is dropped`,
    ),
    { cause: error, retryable: true, details: { timeoutMs } },
  );
}

/**
 * After a client-side query timeout the statement may still be on the wire: `pg` keeps it as the
 * client's active query and queues everything after it behind it. Such a client must never run
 * another statement: ending it destroys the socket (the active query makes `end()` destroy rather
 * than say goodbye), fails what is queued, and marks it `_ending`, so the pool removes it on release.
 * A pool (`pool.query`) needs nothing: it releases the client with the error, which removes it.
 */
export function dropTimedOut(on: unknown): void {
  const target = on as { totalCount?: unknown; end?: () => Promise<void> };
  if (typeof target.totalCount === "number" || typeof target.end !== "function") return;
  target.end().catch(() => {});
}

/** What the store's parts share: the pool, the table names, the closed flag, the change signal. */
export class PgContext {
  closed = false;
  readonly changes = new ChangeSignal();

  /**
   * @param queryTimeoutMs client-side timeout of every statement the store sends itself (never of
   *   a caller's own statements on `tx.client`); `false`: none.
   */
  constructor(
    readonly pool: Pool,
    readonly t: TableNames,
    readonly queryTimeoutMs: number | false = false,
  ) {}

  /** `config` with the store's query timeout (a statement the store sends itself). */
  timed<C extends QueryConfig>(config: C): C {
    return this.queryTimeoutMs === false ? config : { ...config, query_timeout: this.queryTimeoutMs };
  }

  /**
   * Runs one of the store's own statements on `on` (a pool or a checked-out client) with the
   * store's query timeout, outside the error mapping of {@link query}: a timeout drops the
   * client and rejects with the retryable error of {@link queryTimeoutError}; other errors are
   * the driver's own.
   */
  async run<R extends QueryResultRow = QueryResultRow>(
    on: Queryable,
    operation: string,
    text: string,
  ): Promise<R[]> {
    try {
      const result = await on.query<R>(this.timed({ text }));
      return result.rows;
    } catch (error) {
      if (this.queryTimeoutMs !== false && isQueryTimeout(error)) {
        dropTimedOut(on);
        throw queryTimeoutError(error, operation, this.queryTimeoutMs);
      }
      throw error;
    }
  }

  ensureOpen(): void {
    if (this.closed) throw new EventferryError("CLOSED", componentMessage(COMPONENT, "the store is closed"));
  }

  /** A prepared-statement name unique to this schema + prefix. */
  name(statement: string): string {
    return `ef_${this.t.hash}_${statement}`;
  }

  /** Runs one statement (prepared when `name` is given); driver errors become Eventferry errors. */
  async query<R extends QueryResultRow = QueryResultRow>(
    on: Queryable,
    operation: string,
    text: string,
    values: unknown[] = [],
    name?: string,
  ): Promise<R[]> {
    this.ensureOpen();
    try {
      const result = await on.query<R>(this.timed(name ? { name, text, values } : { text, values }));
      return result.rows;
    } catch (error) {
      if (this.queryTimeoutMs !== false && isQueryTimeout(error)) {
        dropTimedOut(on);
        throw queryTimeoutError(error, operation, this.queryTimeoutMs);
      }
      throw toStoreError(error, operation);
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID-shaped string (ids and lease tokens are `uuid` columns). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** ISO-8601 of a timestamp the driver returned. */
export function iso(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return "";
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

/** The error of a failed `pool.connect()`: pg-pool's wait for a free client timing out is retryable too. */
export function connectError(error: unknown, operation: string): EventferryError {
  if (error instanceof Error && /timeout exceeded when trying to connect/i.test(error.message)) {
    return new ConnectionError(
      componentMessage(
        COMPONENT,
        `${operation} failed: no free connection in the pool in time (${error.message})`,
      ),
      { cause: error, retryable: true },
    );
  }
  return toStoreError(error, operation);
}

/**
 * A client checked out of the pool for a transaction of the store's own. Checked out, a client has
 * no pool listener: a backend ended between statements (terminated, or idle in a transaction past
 * its timeout) emits `error` on it, which would crash the process. The error is kept in `broken`
 * instead (the next statement fails anyway), and `release()` hands a broken client back to be
 * destroyed, never reused.
 */
export class CheckedOutClient {
  broken: Error | undefined;
  readonly #onError = (error: Error): void => {
    this.broken ??= error;
  };

  private constructor(readonly client: PoolClient) {
    client.on("error", this.#onError);
  }

  /** Checks a client out; a failed or timed-out `connect()` rejects with the store's error. */
  static async from(pool: Pool, operation: string): Promise<CheckedOutClient> {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw connectError(error, operation);
    }
    return new CheckedOutClient(client);
  }

  /** Marks the client broken (released to be destroyed); the first error is kept. */
  fail(error: unknown): void {
    this.broken ??= error instanceof Error ? error : new Error(String(error));
  }

  release(): void {
    this.client.off("error", this.#onError);
    this.client.release(this.broken);
  }
}
