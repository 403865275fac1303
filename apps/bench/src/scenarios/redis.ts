import { randomBytes } from "node:crypto";
import { type EncodedEvent, encodeEvent, type Subscription } from "@eventferry/core";
import { createRedisTransport, type RedisTransport } from "@eventferry/transport-redis";
import { Redis } from "ioredis";
import { chunks, makeEvents } from "../workload.js";
import { BATCH, type Run, type System, WARMUP } from "./scenario.js";

/** The server every Redis scenario uses; each run makes and deletes its own keys there. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
/** Entries per read in the Redis consume scenario (XREADGROUP COUNT / subscription batchSize). */
export const READ_COUNT = 500;

const TOPIC = "orders";
const GROUP = "bench";

interface RedisContext {
  readonly prefix: string;
  /** The stream of the measured run (Eventferry: the transport's stream of TOPIC). */
  readonly key: string;
  readonly admin: Redis;
  readonly transport?: RedisTransport;
}

function openContext(system: System): RedisContext {
  const prefix = `bench-${process.pid}-${randomBytes(4).toString("hex")}`;
  const admin = new Redis(REDIS_URL);
  if (system === "eventferry") {
    const transport = createRedisTransport({ url: REDIS_URL, prefix });
    return { prefix, key: transport.streamKey(TOPIC), admin, transport };
  }
  return { prefix, key: `${prefix}:{${TOPIC}}`, admin };
}

async function closeContext(ctx: RedisContext): Promise<void> {
  await ctx.transport?.close();
  let cursor = "0";
  do {
    const [next, keys] = await ctx.admin.scan(cursor, "MATCH", `${ctx.prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await ctx.admin.del(...keys);
  } while (cursor !== "0");
  await ctx.admin.quit();
}

/** Pre-encoded events (the wire JSON), so only the transport's work is timed on both sides. */
function encoded(n: number): EncodedEvent[] {
  return makeEvents(n).map((e) => encodeEvent(e));
}

/** Raw baseline publish: one pipeline of `XADD key * data <json>` per batch. */
async function rawPublish(admin: Redis, key: string, batch: readonly EncodedEvent[]): Promise<void> {
  const pipeline = admin.pipeline();
  for (const e of batch) pipeline.xadd(key, "*", "data", e.payload as string);
  const results = await pipeline.exec();
  if (results?.some(([error]) => error)) throw new Error("raw XADD failed");
}

/** `redis.publish`: transport.publish in batches of 1,000 vs pipelined XADD of 1,000 (ioredis). */
export function redisPublish(system: System, n: number): Run {
  let ctx: RedisContext | undefined;
  let events: EncodedEvent[] = [];
  let publishBatch: (batch: readonly EncodedEvent[]) => Promise<void> = async () => {};
  return {
    async setup() {
      events = encoded(n);
      const c = openContext(system);
      ctx = c;
      const transport = c.transport;
      publishBatch = transport
        ? (batch) => transport.publish(TOPIC, batch)
        : (batch) => rawPublish(c.admin, c.key, batch);
      for (const batch of chunks(encoded(WARMUP), BATCH)) await publishBatch(batch);
    },
    async run() {
      for (const batch of chunks(events, BATCH)) await publishBatch(batch);
    },
    async teardown() {
      if (!ctx) return;
      const count = await ctx.admin.xlen(ctx.key);
      await closeContext(ctx);
      if (count !== n + WARMUP) throw new Error(`expected ${n + WARMUP} entries, found ${count}`);
    },
  };
}

/**
 * `redis.consume`: N pre-published events (untimed) read and acked by one consumer of a group:
 * `subscription.batches()` (batchSize 500) + `ackMany`, JSON.parse per event, vs an XREADGROUP
 * COUNT 500 loop with JSON.parse per entry and one XACK of the batch's ids (ioredis).
 */
export function redisConsume(system: System, n: number): Run {
  let ctx: RedisContext | undefined;
  let subscription: Subscription | undefined;
  let consumed = 0;
  let consume: (count: number) => Promise<number> = async () => 0;
  return {
    async setup() {
      const c = openContext(system);
      ctx = c;
      const transport = c.transport;
      if (transport) {
        const sub = await transport.subscribe(TOPIC, { group: GROUP, consumer: "c1", batchSize: READ_COUNT });
        subscription = sub;
        const iterator = sub.batches()[Symbol.asyncIterator]();
        consume = async (count) => {
          let got = 0;
          let sum = 0;
          while (got < count) {
            const next = await iterator.next();
            if (next.done) break;
            const batch = next.value;
            for (const delivery of batch)
              sum += (JSON.parse(delivery.event.payload as string) as { priority: number }).priority;
            await sub.ackMany(batch);
            got += batch.length;
          }
          if (sum !== got * 3) throw new Error("unexpected payloads");
          return got;
        };
        for (const batch of chunks(encoded(WARMUP), BATCH)) await transport.publish(TOPIC, batch);
        await consume(WARMUP);
        for (const batch of chunks(encoded(n), BATCH)) await transport.publish(TOPIC, batch);
      } else {
        const admin = c.admin;
        await admin.xgroup("CREATE", c.key, GROUP, "$", "MKSTREAM");
        consume = async (count) => {
          let got = 0;
          let sum = 0;
          while (got < count) {
            const reply = (await admin.xreadgroup(
              "GROUP",
              GROUP,
              "c1",
              "COUNT",
              READ_COUNT,
              "STREAMS",
              c.key,
              ">",
            )) as [string, [string, string[]][]][] | null;
            const entries = reply?.[0]?.[1] ?? [];
            if (entries.length === 0) break;
            const ids: string[] = new Array(entries.length);
            for (let i = 0; i < entries.length; i++) {
              const [id, fields] = entries[i] as [string, string[]];
              ids[i] = id;
              const at = fields.indexOf("data");
              sum += (JSON.parse(fields[at + 1] as string) as { priority: number }).priority;
            }
            await admin.xack(c.key, GROUP, ...ids);
            got += entries.length;
          }
          if (sum !== got * 3) throw new Error("unexpected payloads");
          return got;
        };
        for (const batch of chunks(encoded(WARMUP), BATCH)) await rawPublish(admin, c.key, batch);
        await consume(WARMUP);
        for (const batch of chunks(encoded(n), BATCH)) await rawPublish(admin, c.key, batch);
      }
    },
    async run() {
      consumed = await consume(n);
    },
    async teardown() {
      if (!ctx) return;
      await subscription?.close();
      const pending = (await ctx.admin.xpending(ctx.key, GROUP)) as [number, ...unknown[]];
      await closeContext(ctx);
      if (consumed !== n) throw new Error(`expected ${n} consumed, got ${consumed}`);
      if (pending[0] !== 0) throw new Error(`${pending[0]} entries left unacknowledged`);
    },
  };
}
