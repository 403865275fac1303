import { ConnectionError, componentMessage, EventferryError, isEventferryError } from "@eventferry/core";

/**
 * The component name in messages and health reports.
 *
 * @example
 * componentMessage(SQLITE_COMPONENT, "claim failed"); // "[eventferry:store-sqlite] claim failed"
 */
export const SQLITE_COMPONENT = "store-sqlite";

/** What an SQLite error means for the caller. */
export type SqliteErrorReason =
  /** Another connection holds the write lock (after the busy timeout): try again. */
  | "busy"
  /** The file or the connection is read-only. */
  | "read-only"
  /** The disk (or the file system quota) is full. */
  | "disk-full"
  /** The file is not an SQLite database, or it is corrupt. */
  | "not-a-database"
  /** The file cannot be opened (missing directory, permissions). */
  | "cannot-open"
  /** A constraint was violated (a bug or bad input). */
  | "constraint"
  /** The connection is closed. */
  | "closed"
  | "unknown";

/** The classification of one native error. */
export interface SqliteErrorClass {
  readonly reason: SqliteErrorReason;
  /** Worth retrying as is (the same call may succeed later). */
  readonly retryable: boolean;
  /** The database cannot be used at all (read-only, full, not a database): a `ConnectionError`. */
  readonly connection: boolean;
}

const table: ReadonlyArray<readonly [prefix: string, cls: SqliteErrorClass]> = [
  ["SQLITE_BUSY", { reason: "busy", retryable: true, connection: false }],
  ["SQLITE_LOCKED", { reason: "busy", retryable: true, connection: false }],
  ["SQLITE_READONLY", { reason: "read-only", retryable: false, connection: true }],
  ["SQLITE_FULL", { reason: "disk-full", retryable: false, connection: true }],
  ["SQLITE_NOTADB", { reason: "not-a-database", retryable: false, connection: true }],
  ["SQLITE_CORRUPT", { reason: "not-a-database", retryable: false, connection: true }],
  ["SQLITE_CANTOPEN", { reason: "cannot-open", retryable: false, connection: true }],
  ["SQLITE_IOERR", { reason: "cannot-open", retryable: false, connection: true }],
  ["SQLITE_PERM", { reason: "read-only", retryable: false, connection: true }],
  ["SQLITE_CONSTRAINT", { reason: "constraint", retryable: false, connection: false }],
  ["SQLITE_MISUSE", { reason: "closed", retryable: false, connection: false }],
];

/**
 * Classifies a native better-sqlite3 error by its `code` (`SQLITE_BUSY`, `SQLITE_READONLY_DBMOVED`,
 * …; extended codes match their primary code). Also recognises better-sqlite3's own
 * "The database connection is not open" TypeError as `closed`.
 *
 * @example
 * classifySqliteError(Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" }));
 * // { reason: "busy", retryable: true, connection: false }
 */
export function classifySqliteError(error: unknown): SqliteErrorClass {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    for (const [prefix, cls] of table) {
      if (code === prefix || code.startsWith(`${prefix}_`)) return cls;
    }
  }
  const message = error instanceof Error ? error.message : "";
  if (/connection is not open/i.test(message))
    return { reason: "closed", retryable: false, connection: false };
  return { reason: "unknown", retryable: false, connection: false };
}

/**
 * Turns any error thrown while working on the database into an {@link EventferryError}: kept as is
 * when it already is one; a `ConnectionError` (code `CONNECTION_FAILED`) for a database that cannot
 * be used (read-only, full, not a database), naming `path`; otherwise an `EventferryError` of code
 * `STORE_FAILED`, retryable for `SQLITE_BUSY`. The native error is the `cause`; the message is one
 * line, prefixed `[eventferry:store-sqlite]`.
 *
 * @example
 * try { stmt.run() } catch (e) { throw toStoreError(e, "claim", "./data/events.db") }
 */
export function toStoreError(error: unknown, operation: string, path: string): EventferryError {
  if (isEventferryError(error)) return error;
  const cls = classifySqliteError(error);
  const native = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const codeText = typeof code === "string" ? ` (${code})` : "";
  const details = { reason: cls.reason, path, ...(typeof code === "string" ? { sqliteCode: code } : {}) };
  if (cls.connection) {
    const hint: Record<string, string> = {
      "read-only": "the database is read-only",
      "disk-full": "the disk is full",
      "not-a-database": "the file is not an SQLite database (or it is corrupt)",
      "cannot-open": "the database file cannot be opened",
    };
    return new ConnectionError(
      componentMessage(
        SQLITE_COMPONENT,
        `${operation} failed: ${hint[cls.reason] ?? native}: ${path}${codeText}`,
      ),
      { cause: error, retryable: false, details },
    );
  }
  return new EventferryError(
    "STORE_FAILED",
    componentMessage(SQLITE_COMPONENT, `${operation} failed: ${native}${codeText}`),
    { cause: error, retryable: cls.retryable, details },
  );
}
