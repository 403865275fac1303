import { createHash } from "node:crypto";
import { describeTransportConformance } from "@eventferry/core/testing";
import pg from "pg";
import { afterAll, describe } from "vitest";
import { createPostgresStore, createStoreTransport, type PostgresStore } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 20 });
const stores = new Map<string, PostgresStore>();
const schemaOf = (id: string): string => `eft_${createHash("sha1").update(id).digest("hex").slice(0, 20)}`;

describe.runIf(available)("postgres store: transport", () => {
  afterAll(() => pool.end());

  describeTransportConformance("store-postgres", {
    create: async ({ id }) => {
      const store = createPostgresStore({ pool, schema: schemaOf(id) });
      await store.migrate();
      stores.set(id, store);
      return createStoreTransport(store);
    },
    cleanup: async ({ id }) => {
      await stores.get(id)?.close();
      stores.delete(id);
      await dropSchema(pool, schemaOf(id));
    },
  });
});
