/**
 * Fixed-rate latency scenarios (the inbox issue's "p50/p99 publish → handler latency at a steady
 * 2,000 events/s"): events fall due one by one at 2,000/s for 10 s (20,000 events) and are
 * published one per call, at most 20 calls in flight (the rest wait in a send queue in the process,
 * which grows if the system cannot keep up), in the same process as the consumer. The latency of
 * an event is `performance.now()` in its handler minus `performance.now()` when it fell due (looked
 * up by event id; both in this process). Events due in the first second are warm-up and not
 * counted. The run ends when every event is handled; `backlogAtEnd` is the sends queued or in
 * flight when the 10 s ended.
 *
 * - `latency.redis-postgres`: Eventferry (Redis Streams → PostgreSQL inbox), the hand-written
 *   pipeline, BullMQ, pg-boss, graphile-worker.
 * - `latency.sqlite`: Eventferry (SQLite store, `store:` transport) and the hand-written pipeline.
 *
 * Eventferry's inbox is created for latency: pollInterval 10 ms (default 1 s), batchSize 100 (the
 * default; 50 fell behind under load), concurrency 20; override with BENCH_LAT_POLL /
 * BENCH_LAT_BATCH. PostgreSQL store with LISTEN on; the Redis
 * transport's XREADGROUP blocks (returns as soon as entries arrive); the SQLite `store:` transport
 * polls idle subscriptions every 1–50 ms (publishes in this process wake it at once).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type EventEnvelope, encodeEvent, silentLogger, type Transport } from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import type { Store } from "@eventferry/store";
import { createPostgresStore } from "@eventferry/store-postgres";
import {
  createSqliteStore,
  createStoreTransport as createSqliteStoreTransport,
} from "@eventferry/store-sqlite";
import { createRedisTransport } from "@eventferry/transport-redis";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import pg from "pg";
import { RATE, SECONDS } from "../systems.js";
import { makeEvents } from "../workload.js";
import { dropRedisKeys, dropSchema, REDIS_URL } from "./cleanup.js";
import { openPeer, type PeerPipeline, waitFor } from "./peers.js";
import { POSTGRES_URL, values } from "./postgres.js";
import { isPeer, type Run, type RunOutcome, type System } from "./scenario.js";

/** Events published in the first second are not counted. */
const WARMUP_SECONDS = 1;
const TOPIC = "orders";
const GROUP = "bench";

/** Eventferry's inbox settings for the latency scenarios. */
export const LATENCY_INBOX = {
  concurrency: 20,
  batchSize: Number(process.env.BENCH_LAT_BATCH ?? 100),
  pollInterval: Number(process.env.BENCH_LAT_POLL ?? 10),
} as const;

/**
 * Publish calls in flight at once; events due beyond that wait in a queue in this process (their
 * latency counts from when they were due), as a service's request handlers would wait on a pool.
 */
const MAX_IN_FLIGHT = 20;

