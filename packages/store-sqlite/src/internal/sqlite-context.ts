import { AsyncLocalStorage } from "node:async_hooks";
import { componentMessage, EventferryError } from "@eventferry/core";
import type BetterSqlite3 from "better-sqlite3";
import { SQLITE_COMPONENT, toStoreError } from "../classify-error.js";
import { AsyncMutex } from "./async-mutex.js";
import { ChangeSignal } from "./change-signal.js";

export type Db = BetterSqlite3.Database;
export type Stmt = BetterSqlite3.Statement;

/** The database clock in ms since the epoch (SQLite's own clock, millisecond precision). */
export const NOW_MS_SQL = "CAST(ROUND(unixepoch('subsec') * 1000) AS INTEGER)";

/** A transaction in progress: async work started inside it runs on its connection directly. */
interface TxScope {
  active: boolean;
}

/**
 * State shared by the parts of one SQLite store: the connection (opened on first use), the table
 * prefix, the async mutex that serialises transactions, the change signal, prepared statements.
 */
export class SqliteContext {
  closed = false;
  readonly prefix: string;
  readonly path: string;
  readonly mutex = new AsyncMutex();
  readonly changes = new ChangeSignal();
  readonly #open: () => Db;
  readonly #scope = new AsyncLocalStorage<TxScope>();
  readonly #statements = new Map<string, Stmt>();
  #db: Db | undefined;
  #changed = false;

  constructor(params: { prefix: string; path: string; open: () => Db }) {
    this.prefix = params.prefix;
    this.path = params.path;
    this.#open = params.open;
  }

  /** A quoted table name with the prefix. */
  t(name: string): string {
    return `"${this.prefix}${name}"`;
  }

  /** The connection, opened (and configured) on first use. */
  get db(): Db {
    if (!this.#db) {
      try {
        this.#db = this.#open();
      } catch (error) {
        throw toStoreError(error, "open", this.path);
      }
    }
    return this.#db;
  }

  /** The connection when it was opened, without opening it. */
  get openedDb(): Db | undefined {
    return this.#db;
  }

  /** A cached prepared statement. */
  stmt(sql: string): Stmt {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** The database clock (ms). */
  nowMs(): number {
    return (this.stmt(`SELECT ${NOW_MS_SQL} AS now`).get() as { now: number }).now;
  }

  ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  /** True inside this store's `transaction` (in its async context). */
  get inTransaction(): boolean {
    return this.#scope.getStore()?.active === true;
  }

  /** Marks that rows changed: waiters wake once the surrounding transaction (if any) commits. */
  changed(): void {
    if (this.inTransaction) this.#changed = true;
    else this.changes.notify();
  }

  /**
   * Runs synchronous database work: at once inside a transaction of this store (it joins it),
   * otherwise once the mutex is free. Errors become `EventferryError`s.
   */
  run<T>(operation: string, fn: (db: Db) => T): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (this.inTransaction) return this.#attempt(operation, fn);
    if (!this.mutex.busy) return this.#attempt(operation, fn);
    return this.mutex.run(() => this.#attempt(operation, fn));
  }

  /** Like {@link run}, in a write transaction (`BEGIN IMMEDIATE`, or a savepoint inside one). */
  write<T>(operation: string, fn: (db: Db) => T): Promise<T> {
    return this.run(operation, (db) => db.transaction(() => fn(db)).immediate());
  }

  /**
   * Runs `fn` inside a savepoint of the current transaction: when it throws, its writes are rolled
   * back (the transaction goes on) and the error is rethrown. Savepoints cost no I/O in SQLite.
   */
  async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.inTransaction) {
      throw new EventferryError(
        "STORE_FAILED",
        componentMessage(SQLITE_COMPONENT, "savepoint outside a transaction"),
      );
    }
    // One name, prepared once: savepoints of one name nest (RELEASE and ROLLBACK TO take the
    // innermost), and a prepared statement skips parsing on every handler run.
    const db = this.db;
    this.stmt("SAVEPOINT ef_sp").run();
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      if (db.inTransaction) {
        this.stmt("ROLLBACK TO ef_sp").run();
        this.stmt("RELEASE ef_sp").run();
      }
      throw error;
    }
    this.stmt("RELEASE ef_sp").run();
    return result;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction holding the mutex for its whole duration:
   * other operations of this store wait; store calls made inside `fn`'s async context join it.
   */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    this.ensureOpen();
    if (this.inTransaction) {
      throw new EventferryError(
        "STORE_FAILED",
        componentMessage(SQLITE_COMPONENT, "transactions do not nest: this call is already inside one"),
      );
    }
    return this.mutex.run(async () => {
      this.ensureOpen();
      const db = this.db;
      try {
        db.exec("BEGIN IMMEDIATE");
      } catch (error) {
        throw toStoreError(error, "begin transaction", this.path);
      }
      const scope: TxScope = { active: true };
      this.#changed = false;
      let result: T;
      try {
        result = await this.#scope.run(scope, fn);
      } catch (error) {
        scope.active = false;
        this.#changed = false;
        if (db.inTransaction) db.exec("ROLLBACK");
        throw error;
      }
      scope.active = false;
      try {
        if (this.closed) throw closedError();
        db.exec("COMMIT");
      } catch (error) {
        this.#changed = false;
        if (db.open && db.inTransaction) db.exec("ROLLBACK");
        throw toStoreError(error, "commit", this.path);
      }
      if (this.#changed) {
        this.#changed = false;
        this.changes.notify();
      }
      return result;
    });
  }

  /** Closes the connection once running work has finished (when `own` is true). */
  async close(own: boolean): Promise<void> {
    this.closed = true;
    this.changes.notify();
    await this.mutex.run(() => {
      this.#statements.clear();
      if (own && this.#db?.open) this.#db.close();
    });
  }

  async #attempt<T>(operation: string, fn: (db: Db) => T): Promise<T> {
    try {
      return fn(this.db);
    } catch (error) {
      throw toStoreError(error, operation, this.path);
    }
  }
}

export function closedError(): EventferryError {
  return new EventferryError("CLOSED", componentMessage(SQLITE_COMPONENT, "the store is closed"));
}
