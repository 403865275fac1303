import { describeStoreConformance } from "@eventferry/store/testing";
import Database from "better-sqlite3";
import { afterAll } from "vitest";
import { createSqliteStore, type SqliteDatabase, type SqliteStore } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
/** One file per case, named by the case id (the table prefix is the id too). */
const fileOf = (id: string): string => tmp.file(`${id}.db`);

describeStoreConformance("sqlite", {
  create: async ({ id }) => {
    const store = createSqliteStore({ path: fileOf(id), tablePrefix: `${id}_` });
    await store.migrate();
    return store;
  },
  txWrite: {
    write: async (client, key, value) => {
      const db = client as SqliteDatabase;
      db.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)");
      db.prepare("INSERT INTO kv VALUES (?, ?)").run(key, value);
    },
    // Reads committed data through a second connection.
    read: async (store, key) => {
      const db = new Database(fileOf((store as SqliteStore).tablePrefix.slice(0, -1)), { readonly: true });
      try {
        if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'kv'").get()) return undefined;
        return (db.prepare("SELECT v FROM kv WHERE k = ?").get(key) as { v: string } | undefined)?.v;
      } finally {
        db.close();
      }
    },
  },
});
