// Completion finds an entry by the seq its lease token starts with (`<seq>.<random>`): a token
// naming another entry's seq, or a forged one, completes nothing; a token of another shape (a lease
// taken before tokens carried the seq) still completes through the id. And claims over several
// consumers keep the claim order across them.
import { randomUUID } from "node:crypto";
import type { EventEnvelope, Priority } from "@eventferry/core";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStore } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
let store: SqliteStore | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const anEvent = (priority: Priority = 3): EventEnvelope => ({
  id: randomUUID(),
  type: "order.created",
  schemaVersion: 1,
  priority,
  occurredAt: new Date().toISOString(),
  data: { n: 1 },
});

let path = "";
async function open(): Promise<SqliteStore> {
  path = tmp.file(`${randomUUID()}.db`);
  store = createSqliteStore({ path });
  await store.migrate();
  return store;
}

describe("inbox lease tokens", () => {
  it("are <seq>.<random>; a token naming another entry's seq, or garbage, completes nothing", async () => {
    const s = await open();
    await s.inbox.record({
      entries: [anEvent(), anEvent()].map((event) => ({ consumer: "c", event, maxAttempts: 3 })),
    });
    const [a, b] = await s.inbox.claim({ consumers: ["c"], limit: 2, leaseMs: 60_000 });
    if (!a || !b) throw new Error("expected two claimed entries");
    expect(a.leaseToken).toMatch(/^\d+\.[0-9a-f]{24}$/);
    const outcomes = await s.inbox.complete({
      entries: [
        { id: a.id, leaseToken: b.leaseToken }, // b's seq and token, a's id
        { id: a.id, leaseToken: `${a.leaseToken.split(".")[0]}.${"0".repeat(24)}` }, // a's seq, forged token
        { id: a.id, leaseToken: "not a token" },
        { id: a.id, leaseToken: "" },
      ],
    });
    expect(outcomes).toEqual(["lease-lost", "lease-lost", "lease-lost", "lease-lost"]);
    expect(await s.inbox.complete({ entries: [b, a, a] })).toEqual(["completed", "completed", "lease-lost"]);
  });

  it("a lease token without the seq (taken by an earlier version) still completes through the id", async () => {
    const s = await open();
    await s.inbox.record({ entries: [{ consumer: "c", event: anEvent(), maxAttempts: 3 }] });
    const [a] = await s.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 60_000 });
    if (!a) throw new Error("expected a claimed entry");
    const legacy = "0123456789abcdef0123456789abcdef";
    const db = new Database(path);
    try {
      db.prepare(`UPDATE ${s.tablePrefix}inbox SET lease_token = ? WHERE id = ?`).run(legacy, a.id);
    } finally {
      db.close();
    }
    expect(await s.inbox.complete({ entries: [{ id: a.id, leaseToken: a.leaseToken }] })).toEqual([
      "lease-lost",
    ]);
    expect(await s.inbox.complete({ entries: [{ id: a.id, leaseToken: legacy }] })).toEqual(["completed"]);
  });

  it("a claim over several consumers takes the best entries across them, in claim order", async () => {
    const s = await open();
    const low = [anEvent(5), anEvent(5)];
    const high = [anEvent(1), anEvent(1)];
    await s.inbox.record({ entries: low.map((event) => ({ consumer: "a", event, maxAttempts: 3 })) });
    await s.inbox.record({ entries: high.map((event) => ({ consumer: "b", event, maxAttempts: 3 })) });
    const claimed = await s.inbox.claim({ consumers: ["a", "b"], limit: 3, leaseMs: 60_000 });
    expect(claimed.map((c) => [c.consumer, c.event.id])).toEqual([
      ["b", high[0]?.id],
      ["b", high[1]?.id],
      ["a", low[0]?.id],
    ]);
  });
});
