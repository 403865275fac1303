import { Redis } from "ioredis";

/** The test server URL (env EVENTFERRY_TEST_REDIS_URL, else the local default). */
export const REDIS_URL = process.env.EVENTFERRY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * True when Redis answers. When it does not: locally the suites skip with a one-line hint; on CI
 * (`CI=true`) this throws so the run fails.
 */
export async function redisAvailable(): Promise<boolean> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (error) {
    if (process.env.CI === "true")
      throw new Error(`Redis is not reachable at ${REDIS_URL}: ${String(error)}`);
    console.warn(
      `[transport-redis] skipping integration tests: no Redis at ${REDIS_URL} (set EVENTFERRY_TEST_REDIS_URL)`,
    );
    return false;
  } finally {
    client.disconnect();
  }
}

/** Top-level await in test files: `describe.runIf(available)`. */
export const available = await redisAvailable();

/** A unique key prefix for one test. */
export function testPrefix(name: string): string {
  return `eftest:${name}:${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Deletes every key under `prefix:` (SCAN + DEL); returns how many. */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.del(...keys);
  } while (cursor !== "0");
  return deleted;
}

/** A plain client for the tests' own commands. */
export function adminClient(): Redis {
  const client = new Redis(REDIS_URL, { lazyConnect: true });
  client.on("error", () => {});
  return client;
}
