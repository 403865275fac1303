import { describeStoreConformance } from "@eventferry/store/testing";
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";
import { createPostgresStore } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 20 });
/** The handler-side table `txWrite` writes to (one per run, dropped afterwards). */
const kv = `ef_conformance_kv_${process.pid}_${Date.now().toString(36)}`;

describe.runIf(available)("postgres", () => {
  beforeAll(() => pool.query(`CREATE TABLE public."${kv}" (k text PRIMARY KEY, v text NOT NULL)`));
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS public."${kv}"`);
    await pool.end();
  });

  describeStoreConformance("postgres", {
    create: async ({ id }) => {
      const store = createPostgresStore({ pool, schema: id });
      await store.migrate();
      return store;
    },
    cleanup: ({ id }) => dropSchema(pool, id),
    outboxClaimHeld: true,
    txWrite: {
      write: async (client, key, value) => {
        await (client as pg.PoolClient).query(`INSERT INTO public."${kv}" VALUES ($1, $2)`, [key, value]);
      },
      read: async (_store, key) =>
        (await pool.query<{ v: string }>(`SELECT v FROM public."${kv}" WHERE k = $1`, [key])).rows[0]?.v,
    },
  });
});