/** A consumer under test: `publish` one event; the consumer calls the `onEvent` given to `open`. */
interface Pipeline {
  publish(event: EventEnvelope): Promise<unknown>;
  close(): Promise<void>;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** The fixed-rate run around any pipeline. */
function fixedRate(open: (onEvent: (event: EventEnvelope) => void) => Promise<Pipeline>): Run {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let handled = 0;
  let windowStart = 0;
  let pipeline: Pipeline | undefined;
  let events: EventEnvelope[] = [];
  const onEvent = (event: EventEnvelope) => {
    const now = performance.now();
    const t = sentAt.get(event.id);
    if (t === undefined) return; // warm-up events
    handled++;
    if (t >= windowStart + WARMUP_SECONDS * 1000) latencies.push(now - t);
  };
  return {
    async setup() {
      pipeline = await open(onEvent);
      // Warm-up: 500 events one by one through the same path, untimed and not counted.
      const warm = makeEvents(500);
      for (const e of warm) sentAt.set(e.id, Number.NEGATIVE_INFINITY);
      await Promise.all(warm.map((e) => pipeline?.publish(e)));
      await waitFor(() => handled >= warm.length, 5, 120_000);
      handled = 0;
      sentAt.clear();
      events = makeEvents(RATE * SECONDS);
    },
    async run(): Promise<RunOutcome> {
      const p = pipeline as Pipeline;
      const total = events.length;
      let due = 0;
      let inFlight = 0;
      let failure: unknown;
      const queue: EventEnvelope[] = [];
      const pump = () => {
        while (inFlight < MAX_IN_FLIGHT && queue.length > 0) {
          const e = queue.shift() as EventEnvelope;
          inFlight++;
          p.publish(e).then(
            () => {
              inFlight--;
              pump();
            },
            (error: unknown) => {
              failure = error;
            },
          );
        }
      };
      windowStart = performance.now();
      while (due < total) {
        const dueNow = Math.min(total, Math.floor(((performance.now() - windowStart) / 1000) * RATE) + 1);
        for (; due < dueNow; due++) {
          const e = events[due] as EventEnvelope;
          sentAt.set(e.id, performance.now());
          queue.push(e);
        }
        pump();
        await new Promise((r) => setTimeout(r, 1));
      }
      // The window ends when the last event is due (10 s after the start).
      const backlogAtEnd = queue.length + inFlight;
      await waitFor(
        () => {
          if (failure) throw failure;
          return handled >= total;
        },
        2,
        600_000,
      );
      latencies.sort((a, b) => a - b);
      return {
        events: total,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        backlogAtEnd,
      };
    },
    async teardown() {
      await pipeline?.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Eventferry

async function ferryPipeline(
  parts: { store: Store; transport: Transport; close(): Promise<void> },
  onEvent: (event: EventEnvelope) => void,
): Promise<Pipeline> {
  await parts.store.migrate();
  const inbox: Inbox = createInbox({
    store: parts.store,
    transport: parts.transport,
    group: GROUP,
    topic: TOPIC,
    ...LATENCY_INBOX,
    logger: silentLogger,
  }).handle("order.created", async (event) => {
    onEvent(event as EventEnvelope);
  });
  await inbox.start();
  return {
    publish: (event) => parts.transport.publish(TOPIC, [encodeEvent(event)]),
    async close() {
      await inbox.stop({ timeout: 5_000 });
      await parts.close();
    },
  };
}

async function ferryRedisPostgres(onEvent: (event: EventEnvelope) => void): Promise<Pipeline> {
  const schema = `bench_lat_${process.pid}_${randomBytes(3).toString("hex")}`;
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 10, listen: true });
  const prefix = `bench-lat-${randomBytes(3).toString("hex")}`;
  const transport = createRedisTransport({ url: REDIS_URL, prefix });
  return ferryPipeline(
    {
      store,
      transport,
      async close() {
        await transport.close();
        await dropRedisKeys(`${prefix}:*`);
        await store.close();
        await dropSchema(schema);
      },
    },
    onEvent,
  );
}

async function ferrySqlite(onEvent: (event: EventEnvelope) => void): Promise<Pipeline> {
  const dir = mkdtempSync(join(tmpdir(), "ef-bench-lat-"));
  const store = createSqliteStore({ path: join(dir, "events.db") });
  const transport = createSqliteStoreTransport(store, { minPollMs: 1, maxPollMs: 50 });
  return ferryPipeline(
    {
      store,
      transport,
      async close() {
        await transport.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    },
    onEvent,
  );
}

// ---------------------------------------------------------------------------------------------
// Raw: the hand-written pipeline, tuned for latency the way the anchors' "ideal inbox" was

/** A wake-up signal: `wait(ms)` resolves on the next `wake()` or after `ms`. */
class Signal {
  private waiters: (() => void)[] = [];
  wake(): void {
    const list = this.waiters;
    this.waiters = [];
    for (const w of list) w();
  }
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Redis stream → PostgreSQL inbox by hand: one XADD per event; 2 ingest loops (XREADGROUP COUNT 500
 * BLOCK 1000 → multi-row INSERT … ON CONFLICT DO NOTHING → XACK), dispatchers woken in-process
 * after each INSERT commit; 2 dispatch loops (claim FOR UPDATE SKIP LOCKED + handler + mark
 * processed in one transaction).
 */
async function rawRedisPostgres(onEvent: (event: EventEnvelope) => void): Promise<Pipeline> {
  const key = `bench-lat-raw-${randomBytes(3).toString("hex")}:{orders}`;
  const schema = `bench_lat_raw_${process.pid}_${randomBytes(3).toString("hex")}`;
  const t = `"${schema}".inbox`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE ${t} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL, event_id text NOT NULL, type text NOT NULL, event jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending', attempt integer NOT NULL DEFAULT 0, finished_at timestamptz,
    UNIQUE (consumer, event_id));
    CREATE INDEX ON ${t} (consumer, seq) WHERE status = 'pending'`);
  const redis = new Redis(REDIS_URL);
  await redis.xgroup("CREATE", key, GROUP, "$", "MKSTREAM");
  const signal = new Signal();
  let running = true;
  const ingest = async (name: string) => {
    const conn = redis.duplicate();
    try {
      while (running) {
        const res = (await conn.xreadgroup(
          "GROUP",
          GROUP,
          name,
          "COUNT",
          500,
          "BLOCK",
          200,
          "STREAMS",
          key,
          ">",
        )) as [string, [string, string[]][]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        const params: unknown[] = [];
        for (const [, fields] of entries) {
          const e = JSON.parse(fields[1] as string) as EventEnvelope;
          params.push(GROUP, e.id, e.type, fields[1]);
        }
        await pool.query(
          `INSERT INTO ${t} (consumer, event_id, type, event) VALUES ${values(entries.length, 4)} ON CONFLICT DO NOTHING`,
          params,
        );
        signal.wake();
        await redis.xack(key, GROUP, ...entries.map(([id]) => id));
      }
    } finally {
      conn.disconnect();
    }
  };
  const dispatch = async () => {
    const client = await pool.connect();
    try {
      while (running) {
        await client.query("BEGIN");
        const { rows } = await client.query<{ seq: string; event: EventEnvelope }>(
          `SELECT seq, event FROM ${t} WHERE consumer = $1 AND status = 'pending' ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED`,
          [GROUP],
        );
        for (const row of rows) onEvent(row.event);
        if (rows.length > 0) {
          await client.query(
            `UPDATE ${t} SET status = 'completed', attempt = attempt + 1, finished_at = now() WHERE seq = ANY($1::bigint[])`,
            [rows.map((row) => row.seq)],
          );
        }
        await client.query("COMMIT");
        if (rows.length === 0) await signal.wait(100);
      }
    } finally {
      client.release();
    }
  };
  const loops = [ingest("c1"), ingest("c2"), dispatch(), dispatch()];
  return {
    publish: (event) => redis.xadd(key, "*", "data", JSON.stringify(event)),
    async close() {
      running = false;
      signal.wake();
      await Promise.all(loops);
      await redis.del(key);
      redis.disconnect();
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/**
 * SQLite by hand (better-sqlite3, WAL, synchronous=NORMAL): one INSERT transaction into a queue
 * table per event; one consumer loop, woken after each publish (setImmediate), moves the queue
 * into the inbox table, then claims (UPDATE … RETURNING) and completes in one transaction.
 */
async function rawSqlite(onEvent: (event: EventEnvelope) => void): Promise<Pipeline> {
  const dir = mkdtempSync(join(tmpdir(), "ef-bench-lat-raw-"));
  const db = new Database(join(dir, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(`CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL);
    CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL, event_id TEXT NOT NULL,
      type TEXT NOT NULL, event TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
      UNIQUE (consumer, event_id));
    CREATE INDEX inbox_pending ON inbox (consumer, seq) WHERE status = 'pending';`);
  const insert = db.prepare("INSERT INTO queue (payload) VALUES (?)");
  const read = db.prepare("SELECT seq, payload FROM queue ORDER BY seq LIMIT 500");
  const record = db.prepare(
    "INSERT INTO inbox (consumer, event_id, type, event, status) VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
  );
  const ack = db.prepare("DELETE FROM queue WHERE seq <= ?");
  const claim = db.prepare(
    "UPDATE inbox SET status = 'in-flight', attempt = attempt + 1 WHERE seq IN (SELECT seq FROM inbox WHERE consumer = ? AND status = 'pending' ORDER BY seq LIMIT 500) RETURNING seq, event",
  );
  const complete = db.prepare("UPDATE inbox SET status = 'completed' WHERE seq = ?");
  const ingestTx = db.transaction(() => {
    const rows = read.all() as { seq: number; payload: string }[];
    for (const r of rows) {
      const e = JSON.parse(r.payload) as EventEnvelope;
      record.run(GROUP, e.id, e.type, r.payload);
    }
    if (rows.length > 0) ack.run((rows[rows.length - 1] as { seq: number }).seq);
    return rows.length;
  });
  const dispatchTx = db.transaction(() => {
    const rows = claim.all(GROUP) as { seq: number; event: string }[];
    const list: EventEnvelope[] = [];
    for (const r of rows) {
      list.push(JSON.parse(r.event) as EventEnvelope);
      complete.run(r.seq);
    }
    return list;
  });
  const signal = new Signal();
  let running = true;
  const loop = (async () => {
    while (running) {
      const ingested = ingestTx();
      const list = dispatchTx();
      for (const e of list) onEvent(e); // the handler, after the claim committed
      if (ingested === 0 && list.length === 0) await signal.wait(50);
      else await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    async publish(event) {
      insert.run(JSON.stringify(event));
      signal.wake();
    },
    async close() {
      running = false;
      signal.wake();
      await loop;
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------

function peerPipeline(system: System) {
  return async (onEvent: (event: EventEnvelope) => void): Promise<Pipeline> => {
    if (!isPeer(system)) throw new Error(`not a peer: ${system}`);
    const peer: PeerPipeline = await openPeer(system, onEvent, "latency");
    return { publish: (e) => peer.publishOne(e), close: () => peer.close() };
  };
}

/** `latency.redis-postgres`: 2,000 events/s for 10 s through Redis → PostgreSQL (or a peer). */
export function latencyRedisPostgres(system: System, _n: number): Run {
  if (system === "eventferry") return fixedRate(ferryRedisPostgres);
  if (system === "raw") return fixedRate(rawRedisPostgres);
  return fixedRate(peerPipeline(system));
}

/** `latency.sqlite`: 2,000 events/s for 10 s through the SQLite store. */
export function latencySqlite(system: System, _n: number): Run {
  if (system === "eventferry") return fixedRate(ferrySqlite);
  if (system === "raw") return fixedRate(rawSqlite);
  throw new Error(`latency.sqlite has no ${system} side`);
}
