import { randomBytes } from "node:crypto";
import { defineEvent, silentLogger } from "@eventferry/core";
import { createEventferry } from "eventferry";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const schemas: string[] = [];

describe.runIf(available)("eventferry front door on PostgreSQL", () => {
  afterAll(async () => {
    for (const s of schemas) await dropSchema(admin, s);
    await admin.end();
  });

  it("createEventferry({ store: <postgres store>, transport: 'store:' }) publishes and handles through the database", async () => {
    const schema = `eff_${randomBytes(6).toString("hex")}`;
    schemas.push(schema);
    const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 6 });
    const ferry = await createEventferry({
      store,
      transport: "store:",
      logger: silentLogger,
      pollInterval: 50,
    });
    try {
      const seen: string[] = [];
      ferry.on(OrderCreated, async (event, ctx) => {
        seen.push(event.data.orderId);
        await (ctx.tx as pg.PoolClient).query("SELECT 1");
      });
      await ferry.start();
      const ids = await Promise.all([
        ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }),
        ferry.publish(OrderCreated, { orderId: "o-2", total: 2 }),
      ]);
      await ferry.whenIdle({ timeout: "10s" });
      expect(seen.sort()).toEqual(["o-1", "o-2"]);
      const logged: string[] = [];
      for await (const e of store.read()) logged.push(e.id);
      expect(logged.sort()).toEqual([...ids].sort());
    } finally {
      await ferry.stop({ timeout: "2s" });
      await store.close();
    }
  });

  it("createEventferry({ store: 'postgres://…?schema=…' }) builds the store from the URL", async () => {
    const schema = `eff_${randomBytes(6).toString("hex")}`;
    schemas.push(schema);
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes("?") ? "&" : "?"}schema=${schema}`;
    const ferry = await createEventferry({
      store: url,
      transport: "store:",
      logger: silentLogger,
      pollInterval: 50,
    });
    try {
      const seen: number[] = [];
      ferry.on(OrderCreated, async (event) => {
        seen.push(event.data.total);
      });
      await ferry.start();
      await ferry.publish(OrderCreated, { orderId: "o-3", total: 3 });
      await ferry.whenIdle({ timeout: "10s" });
      expect(seen).toEqual([3]);
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".ef_events`);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await ferry.stop({ timeout: "2s" });
    }
  });
});
