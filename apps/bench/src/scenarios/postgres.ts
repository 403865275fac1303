import { randomBytes } from "node:crypto";
import type { EventEnvelope } from "@eventferry/core";
import { createPostgresStore, type PostgresStore } from "@eventferry/store-postgres";
import pg from "pg";
import { chunks, makeEvents } from "../workload.js";
import { BATCH, CONSUMER, type Run, type System, WARMUP } from "./scenario.js";

/** The database every PostgreSQL scenario uses; each run makes and drops its own schema in it. */
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
/** Rows per claim in the PostgreSQL inbox scenarios. */
export const CLAIM_LIMIT = 500;

/** Context shared by the PostgreSQL scenarios: a fresh schema, a 1-connection pool and (for Eventferry) the store. */
export interface PgContext {
  readonly schema: string;
  readonly pool: pg.Pool;
  store?: PostgresStore;
}

/** Makes a fresh schema (and, for Eventferry, a migrated store in it). */
export async function openContext(system: System, listen = false): Promise<PgContext> {
  const schema = `bench_${process.pid}_${randomBytes(4).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  const ctx: PgContext = { schema, pool };
  if (system === "eventferry") {
    ctx.store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: listen ? 10 : 2, listen });
    await ctx.store.migrate();
  }
  return ctx;
}

/** Closes the store and drops the schema. */
export async function closeContext(ctx: PgContext): Promise<void> {
  await ctx.store?.close();
  await ctx.pool.query(`DROP SCHEMA "${ctx.schema}" CASCADE`);
  await ctx.pool.end();
}

/** `$1, $2, …` placeholders for `rows` rows of `cols` columns. */
export function values(rows: number, cols: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const p: string[] = [];
    for (let c = 1; c <= cols; c++) p.push(`$${r * cols + c}`);
    out.push(`(${p.join(", ")})`);
  }
  return out.join(", ");
}

/** `postgres.append`: store.append in batches of 1,000 vs one multi-row INSERT … ON CONFLICT DO NOTHING of 1,000 rows on 1 connection. */
export function postgresAppend(system: System, n: number): Run {
  let ctx: PgContext | undefined;
  let events: EventEnvelope[] = [];
  let appendBatch: (batch: readonly EventEnvelope[]) => Promise<void> = async () => {};
  return {
    async setup() {
      events = makeEvents(n);
      const c = await openContext(system);
      ctx = c;
      const store = c.store;
      if (store) {
        appendBatch = async (batch) => {
          await store.append(batch);
        };
      } else {
        await c.pool.query(`CREATE TABLE "${c.schema}".events (
          position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          id text NOT NULL UNIQUE,
          type text NOT NULL,
          event jsonb NOT NULL)`);
        appendBatch = async (batch) => {
          const params: unknown[] = [];
          for (const e of batch) params.push(e.id, e.type, JSON.stringify(e));
          await c.pool.query(
            `INSERT INTO "${c.schema}".events (id, type, event) VALUES ${values(batch.length, 3)} ON CONFLICT (id) DO NOTHING`,
            params,
          );
        };
      }
      for (const batch of chunks(makeEvents(WARMUP), BATCH)) await appendBatch(batch);
    },
    async run() {
      for (const batch of chunks(events, BATCH)) await appendBatch(batch);
    },
    async teardown() {
      if (!ctx) return;
      const table = ctx.store ? `"${ctx.schema}".ef_events` : `"${ctx.schema}".events`;
      const { rows } = await ctx.pool.query<{ c: string }>(`SELECT count(*) AS c FROM ${table}`);
      await closeContext(ctx);
      const count = Number(rows[0]?.c);
      if (count !== n + WARMUP) throw new Error(`expected ${n + WARMUP} events, found ${count}`);
    },
  };
}

/**
 * `postgres.inbox`: inbox.record N (batches of 1,000), then claim (limit 500) → complete until done,
 * vs a raw multi-row insert then SELECT … FOR UPDATE SKIP LOCKED LIMIT 500 + UPDATE in one transaction per batch
 * (`raw`), and vs the same insert then a leasing claim and a separate completion (`raw-lease`).
 */
export function postgresInbox(system: System, n: number): Run {
  let ctx: PgContext | undefined;
  let events: EventEnvelope[] = [];
  let drain: (batches: EventEnvelope[][]) => Promise<number> = async () => 0;
  return {
    async setup() {
      events = makeEvents(n);
      const c = await openContext(system);
      ctx = c;
      const store = c.store;
      if (store) {
        drain = async (batches) => {
          for (const batch of batches) {
            await store.inbox.record({
              entries: batch.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 5 })),
            });
          }
          let done = 0;
          for (;;) {
            const claimed = await store.inbox.claim({
              consumers: [CONSUMER],
              limit: CLAIM_LIMIT,
              leaseMs: 60_000,
            });
            if (claimed.length === 0) return done;
            const outcomes = await store.inbox.complete({
              entries: claimed.map((e) => ({ id: e.id, leaseToken: e.leaseToken })),
            });
            done += outcomes.filter((o) => o === "completed").length;
          }
        };
      } else if (system === "raw-lease") {
        drain = await rawLeaseLoop(c);
      } else {
        const t = await createRawInbox(c);
        drain = async (batches) => {
          await insertRawInbox(c, t, batches);
          let done = 0;
          const client = await c.pool.connect();
          try {
            // Without planner statistics (a freshly loaded table) PostgreSQL picks a bitmap scan and a
            // sort of every pending row for each batch; a tuned hand-written loop walks the partial index.
            await client.query("SET enable_bitmapscan = off");
            for (;;) {
              await client.query("BEGIN");
              const { rows } = await client.query<{ seq: string; event: EventEnvelope }>(
                `SELECT seq, event FROM ${t} WHERE consumer = $1 AND status = 'pending' ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
                [CONSUMER, CLAIM_LIMIT],
              );
              if (rows.length === 0) {
                await client.query("COMMIT");
                return done;
              }
              const r = await client.query(
                `UPDATE ${t} SET status = 'completed', attempt = attempt + 1, finished_at = now() WHERE seq = ANY($1::bigint[])`,
                [rows.map((row) => row.seq)],
              );
              await client.query("COMMIT");
              done += r.rowCount ?? 0;
            }
          } finally {
            await client.query("RESET enable_bitmapscan");
            client.release();
          }
        };
      }
      await drain(chunks(makeEvents(WARMUP), BATCH));
    },
    async run() {
      const done = await drain(chunks(events, BATCH));
      if (done !== n) throw new Error(`expected ${n} completed entries, got ${done}`);
    },
    async teardown() {
      if (ctx) await closeContext(ctx);
    },
  };
}

