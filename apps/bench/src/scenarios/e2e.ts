/**
 * End-to-end scenarios of the inbox (issue 7): a producer and a consumer in one process, N events
 * of ~250 B published in batches of 1,000 while the consumer runs, a no-op handler that writes
 * nothing; timed from the first publish until every event is handled and its completion committed.
 *
 * - `e2e.sqlite`          SQLite store + `store:` transport (the embedded default)
 * - `e2e.redis-postgres`  Redis Streams → PostgreSQL
 * - `e2e.nats-postgres`   NATS JetStream → PostgreSQL
 *
 * `raw` is the same pipeline written by hand on the drivers, the way the peer figures'
 * "ideal inbox" was: stream entries read in batches of 500 → one multi-row INSERT … ON CONFLICT
 * DO NOTHING into an inbox table → ack; two dispatch loops: claim FOR UPDATE SKIP LOCKED + mark
 * processed in one transaction (SQLite: the same statements, one writer).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EventEnvelope, encodeEvent, silentLogger, type Transport } from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import type { Store } from "@eventferry/store";
import { createPostgresStore } from "@eventferry/store-postgres";
import {
  createSqliteStore,
  createStoreTransport as createSqliteStoreTransport,
} from "@eventferry/store-sqlite";
import { createNatsTransport } from "@eventferry/transport-nats";
import { createRedisTransport } from "@eventferry/transport-redis";
import { AckPolicy, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect } from "@nats-io/transport-node";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import pg from "pg";
import { chunks, makeEvents } from "../workload.js";
import { dropNatsStreams, dropRedisKeys, dropSchema, NATS_URL, REDIS_URL } from "./cleanup.js";
import { POSTGRES_URL, values } from "./postgres.js";
import { BATCH, type Run, type System } from "./scenario.js";

const TOPIC = "orders";
const GROUP = "bench";
/** Entries per transport read, store claim and insert. */
const READ_BATCH = 500;
/** Handlers running at once in the Eventferry inbox. */
const CONCURRENCY = 20;

// ---------------------------------------------------------------------------------------------
// Eventferry: one pipeline for every store/transport pair

interface FerryParts {
  store: Store;
  transport: Transport;
  close(): Promise<void>;
}

