import { randomBytes } from "node:crypto";
import { createEnvelope, defineEvent } from "@eventferry/core";
import { publishInTransaction } from "@eventferry/outbox";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore } from "../src/index.js";
import { available, POSTGRES_URL } from "./setup.js";

const OrderPlaced = defineEvent("order.placed", z.object({ orderId: z.string() }));

describe.runIf(available)("joinTransaction: the outbox inside the caller's own transaction", () => {
  const schema = `efj_${randomBytes(5).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 2 });
  afterAll(async () => {
    await store.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  it("the events exist if and only if the caller's business writes commit", async () => {
    await store.migrate();
    await pool.query(`CREATE TABLE "${schema}".orders (id text PRIMARY KEY)`);
    const run = async (orderId: string, outcome: "COMMIT" | "ROLLBACK") => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await client.query(`INSERT INTO "${schema}".orders VALUES ($1)`, [orderId]);
        await publishInTransaction(store.joinTransaction?.(client) as never, "events", [
          createEnvelope(OrderPlaced, { orderId }),
        ]);
        await client.query(outcome);
      } finally {
        client.release();
      }
    };
    await run("kept", "COMMIT");
    await run("dropped", "ROLLBACK");
    const rows = await store.outbox.claim({ limit: 10, leaseMs: 30_000 });
    expect(rows.map((r) => (r.event.data as { orderId: string }).orderId)).toEqual(["kept"]);
    const { rows: orders } = await pool.query(`SELECT id FROM "${schema}".orders`);
    expect(orders).toEqual([{ id: "kept" }]);
    expect(() => store.joinTransaction?.({} as never)).toThrow(/needs a pg client/);
  });
});
