/** Clean-up helpers (and the servers' URLs) shared by the scenarios. */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import pg from "pg";
import { POSTGRES_URL } from "./postgres.js";

/** The Redis server of the Redis scenarios (`BENCH_REDIS_URL`). */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** The NATS server of the NATS scenarios (`BENCH_NATS_URL`). */
export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";

/** Deletes the JetStream streams whose name starts with `prefix`. */
export async function dropNatsStreams(prefix: string): Promise<void> {
  const nc = await natsConnect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith(prefix)) await jsm.streams.delete(info.config.name);
    }
  } finally {
    await nc.close();
  }
}

/** Deletes the Redis keys matching `pattern` (SCAN + DEL; never FLUSH). */
export async function dropRedisKeys(pattern: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** Drops a PostgreSQL schema this run created. */
export async function dropSchema(schema: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}