function ferryRun(n: number, open: () => Promise<FerryParts>): Run {
  let parts: FerryParts | undefined;
  let inbox: Inbox | undefined;
  let handled = 0;
  let target = 0;
  let reached: () => void = () => {};
  let events: EventEnvelope[] = [];
  const publish = async (list: readonly EventEnvelope[]) => {
    for (const batch of chunks(list, BATCH))
      await (parts as FerryParts).transport.publish(
        TOPIC,
        batch.map((e) => encodeEvent(e)),
      );
  };
  const until = (count: number) => {
    target = count;
    return new Promise<void>((resolve) => {
      reached = resolve;
      if (handled >= target) resolve();
    });
  };
  const settled = async (count: number) => {
    for (;;) {
      const stats = await (parts as FerryParts).store.inbox.stats();
      if (stats.completed >= count) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  return {
    async setup() {
      parts = await open();
      await parts.store.migrate();
      inbox = createInbox({
        store: parts.store,
        transport: parts.transport,
        group: GROUP,
        topic: TOPIC,
        concurrency: CONCURRENCY,
        batchSize: READ_BATCH,
        logger: silentLogger,
      }).handle("order.created", async () => {
        if (++handled >= target) reached();
      });
      await inbox.start();
      const warmup = makeEvents(2_000);
      const done = until(warmup.length);
      await publish(warmup);
      await done;
      await settled(warmup.length);
      handled = 0;
      events = makeEvents(n);
    },
    async run() {
      const done = until(n);
      await Promise.all([publish(events), done]);
      await settled(2_000 + n);
    },
    async teardown() {
      await inbox?.stop({ timeout: 5_000 });
      await parts?.close();
    },
  };
}

export function e2eSqlite(system: System, n: number): Run {
  if (system === "raw") return rawSqlite(n);
  const dir = mkdtempSync(join(tmpdir(), "ef-bench-e2e-"));
  return ferryRun(n, async () => {
    const store = createSqliteStore({ path: join(dir, "events.db") });
    const transport = createSqliteStoreTransport(store);
    return {
      store,
      transport,
      async close() {
        await transport.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

async function pgStore(): Promise<{ store: Store; drop(): Promise<void> }> {
  const schema = `bench_e2e_${process.pid}_${randomBytes(3).toString("hex")}`;
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 10, listen: true });
  return {
    store,
    async drop() {
      await store.close();
      await dropSchema(schema);
    },
  };
}

export function e2eRedisPostgres(system: System, n: number): Run {
  if (system === "raw") return rawRedisPostgres(n);
  return ferryRun(n, async () => {
    const { store, drop } = await pgStore();
    const prefix = `bench-e2e-${randomBytes(3).toString("hex")}`;
    const transport = createRedisTransport({ url: REDIS_URL, prefix });
    return {
      store,
      transport,
      async close() {
        await transport.close();
        await dropRedisKeys(`${prefix}:*`);
        await drop();
      },
    };
  });
}

export function e2eNatsPostgres(system: System, n: number): Run {
  if (system === "raw") return rawNatsPostgres(n);
  return ferryRun(n, async () => {
    const { store, drop } = await pgStore();
    const streamPrefix = `bench_e2e_${randomBytes(3).toString("hex")}`;
    const transport = createNatsTransport({ servers: NATS_URL, streamPrefix });
    return {
      store,
      transport,
      async close() {
        await transport.close();
        await dropNatsStreams(streamPrefix);
        await drop();
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Raw: the pipeline written by hand on the drivers

/** The hand-written inbox on PostgreSQL: multi-row insert, and claim + complete in one transaction. */
async function rawPgInbox() {
  const schema = `bench_raw_${process.pid}_${randomBytes(3).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 6 });
  const t = `"${schema}".inbox`;
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(`CREATE TABLE ${t} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL, event_id text NOT NULL, type text NOT NULL, event jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending', attempt integer NOT NULL DEFAULT 0, finished_at timestamptz,
    UNIQUE (consumer, event_id));
    CREATE INDEX ON ${t} (consumer, seq) WHERE status = 'pending'`);
  let completed = 0;
  let running = true;
  const record = async (events: readonly EventEnvelope[]) => {
    const params: unknown[] = [];
    for (const e of events) params.push(GROUP, e.id, e.type, JSON.stringify(e));
    await pool.query(
      `INSERT INTO ${t} (consumer, event_id, type, event) VALUES ${values(events.length, 4)} ON CONFLICT DO NOTHING`,
      params,
    );
  };
  const dispatch = async () => {
    const client = await pool.connect();
    try {
      while (running) {
        await client.query("BEGIN");
        const { rows } = await client.query<{ seq: string; event: EventEnvelope }>(
          `SELECT seq, event FROM ${t} WHERE consumer = $1 AND status = 'pending' ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [GROUP, READ_BATCH],
        );
        if (rows.length > 0) {
          for (const row of rows) void row.event; // the handler: a no-op
          await client.query(
            `UPDATE ${t} SET status = 'completed', attempt = attempt + 1, finished_at = now() WHERE seq = ANY($1::bigint[])`,
            [rows.map((row) => row.seq)],
          );
        }
        await client.query("COMMIT");
        completed += rows.length;
        if (rows.length === 0) await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      client.release();
    }
  };
  return {
    record,
    startDispatch: () => [dispatch(), dispatch()],
    completed: () => completed,
    reset: () => {
      completed = 0;
    },
    async close(loops: Promise<void>[]) {
      running = false;
      await Promise.all(loops);
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

function rawRedisPostgres(n: number): Run {
  const key = `bench-raw-${randomBytes(3).toString("hex")}:{orders}`;
  let redis: Redis;
  let inbox: Awaited<ReturnType<typeof rawPgInbox>>;
  let loops: Promise<void>[] = [];
  let ingesting = true;
  let events: EventEnvelope[] = [];
  const produce = async (list: readonly EventEnvelope[]) => {
    for (const batch of chunks(list, BATCH)) {
      const p = redis.pipeline();
      for (const e of batch) p.xadd(key, "*", "data", JSON.stringify(e));
      await p.exec();
    }
  };
  const ingest = async (name: string) => {
    const conn = redis.duplicate();
    try {
      while (ingesting) {
        const res = (await conn.xreadgroup(
          "GROUP",
          GROUP,
          name,
          "COUNT",
          READ_BATCH,
          "BLOCK",
          100,
          "STREAMS",
          key,
          ">",
        )) as [string, [string, string[]][]][] | null;
        const entries = res?.[0]?.[1] ?? [];
        if (entries.length === 0) continue;
        const parsed = entries.map(([, fields]) => JSON.parse(fields[1] as string) as EventEnvelope);
        await inbox.record(parsed);
        await redis.xack(key, GROUP, ...entries.map(([id]) => id));
      }
    } finally {
      conn.disconnect();
    }
  };
  return {
    async setup() {
      redis = new Redis(REDIS_URL);
      await redis.xgroup("CREATE", key, GROUP, "$", "MKSTREAM");
      inbox = await rawPgInbox();
      loops = [ingest("c1"), ingest("c2"), ...inbox.startDispatch()];
      await produce(makeEvents(2_000));
      await waitUntil(() => inbox.completed() >= 2_000);
      inbox.reset();
      events = makeEvents(n);
    },
    async run() {
      await produce(events);
      await waitUntil(() => inbox.completed() >= n);
    },
    async teardown() {
      ingesting = false;
      await inbox.close(loops);
      await redis.del(key);
      redis.disconnect();
    },
  };
}

function rawNatsPostgres(n: number): Run {
  const stream = `bench_raw_${randomBytes(3).toString("hex")}`;
  const subject = `${stream}.orders`;
  let nc: Awaited<ReturnType<typeof natsConnect>>;
  let inbox: Awaited<ReturnType<typeof rawPgInbox>>;
  let loops: Promise<void>[] = [];
  let ingesting = true;
  let events: EventEnvelope[] = [];
  const produce = async (list: readonly EventEnvelope[]) => {
    const js = jetstream(nc);
    const window = new Set<Promise<unknown>>();
    for (const e of list) {
      const p = js.publish(subject, JSON.stringify(e), { msgID: e.id });
      window.add(p);
      void p.finally(() => window.delete(p));
      if (window.size >= 1_000) await Promise.race(window);
    }
    await Promise.all(window);
  };
  const ingest = async () => {
    const consumer = await jetstream(nc).consumers.get(stream, GROUP);
    while (ingesting) {
      const batch = await consumer.fetch({ max_messages: READ_BATCH, expires: 1_000 });
      const msgs: JsMsg[] = [];
      for await (const m of batch) msgs.push(m);
      if (msgs.length === 0) continue;
      await inbox.record(msgs.map((m) => m.json<EventEnvelope>()));
      for (const m of msgs) m.ack();
    }
  };
  return {
    async setup() {
      // noAsyncTraces: the client setting the transport uses (no Error objects built per request).
      nc = await natsConnect({ servers: NATS_URL, noAsyncTraces: true });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [subject] });
      await jsm.consumers.add(stream, {
        durable_name: GROUP,
        ack_policy: AckPolicy.Explicit,
        max_ack_pending: 20_000,
      });
      inbox = await rawPgInbox();
      loops = [ingest(), ingest(), ...inbox.startDispatch()];
      await produce(makeEvents(2_000));
      await waitUntil(() => inbox.completed() >= 2_000);
      inbox.reset();
      events = makeEvents(n);
    },
    async run() {
      await produce(events);
      await waitUntil(() => inbox.completed() >= n);
    },
    async teardown() {
      ingesting = false;
      await inbox.close(loops);
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream);
      await nc.close();
    },
  };
}

/** By hand on better-sqlite3: a queue table, an inbox table, one writer, the same statements. */
function rawSqlite(n: number): Run {
  const dir = mkdtempSync(join(tmpdir(), "ef-bench-raw-"));
  let db: Database.Database;
  let events: EventEnvelope[] = [];
  let completed = 0;
  const produce = async (list: readonly EventEnvelope[]) => {
    const insert = db.prepare("INSERT INTO queue (payload) VALUES (?)");
    const tx = db.transaction((batch: readonly EventEnvelope[]) => {
      for (const e of batch) insert.run(JSON.stringify(e));
    });
    for (const batch of chunks(list, BATCH)) {
      tx(batch);
      await new Promise((r) => setImmediate(r));
    }
  };
  const consume = async (total: number) => {
    const read = db.prepare("SELECT seq, payload FROM queue ORDER BY seq LIMIT ?");
    const record = db.prepare(
      "INSERT INTO inbox (consumer, event_id, type, event, status) VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
    );
    const ack = db.prepare("DELETE FROM queue WHERE seq <= ?");
    const claim = db.prepare(
      "UPDATE inbox SET status = 'in-flight', attempt = attempt + 1 WHERE seq IN (SELECT seq FROM inbox WHERE consumer = ? AND status = 'pending' ORDER BY seq LIMIT ?) RETURNING seq, event",
    );
    const complete = db.prepare("UPDATE inbox SET status = 'completed' WHERE seq = ?");
    const ingestTx = db.transaction(() => {
      const rows = read.all(READ_BATCH) as { seq: number; payload: string }[];
      for (const r of rows) {
        const e = JSON.parse(r.payload) as EventEnvelope;
        record.run(GROUP, e.id, e.type, r.payload);
      }
      if (rows.length > 0) ack.run((rows[rows.length - 1] as { seq: number }).seq);
      return rows.length;
    });
    const dispatchTx = db.transaction(() => {
      const rows = claim.all(GROUP, READ_BATCH) as { seq: number; event: string }[];
      for (const r of rows) {
        JSON.parse(r.event); // the handler: a no-op on the decoded event
        complete.run(r.seq);
      }
      return rows.length;
    });
    while (completed < total) {
      ingestTx();
      completed += dispatchTx();
      await new Promise((r) => setImmediate(r));
    }
  };
  return {
    async setup() {
      db = new Database(join(dir, "raw.db"));
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(`CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL);
        CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL, event_id TEXT NOT NULL,
          type TEXT NOT NULL, event TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
          UNIQUE (consumer, event_id));
        CREATE INDEX inbox_pending ON inbox (consumer, seq) WHERE status = 'pending';`);
      await Promise.all([produce(makeEvents(2_000)), consume(2_000)]);
      completed = 0;
      events = makeEvents(n);
    },
    async run() {
      await Promise.all([produce(events), consume(n)]);
    },
    async teardown() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
