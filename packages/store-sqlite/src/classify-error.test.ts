import { isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { classifySqliteError, type SqliteErrorReason, toStoreError } from "./classify-error.js";

const sqliteError = (code: string, message = "boom"): Error => Object.assign(new Error(message), { code });

describe("classifySqliteError", () => {
  const table: Array<[input: unknown, reason: SqliteErrorReason, retryable: boolean, connection: boolean]> = [
    [sqliteError("SQLITE_BUSY", "database is locked"), "busy", true, false],
    [sqliteError("SQLITE_BUSY_SNAPSHOT"), "busy", true, false],
    [sqliteError("SQLITE_LOCKED"), "busy", true, false],
    [sqliteError("SQLITE_READONLY", "attempt to write a readonly database"), "read-only", false, true],
    [sqliteError("SQLITE_READONLY_DBMOVED"), "read-only", false, true],
    [sqliteError("SQLITE_FULL", "database or disk is full"), "disk-full", false, true],
    [sqliteError("SQLITE_NOTADB", "file is not a database"), "not-a-database", false, true],
    [sqliteError("SQLITE_CORRUPT"), "not-a-database", false, true],
    [sqliteError("SQLITE_CANTOPEN"), "cannot-open", false, true],
    [sqliteError("SQLITE_IOERR_WRITE"), "cannot-open", false, true],
    [sqliteError("SQLITE_PERM"), "read-only", false, true],
    [sqliteError("SQLITE_CONSTRAINT_UNIQUE"), "constraint", false, false],
    [sqliteError("SQLITE_BUSYNESS"), "unknown", false, false],
    [new TypeError("The database connection is not open"), "closed", false, false],
    [new Error("something else"), "unknown", false, false],
    ["a string", "unknown", false, false],
    [null, "unknown", false, false],
  ];
  it.each(table)("%s → %s", (input, reason, retryable, connection) => {
    expect(classifySqliteError(input)).toEqual({ reason, retryable, connection });
  });
});

describe("toStoreError", () => {
  it("makes SQLITE_BUSY a retryable STORE_FAILED error with the native error as cause", () => {
    const native = sqliteError("SQLITE_BUSY", "database is locked");
    const e = toStoreError(native, "claim", "/data/events.db");
    expect(e.code).toBe("STORE_FAILED");
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(native);
    expect(e.message).toBe("[eventferry:store-sqlite] claim failed: database is locked (SQLITE_BUSY)");
  });

  it("makes an unusable database a ConnectionError naming the path", () => {
    const e = toStoreError(sqliteError("SQLITE_NOTADB", "file is not a database"), "open", "/data/x.db");
    expect(e.name).toBe("ConnectionError");
    expect(e.code).toBe("CONNECTION_FAILED");
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(
      "[eventferry:store-sqlite] open failed: the file is not an SQLite database (or it is corrupt): /data/x.db (SQLITE_NOTADB)",
    );
    expect(e.details).toMatchObject({
      reason: "not-a-database",
      path: "/data/x.db",
      sqliteCode: "SQLITE_NOTADB",
    });
  });

  it("keeps an EventferryError as it is", () => {
    const original = toStoreError(sqliteError("SQLITE_FULL"), "append", "a.db");
    expect(toStoreError(original, "other", "b.db")).toBe(original);
    expect(isEventferryError(toStoreError(new Error("x"), "read", "a.db"))).toBe(true);
  });
});
