import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EventEnvelope } from "@eventferry/core";
import { createSqliteStore, type SqliteStore } from "@eventferry/store-sqlite";
import Database from "better-sqlite3";
import { chunks, makeEvents } from "../workload.js";
import { BATCH, CONSUMER, type Run, type System, WARMUP } from "./scenario.js";

/** Pragmas shared by the store and the raw baseline: WAL, synchronous=NORMAL (the store's default). */
const SYNCHRONOUS = "normal";

function openRaw(dir: string): Database.Database {
  const db = new Database(join(dir, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${SYNCHRONOUS}`);
  db.pragma("busy_timeout = 5000");
  return db;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "eventferry-bench-sqlite-"));
}

/** `sqlite.append`: store.append in batches of 1,000 vs a prepared INSERT … ON CONFLICT DO NOTHING, 1,000 rows per transaction. */
export function sqliteAppend(system: System, n: number): Run {
  const dir = tempDir();
  let events: EventEnvelope[] = [];
  let store: SqliteStore | undefined;
  let db: Database.Database | undefined;
  let appendBatch: (batch: readonly EventEnvelope[]) => Promise<void> | void = () => {};
  return {
    async setup() {
      events = makeEvents(n);
      if (system === "eventferry") {
        const s = createSqliteStore({ path: join(dir, "store.db"), synchronous: SYNCHRONOUS });
        store = s;
        await s.migrate();
        appendBatch = async (batch) => {
          await s.append(batch);
        };
      } else {
        const raw = openRaw(dir);
        db = raw;
        raw.exec(`CREATE TABLE events (
          position INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          type TEXT NOT NULL,
          json TEXT NOT NULL)`);
        const insert = raw.prepare(
          "INSERT INTO events (id, type, json) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
        );
        appendBatch = raw.transaction((batch: readonly EventEnvelope[]) => {
          for (const e of batch) insert.run(e.id, e.type, JSON.stringify(e));
        });
      }
      for (const batch of chunks(makeEvents(WARMUP), BATCH)) await appendBatch(batch);
    },
    async run() {
      for (const batch of chunks(events, BATCH)) await appendBatch(batch);
    },
    async teardown() {
      const count = store
        ? await countSqlite(join(dir, "store.db"), `SELECT count(*) FROM "${store.tablePrefix}events"`)
        : (db?.prepare("SELECT count(*) AS c FROM events").pluck().get() as number);
      await store?.close();
      db?.close();
      rmSync(dir, { recursive: true, force: true });
      if (count !== n + WARMUP) throw new Error(`expected ${n + WARMUP} events, found ${count}`);
    },
  };
}

/**
 * `sqlite.inbox`: inbox.record N (batches of 1,000), then claim (limit 1,000) → complete until done,
 * vs raw insert, claim-update and complete-update in transactions of the same size.
 */
export function sqliteInbox(system: System, n: number): Run {
  const dir = tempDir();
  let events: EventEnvelope[] = [];
  let store: SqliteStore | undefined;
  let db: Database.Database | undefined;
  let drain: (batches: EventEnvelope[][]) => Promise<number> = async () => 0;
  return {
    async setup() {
      events = makeEvents(n);
      if (system === "eventferry") {
        const s = createSqliteStore({ path: join(dir, "store.db"), synchronous: SYNCHRONOUS });
        store = s;
        await s.migrate();
        drain = async (batches) => {
          for (const batch of batches) {
            await s.inbox.record({
              entries: batch.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })),
            });
          }
          let done = 0;
          for (;;) {
            const claimed = await s.inbox.claim({ consumers: [CONSUMER], limit: BATCH, leaseMs: 60_000 });
            if (claimed.length === 0) return done;
            const outcomes = await s.inbox.complete({
              entries: claimed.map((c) => ({ id: c.id, leaseToken: c.leaseToken })),
            });
            done += outcomes.filter((o) => o === "completed").length;
          }
        };
      } else {
        const raw = openRaw(dir);
        db = raw;
        raw.exec(`CREATE TABLE inbox (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          consumer TEXT NOT NULL,
          event_id TEXT NOT NULL,
          type TEXT NOT NULL,
          json TEXT NOT NULL,
          status TEXT NOT NULL DEFAULT 'pending',
          attempt INTEGER NOT NULL DEFAULT 0,
          lease_token TEXT,
          finished_ms INTEGER,
          UNIQUE (consumer, event_id));
          CREATE INDEX inbox_pending ON inbox (consumer, seq) WHERE status = 'pending';`);
        const insert = raw.prepare(
          "INSERT INTO inbox (consumer, event_id, type, json) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        );
        const select = raw.prepare(
          "SELECT seq, json FROM inbox WHERE consumer = ? AND status = 'pending' ORDER BY seq LIMIT ?",
        );
        const lease = raw.prepare(
          "UPDATE inbox SET status = 'in-flight', attempt = attempt + 1, lease_token = ? WHERE seq = ?",
        );
        const finish = raw.prepare(
          "UPDATE inbox SET status = 'completed', finished_ms = ? WHERE seq = ? AND lease_token = ? AND status = 'in-flight'",
        );
        const record = raw.transaction((batch: readonly EventEnvelope[]) => {
          for (const e of batch) insert.run(CONSUMER, e.id, e.type, JSON.stringify(e));
        });
        const claim = raw.transaction((token: string) => {
          const rows = select.all(CONSUMER, BATCH) as { seq: number; json: string }[];
          for (const r of rows) lease.run(token, r.seq);
          return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.json) as EventEnvelope }));
        });
        const complete = raw.transaction((seqs: readonly number[], token: string) => {
          let done = 0;
          const now = Date.now();
          for (const seq of seqs) done += finish.run(now, seq, token).changes;
          return done;
        });
        let leases = 0;
        drain = async (batches) => {
          for (const batch of batches) record(batch);
          let done = 0;
          for (;;) {
            const token = `lease-${++leases}`;
            const claimed = claim(token);
            if (claimed.length === 0) return done;
            done += complete(
              claimed.map((c) => c.seq),
              token,
            );
          }
        };
      }
      await drain(chunks(makeEvents(WARMUP), BATCH));
    },
    async run() {
      const done = await drain(chunks(events, BATCH));
      if (done !== n) throw new Error(`expected ${n} completed entries, got ${done}`);
    },
    async teardown() {
      await store?.close();
      db?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function countSqlite(path: string, sql: string): Promise<number> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}
