import { existsSync, writeFileSync } from "node:fs";
import { type EventEnvelope, uuidv7 } from "@eventferry/core";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createSqliteStore, createStoreFromUrl } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());

const event = (): EventEnvelope => ({
  id: uuidv7(),
  type: "t",
  data: {},
  schemaVersion: 1,
  priority: 3,
  occurredAt: new Date().toISOString(),
});

describe("opening", () => {
  it("a file that is not a database: a ConnectionError at open naming the path", async () => {
    const file = tmp.file("garbage.db");
    writeFileSync(file, "this is not a database, just text that is long enough to have a header ".repeat(20));
    const store = createSqliteStore({ path: file });
    const err = await store.migrate().catch((e) => e);
    expect(err).toMatchObject({ name: "ConnectionError", code: "CONNECTION_FAILED", retryable: false });
    expect(err.message).toBe(
      `[eventferry:store-sqlite] open failed: the file is not an SQLite database (or it is corrupt): ${file} (SQLITE_NOTADB)`,
    );
    expect((await store.health()).status).toBe("unhealthy");
    await store.close();
  });

  it("a read-only database: a ConnectionError naming the path", async () => {
    const file = tmp.file("readonly.db");
    new Database(file).close();
    const db = new Database(file, { readonly: true });
    const store = createSqliteStore({ database: db });
    const err = await store.migrate().catch((e) => e);
    expect(err).toMatchObject({ name: "ConnectionError", code: "CONNECTION_FAILED" });
    expect(err.message).toContain("the database is read-only");
    expect(err.message).toContain(file);
    await store.close();
    db.close();
  });

  it("creates the parent directory of a path, and sqlite: URLs open files relative or absolute", async () => {
    const file = tmp.file("nested/deeper/events.db");
    const store = createStoreFromUrl(`sqlite://${file}`);
    await store.migrate();
    await store.append([event()]);
    expect(existsSync(file)).toBe(true);
    expect((await store.health()).details).toMatchObject({ journalMode: "wal", synchronous: "normal" });
    await store.close();
  });

  it("never closes a caller's database; closes its own", async () => {
    const db = new Database(tmp.file("theirs.db"));
    const theirs = createSqliteStore({ database: db, tablePrefix: "app_" });
    await theirs.migrate();
    await theirs.close();
    expect(db.open).toBe(true);
    expect(db.prepare("SELECT count(*) AS n FROM app_events").get()).toEqual({ n: 0 });
    db.close();

    const ours = createSqliteStore({ path: tmp.file("ours.db") });
    await ours.migrate();
    const conn = await ours.transaction(async (tx) => tx.client);
    await ours.close();
    expect(conn.open).toBe(false);
  });

  it("migrations are recorded and idempotent across stores sharing a file", async () => {
    const file = tmp.file("migrations.db");
    const a = createSqliteStore({ path: file });
    const b = createSqliteStore({ path: file });
    await Promise.all([a.migrate(), b.migrate(), a.migrate()]);
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT version, name FROM eventferry_migrations ORDER BY version").all()).toEqual([
      { version: 1, name: "initial schema" },
      { version: 2, name: "store: transport queue" },
    ]);
    db.close();
    await Promise.all([a.close(), b.close()]);
  });
});
