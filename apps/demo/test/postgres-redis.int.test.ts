// The demo on PostgreSQL + Redis Streams: the same scenarios as on SQLite, by changing only
// EVENTFERRY_STORE and EVENTFERRY_TRANSPORT. Each app gets its own schema and key prefix.
import { afterAll, describe, expect, it } from "vitest";
import type { DemoConfig } from "../src/config.js";
import { describeDemoScenarios } from "./scenarios.js";
import {
  deleteRedisPrefixes,
  dropSchemas,
  leftovers,
  POSTGRES_URL,
  postgresAvailable,
  REDIS_URL,
  redisAvailable,
  uniqueName,
  withQuery,
} from "./services.js";

const available = (await postgresAvailable()) && (await redisAvailable());
const schemas: string[] = [];
const prefixes: string[] = [];

/** One configuration, as the two variables would give it. */
function postgresRedisConfig(): Partial<DemoConfig> {
  const name = uniqueName("pr");
  schemas.push(name);
  prefixes.push(name);
  return {
    store: withQuery(POSTGRES_URL, { schema: name }),
    transport: withQuery(REDIS_URL, { prefix: name, blockMs: "200" }),
  };
}

describe.runIf(available)("PostgreSQL + Redis", () => {
  afterAll(async () => {
    await dropSchemas(schemas);
    await deleteRedisPrefixes(prefixes);
    expect(await leftovers({ redis: prefixes })).toBe(0);
  });

  describeDemoScenarios("PostgreSQL with the Redis transport", postgresRedisConfig);

  it("migrates idempotently: two instances start together on one schema, and a restart keeps the data", async () => {
    const { startTestApp, anOrder, eventually } = await import("./harness.js");
    const config = postgresRedisConfig();
    const [a, b] = await Promise.all([startTestApp(config), startTestApp(config)]);
    let order: string;
    try {
      const created = await a.call("POST", "/orders", { json: anOrder("c-twice") });
      expect(created.status).toBe(201);
      order = created.body.order.id;
      // Either instance may handle it (one consumer group); both read the same tables.
      await eventually(async () => (await b.call("GET", "/customers/c-twice/stats")).body.orders === 1);
    } finally {
      await Promise.all([a.app.shutdown(), b.app.shutdown()]);
    }
    const again = await startTestApp(config);
    try {
      expect((await again.call("GET", `/orders/${order}`)).body).toMatchObject({ id: order, total: 28 });
      expect((await again.call("GET", "/customers/c-twice/stats")).body).toMatchObject({
        orders: 1,
        totalSpent: 28,
      });
    } finally {
      await again.app.shutdown();
    }
  });

  it("keeps the shop's tables in the URL's schema, next to the store's", async () => {
    const { startTestApp, anOrder } = await import("./harness.js");
    const config = postgresRedisConfig();
    const t = await startTestApp(config);
    try {
      expect((await t.call("POST", "/orders", { json: anOrder("c-schema") })).status).toBe(201);
      const { createPostgresStore } = await import("@eventferry/store-postgres");
      const probe = createPostgresStore({ url: POSTGRES_URL, listen: false, poolSize: 1 });
      try {
        const { rows } = await probe.pool.query(
          "select table_name from information_schema.tables where table_schema = $1 order by table_name",
          [schemas.at(-1)],
        );
        const tables = rows.map((r: { table_name: string }) => r.table_name);
        expect(tables).toEqual(
          expect.arrayContaining(["demo_orders", "demo_notifications", "demo_audit_log"]),
        );
        expect(tables.some((name: string) => !name.startsWith("demo_"))).toBe(true);
      } finally {
        await probe.close();
      }
    } finally {
      await t.app.shutdown();
    }
  });
});
