import { type EventEnvelope, uuidv7 } from "@eventferry/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteDatabase, type SqliteStore } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
const open: SqliteStore[] = [];
afterEach(async () => {
  while (open.length) await open.pop()?.close();
});

async function newStore(): Promise<SqliteStore> {
  const store = createSqliteStore({ path: tmp.file(`${uuidv7()}.db`) });
  await store.migrate();
  open.push(store);
  const db = await store.transaction(async (tx) => tx.client);
  db.exec("CREATE TABLE IF NOT EXISTS invoices (id TEXT PRIMARY KEY, total INTEGER)");
  return store;
}

function event(): EventEnvelope {
  return {
    id: uuidv7(),
    type: "order.created",
    data: {},
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const invoices = (db: SqliteDatabase) =>
  (db.prepare("SELECT id FROM invoices ORDER BY id").all() as { id: string }[]).map((r) => r.id);

describe("transactions", () => {
  it("rolls back a failing handler's writes and leaves its entry in flight", async () => {
    const store = await newStore();
    await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 3 }] });
    const [entry] = await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 });
    const boom = new Error("handler failed");
    let db!: SqliteDatabase;
    await expect(
      store.transaction(async (tx) => {
        db = tx.client;
        tx.client.prepare("INSERT INTO invoices VALUES (?, ?)").run("inv-1", 42);
        await sleep(5); // an async handler: the transaction stays open across awaits
        expect(
          await tx.inbox.complete({ entries: [{ id: entry!.id, leaseToken: entry!.leaseToken }] }),
        ).toEqual(["completed"]);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(invoices(db)).toEqual([]);
    expect(await store.inbox.stats()).toMatchObject({ inFlight: 1, completed: 0 });
    // …and commits them with the completion when the handler succeeds.
    await store.transaction(async (tx) => {
      tx.client.prepare("INSERT INTO invoices VALUES (?, ?)").run("inv-1", 42);
      await tx.inbox.complete({ entries: [{ id: entry!.id, leaseToken: entry!.leaseToken }] });
    });
    expect(invoices(db)).toEqual(["inv-1"]);
    expect(await store.inbox.stats()).toMatchObject({ inFlight: 0, completed: 1 });
  });

  it("never interleaves two concurrent transactions: the second starts after the first ends", async () => {
    const store = await newStore();
    const steps: string[] = [];
    const run = (name: string) =>
      store.transaction(async (tx) => {
        steps.push(`${name} begin`);
        tx.client.prepare("INSERT INTO invoices VALUES (?, ?)").run(`${name}-1`, 1);
        await sleep(20);
        // Reads only its own and committed rows: the other transaction has not started or has committed.
        steps.push(`${name} sees ${invoices(tx.client).join(",")}`);
        tx.client.prepare("INSERT INTO invoices VALUES (?, ?)").run(`${name}-2`, 2);
        await sleep(5);
        steps.push(`${name} end`);
      });
    await Promise.all([run("a"), run("b")]);
    expect(steps).toEqual(["a begin", "a sees a-1", "a end", "b begin", "b sees a-1,a-2,b-1", "b end"]);
  });

  it("makes other operations of the store wait for an open transaction, and joins calls made inside it", async () => {
    const store = await newStore();
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const tx = store.transaction(async (t) => {
      order.push("tx start");
      // A store call inside the transaction's async context joins it (no deadlock)…
      await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
      await gate;
      order.push("tx end");
      t.client.prepare("INSERT INTO invoices VALUES ('x', 1)").run();
    });
    await sleep(5);
    // …while a call from outside waits for the commit.
    const outside = store.inbox.stats().then((s) => {
      order.push(`stats pending=${s.pending}`);
    });
    await sleep(20);
    expect(order).toEqual(["tx start"]);
    release();
    await Promise.all([tx, outside]);
    expect(order).toEqual(["tx start", "tx end", "stats pending=1"]);
  });

  it("rolls back store calls joined to a failed transaction and rejects nested transactions", async () => {
    const store = await newStore();
    await expect(
      store.transaction(async () => {
        await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
        await expect(store.transaction(async () => 1)).rejects.toThrow(/do not nest/);
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect((await store.inbox.stats()).pending).toBe(0);
  });
});
