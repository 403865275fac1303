// JIT is off on the connections the store creates from `url` (a claim's generic plan could spend
// hundreds of milliseconds compiling); `jit: true` keeps the server's setting; an `options`
// parameter in the URL replaces the store's; a caller's own pool is left alone.
import { randomBytes } from "node:crypto";
import { ConfigError } from "@eventferry/core";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createPostgresStore } from "../src/index.js";
import { available, POSTGRES_URL } from "./setup.js";

const schema = () => `efj_${randomBytes(4).toString("hex")}`;

async function serverJit(): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<{ jit: string }>("SHOW jit")).rows[0]?.jit ?? "";
  } finally {
    await client.end();
  }
}

describe.runIf(available)("jit on the store's connections", () => {
  it("is off by default, in pool.query and inside transactions", async () => {
    const store = createPostgresStore({ url: POSTGRES_URL, schema: schema(), listen: false });
    try {
      expect((await store.pool.query<{ jit: string }>("SHOW jit")).rows[0]?.jit).toBe("off");
      const inTx = await store.transaction(async (tx) => (await tx.client.query("SHOW jit")).rows[0]?.jit);
      expect(inTx).toBe("off");
    } finally {
      await store.close();
    }
  });

  it("keeps the server's setting with jit: true, and the URL's options win over the store's", async () => {
    const server = await serverJit();
    const withJit = createPostgresStore({ url: POSTGRES_URL, schema: schema(), listen: false, jit: true });
    try {
      expect((await withJit.pool.query<{ jit: string }>("SHOW jit")).rows[0]?.jit).toBe(server);
    } finally {
      await withJit.close();
    }
    const url = new URL(POSTGRES_URL);
    url.searchParams.set("options", "-c statement_timeout=4321");
    const withOptions = createPostgresStore({ url: url.toString(), schema: schema(), listen: false });
    try {
      const { rows } = await withOptions.pool.query<{ jit: string; timeout: string }>(
        "SELECT current_setting('jit') AS jit, current_setting('statement_timeout') AS timeout",
      );
      expect(rows[0]).toEqual({ jit: server, timeout: "4321ms" });
    } finally {
      await withOptions.close();
    }
  });

  it("leaves a caller's own pool alone, and rejects a jit that is not a boolean", async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    const store = createPostgresStore({ pool, schema: schema(), listen: false });
    try {
      expect((await pool.query<{ jit: string }>("SHOW jit")).rows[0]?.jit).toBe(await serverJit());
    } finally {
      await store.close();
      await pool.end();
    }
    expect(() => createPostgresStore({ url: POSTGRES_URL, jit: "no" as unknown as boolean })).toThrow(
      ConfigError,
    );
  });
});
