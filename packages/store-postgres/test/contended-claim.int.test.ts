// A claim whose bounded scan sees only rows that concurrent claims hold (several workers on one
// inbox) must look further, not come back empty while work waits.
import { randomBytes } from "node:crypto";
import { createEnvelope, defineEvent } from "@eventferry/core";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore, type PostgresStore } from "../src/index.js";
import { claimScanBound } from "../src/internal/pg-inbox.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const Tick = defineEvent("tick", z.object({ n: z.number() }));
const CONSUMER = "orders/ship";

const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
const schema = `efc_${randomBytes(5).toString("hex")}`;
let store: PostgresStore | undefined;
afterAll(async () => {
  await store?.close();
  await dropSchema(pool, schema);
  await pool.end();
});

describe.runIf(available)("claims under contention (PostgreSQL)", () => {
  it("a claim whose scan finds only rows other claims hold takes the rows behind them", async () => {
    store = createPostgresStore({ pool, schema });
    await store.migrate();
    const events = Array.from({ length: 1_000 }, (_, n) => createEnvelope(Tick, { n }));
    await store.inbox.record({
      entries: events.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })),
    });
    const limit = 100;
    const held = claimScanBound(limit); // what three concurrent claims of 100 hold at once
    const other = await pool.connect();
    try {
      await other.query("BEGIN");
      await other.query(
        `SELECT seq FROM "${schema}".ef_inbox WHERE consumer = $1 AND status = 'pending'
          ORDER BY priority, due_at, seq LIMIT $2 FOR UPDATE`,
        [CONSUMER, held],
      );
      const claimed = await store.inbox.claim({ consumers: [CONSUMER], limit, leaseMs: 60_000, worker: "w" });
      expect(claimed).toHaveLength(limit);
      const ns = claimed.map((e) => (e.event.data as { n: number }).n);
      expect(Math.min(...ns)).toBeGreaterThanOrEqual(held);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    } finally {
      await other.query("ROLLBACK");
      other.release();
    }
    // The held rows are claimable again once released, first in line.
    const next = await store.inbox.claim({ consumers: [CONSUMER], limit: 10, leaseMs: 60_000, worker: "w" });
    expect(next.map((e) => (e.event.data as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
