import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { type ConfigFactory, NATS_URL, postgresConfig, REDIS_URL } from "./harness.js";

async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

async function dropNatsStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const info of jsm.streams.list()) {
      if (info.config.name.toLowerCase().startsWith(prefix.toLowerCase()))
        await jsm.streams.delete(info.config.name);
    }
  } finally {
    await nc.close();
  }
}

/** PostgreSQL + Redis and PostgreSQL + NATS, each with its own schema and key prefix / streams. */
export const transportConfigs: Array<[string, ConfigFactory]> = [
  [
    "PostgreSQL + Redis",
    postgresConfig(
      "PostgreSQL + Redis",
      (schema) => `${REDIS_URL}?prefix=${schema}`,
      (schema) => dropRedisPrefix(schema),
    ),
  ],
  [
    "PostgreSQL + NATS",
    postgresConfig(
      "PostgreSQL + NATS",
      (schema) => `${NATS_URL}?streamPrefix=${schema}`,
      (schema) => dropNatsStreams(schema),
    ),
  ],
];