/**
 * `raw-lease` of `postgres.inbox`: the same multi-row insert, then per batch a claim that leases
 * (one statement: `UPDATE … SET status = 'in-flight', lease_token, lease_expires_at WHERE seq IN
 * (SELECT … FOR UPDATE SKIP LOCKED LIMIT 500) RETURNING`, committed) and a completion checked
 * against the lease token (a second committed `UPDATE`) — what a queue whose handlers run outside
 * the claiming transaction writes, as `inbox.claim` → `inbox.complete` does. No lease-expiry index
 * (a real queue needs one to take back expired leases): a floor for this work, not a rival design.
 */
async function rawLeaseLoop(c: PgContext): Promise<(batches: EventEnvelope[][]) => Promise<number>> {
  const t = await createRawInbox(c, { lease: true });
  return async (batches) => {
    await insertRawInbox(c, t, batches);
    let done = 0;
    const client = await c.pool.connect();
    try {
      await client.query("SET enable_bitmapscan = off"); // as `raw` (see there)
      for (;;) {
        const { rows } = await client.query<{ seq: string; event: EventEnvelope; lease_token: string }>({
          name: "raw_lease_claim",
          text: `UPDATE ${t} u SET status = 'in-flight', attempt = u.attempt + 1, lease_token = gen_random_uuid(),
                   lease_expires_at = now() + interval '60 seconds'
                  WHERE u.seq IN (SELECT seq FROM ${t} WHERE consumer = $1 AND status = 'pending'
                                   ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING u.seq, u.event, u.lease_token`,
          values: [CONSUMER, CLAIM_LIMIT],
        });
        if (rows.length === 0) return done;
        const r = await client.query({
          name: "raw_lease_complete",
          text: `UPDATE ${t} u SET status = 'completed', lease_token = NULL, finished_at = now()
                   FROM unnest($1::bigint[], $2::uuid[]) AS d(seq, token)
                  WHERE u.seq = d.seq AND u.lease_token = d.token AND u.status = 'in-flight'`,
          values: [rows.map((row) => row.seq), rows.map((row) => row.lease_token)],
        });
        done += r.rowCount ?? 0;
      }
    } finally {
      await client.query("RESET enable_bitmapscan");
      client.release();
    }
  };
}

/**
 * The raw baselines' inbox table in the context's schema (with lease columns for `raw-lease`):
 * what a hand-written queue needs — a unique (consumer, event id) and a partial index of pending
 * rows in order. Returns its qualified name.
 */
export async function createRawInbox(c: PgContext, options: { lease?: boolean } = {}): Promise<string> {
  const t = `"${c.schema}".inbox`;
  await c.pool.query(`CREATE TABLE ${t} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    event jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempt integer NOT NULL DEFAULT 0,${options.lease ? "\n    lease_token uuid,\n    lease_expires_at timestamptz," : ""}
    finished_at timestamptz,
    UNIQUE (consumer, event_id));
    CREATE INDEX ON ${t} (consumer, seq) WHERE status = 'pending'`);
  return t;
}

/** The raw baselines' record step: one multi-row `INSERT … ON CONFLICT DO NOTHING` per batch. */
export async function insertRawInbox(
  c: PgContext,
  t: string,
  batches: readonly EventEnvelope[][],
): Promise<void> {
  for (const batch of batches) {
    const params: unknown[] = [];
    for (const e of batch) params.push(CONSUMER, e.id, e.type, JSON.stringify(e));
    await c.pool.query(
      `INSERT INTO ${t} (consumer, event_id, type, event) VALUES ${values(batch.length, 4)} ON CONFLICT DO NOTHING`,
      params,
    );
  }
}
