// The servers of the integration tests (PostgreSQL, Redis, NATS): URLs from env with the local
// defaults, an availability check (skip locally with a hint, fail on CI), unique names per test and
// cleanup of everything a test created.
import { createPostgresStore } from "@eventferry/store-postgres";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { PgQueryable } from "../src/repository/postgres-shop-repository.js";

export const POSTGRES_URL =
  process.env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.EVENTFERRY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const NATS_URL = process.env.EVENTFERRY_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

const NATS_SERVERS = NATS_URL.replace(/\?.*$/, "");

/** A name unique to this run, valid as a PG schema, a Redis prefix segment and a NATS stream name. */
export function uniqueName(label: string): string {
  return `demo_${label}_${process.pid}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** `url` with `params` added to its query. */
export function withQuery(url: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return `${url}${url.includes("?") ? "&" : "?"}${query}`;
}

async function check(name: string, url: string, probe: () => Promise<void>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const hint = `${name} does not answer at ${url}: ${error instanceof Error ? error.message : String(error)}`;
    if (process.env.CI === "true") throw new Error(hint);
    console.warn(`[demo] skipping: ${hint}`);
    return false;
  }
}

/** Runs `fn` with a pool on the test database, then ends it. */
async function withPostgres<T>(fn: (db: PgQueryable) => Promise<T>): Promise<T> {
  const store = createPostgresStore({
    url: POSTGRES_URL,
    listen: false,
    poolSize: 1,
    connectionTimeoutMs: 3_000,
  });
  try {
    return await fn(store.pool as unknown as PgQueryable);
  } finally {
    await store.close();
  }
}

export const postgresAvailable = (): Promise<boolean> =>
  check("PostgreSQL", POSTGRES_URL, () => withPostgres(async (db) => void (await db.query("select 1"))));

export const redisAvailable = (): Promise<boolean> =>
  check("Redis", REDIS_URL, async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
    try {
      await redis.connect();
      await redis.ping();
    } finally {
      redis.disconnect();
    }
  });

export const natsAvailable = (): Promise<boolean> =>
  check("NATS JetStream", NATS_URL, async () => {
    const nc = await connect({ servers: NATS_SERVERS, timeout: 2_000 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
    } finally {
      await nc.close();
    }
  });

/** Drops PostgreSQL schemas (the store's tables and the shop's). */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  await withPostgres(async (db) => {
    for (const schema of schemas) await db.query(`drop schema if exists "${schema}" cascade`);
  });
}

/** Deletes every Redis key under the prefixes (`<prefix>:…`). */
export async function deleteRedisPrefixes(prefixes: readonly string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for (const prefix of prefixes) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}

/** Deletes the NATS streams of the prefixes (a transport's stream is named after its prefix). */
export async function deleteNatsStreams(prefixes: readonly string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const nc = await connect({ servers: NATS_SERVERS, timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    for (const name of names.filter((n) => prefixes.some((p) => n === p || n.startsWith(`${p}`)))) {
      await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

/** How many Redis keys and NATS streams remain under the prefixes (for the cleanup checks). */
export async function leftovers(prefixes: {
  redis?: readonly string[];
  nats?: readonly string[];
}): Promise<number> {
  let count = 0;
  if (prefixes.redis?.length) {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      for (const prefix of prefixes.redis) count += (await redis.keys(`${prefix}:*`)).length;
    } finally {
      redis.disconnect();
    }
  }
  if (prefixes.nats?.length) {
    const nc = await connect({ servers: NATS_SERVERS, timeout: 5_000 });
    try {
      const jsm = await jetstreamManager(nc);
      for await (const name of jsm.streams.names())
        if (prefixes.nats.some((p) => name.startsWith(p))) count++;
    } finally {
      await nc.close();
    }
  }
  return count;
}
