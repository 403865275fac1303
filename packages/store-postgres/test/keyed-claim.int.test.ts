// Claims when the front of the queue is entries waiting behind busy keys: a key's first unfinished
// entry is leased, thousands of its later entries are pending. The store conformance case
// inbox.busy-key-front checks what is claimed; these check the cost, and per-key order under load.
import { randomBytes } from "node:crypto";
import { createEnvelope, defineEvent, type EventEnvelope } from "@eventferry/core";
import type { InboxEntry } from "@eventferry/store";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore, type PostgresStore } from "../src/index.js";
import { claimScanBound, claimSql } from "../src/internal/pg-inbox.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const Tick = defineEvent("tick", z.object({ n: z.number() }));
const CONSUMER = "orders/ship";
const LONG_LEASE = 600_000;

const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
const schemas: string[] = [];
const stores: PostgresStore[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
  for (const schema of schemas) await dropSchema(pool, schema);
  await pool.end();
});

async function freshStore(): Promise<{ store: PostgresStore; schema: string }> {
  const schema = `efk_${randomBytes(5).toString("hex")}`;
  schemas.push(schema);
  const store = createPostgresStore({ pool, schema });
  stores.push(store);
  await store.migrate();
  return { store, schema };
}

const claim = (store: PostgresStore, limit: number, worker = "w1"): Promise<InboxEntry[]> =>
  store.inbox.claim({ consumers: [CONSUMER], limit, leaseMs: LONG_LEASE, worker });

describe.runIf(available)("claims behind busy keys (PostgreSQL)", () => {
  it("with 20,000 entries waiting behind 20 leased heads, a claim reads about a thousand buffers, not the backlog", async () => {
    const { store: s, schema: sc } = await freshStore();
    const keys = Array.from({ length: 20 }, (_, i) => `customer-${i}`);
    // Interleaved, as real traffic is: customer-0, customer-1, …, customer-19, customer-0, …
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 20_000; i++)
      events.push(createEnvelope(Tick, { n: i }, { key: keys[i % keys.length] }));
    for (let i = 0; i < events.length; i += 1_000) {
      await s.inbox.record({
        entries: events.slice(i, i + 1_000).map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })),
      });
    }
    await pool.query(`ANALYZE "${sc}".ef_inbox`);
    const heads = await claim(s, 100);
    expect(heads).toHaveLength(20);

    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const plan = await client
        .query<{ "QUERY PLAN": Array<{ Plan: Record<string, number> }> }>(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${claimSql(`"${sc}".ef_inbox`)}`,
          [[CONSUMER], 100, LONG_LEASE, "w2", claimScanBound(100)],
        )
        .finally(() => client.query("ROLLBACK"));
      const top = plan.rows[0]?.["QUERY PLAN"][0]?.Plan as Record<string, number>;
      const buffers = (top["Shared Hit Blocks"] ?? 0) + (top["Shared Read Blocks"] ?? 0);
      const rows = top["Actual Rows"];
      expect(rows).toBe(1); // no entry, only the sign that the front waits behind busy keys
      // Checking each of the 19,980 blocked entries for an earlier unfinished one costs at least
      // one index probe each (tens of thousands of buffers); the bounded scan plus the walk over
      // 20 keys read about a thousand (1,335 when this was written).
      expect(buffers).toBeLessThan(2_000);
    } finally {
      client.release();
    }
  });

  it("the claim statement asks for the key walk only when the front of the queue is blocked", async () => {
    const { store: s, schema: sc } = await freshStore();
    const run = async () => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const { rows } = await client
          .query<{ id: string | null; scan_full: boolean }>(claimSql(`"${sc}".ef_inbox`), [
            [CONSUMER],
            10,
            LONG_LEASE,
            "w",
            claimScanBound(10),
          ])
          .finally(() => client.query("ROLLBACK"));
        return rows.map((r) => (r.scan_full ? "walk" : "entry"));
      } finally {
        client.release();
      }
    };
    expect(await run()).toEqual([]); // nothing waiting: one statement, no walk
    const record = (events: EventEnvelope[]) =>
      s.inbox.record({ entries: events.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })) });
    // 200 entries on 2 keys: 2 heads in front of a full scan → both taken, and the sign.
    await record(Array.from({ length: 200 }, (_, i) => createEnvelope(Tick, { n: i }, { key: `k${i % 2}` })));
    expect(await run()).toEqual(["entry", "entry", "walk"]);
    // Plenty of free entries: the claim fills its limit, no sign.
    const fresh = await freshStore();
    await fresh.store.inbox.record({
      entries: Array.from({ length: 50 }, (_, i) => ({
        consumer: CONSUMER,
        event: createEnvelope(Tick, { n: i }),
        maxAttempts: 5,
      })),
    });
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ scan_full: boolean }>(claimSql(`"${fresh.schema}".ef_inbox`), [
        [CONSUMER],
        10,
        LONG_LEASE,
        "w",
        claimScanBound(10),
      ]);
      expect(rows.map((r) => r.scan_full)).toEqual(Array(10).fill(false));
    } finally {
      client.release();
    }
  });

  it("eight claimers draining 4,000 entries on 8 keys take every entry once, in per-key order", async () => {
    const { store: s } = await freshStore();
    const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 4_000; i++)
      events.push(createEnvelope(Tick, { n: i }, { key: keys[i % keys.length] }));
    await s.inbox.record({ entries: events.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })) });

    const seen: Array<{ key: string; n: number }> = [];
    const claimer = async (worker: string): Promise<void> => {
      let idle = 0;
      while (idle < 20) {
        const got = await s.inbox.claim({ consumers: [CONSUMER], limit: 10, leaseMs: 30_000, worker });
        if (got.length === 0) {
          idle++;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        idle = 0;
        for (const e of got) seen.push({ key: e.event.key ?? "", n: (e.event.data as { n: number }).n });
        const outcomes = await s.inbox.complete({ entries: got });
        expect(outcomes.every((o) => o === "completed")).toBe(true);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => claimer(`w${i}`)));

    expect(seen).toHaveLength(4_000);
    expect(new Set(seen.map((x) => x.n)).size).toBe(4_000);
    // Within a key, the order entries were claimed in is the order they were recorded in.
    for (const key of keys) {
      const ns = seen.filter((x) => x.key === key).map((x) => x.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect((await s.inbox.stats({ consumers: [CONSUMER] })).pending).toBe(0);
  });
});
