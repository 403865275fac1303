import pg from "pg";

/** The test server URL (env EVENTFERRY_TEST_POSTGRES_URL, else the local default). */
export const POSTGRES_URL =
  process.env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * True when PostgreSQL answers. When it does not: locally the suites skip with a one-line hint;
 * on CI (`CI=true`) this throws so the run fails.
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch (error) {
    if (process.env.CI === "true")
      throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL}: ${String(error)}`);
    console.warn(
      `[store-postgres] skipping integration tests: no PostgreSQL at ${POSTGRES_URL} (set EVENTFERRY_TEST_POSTGRES_URL)`,
    );
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Top-level await in test files: `describe.runIf(available)`. */
export const available = await postgresAvailable();

/** Drops a test schema. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
