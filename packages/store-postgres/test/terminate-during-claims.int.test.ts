import { randomBytes } from "node:crypto";
import { type EventEnvelope, isEventferryError, uuidv7 } from "@eventferry/core";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresStore, type PostgresStore, toStoreError } from "../src/index.js";
import { entryIdSql } from "../src/internal/entry-id.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const TOTAL = 5_000;
const CONSUMER = "billing/send-invoice";
/** Short, so entries whose transaction died mid-way are claimable again soon. */
const LEASE_MS = 1_000;
const KILL_EVERY_MS = 200;
const DEADLINE_MS = 50_000;

const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const schema = `efr_term_${randomBytes(6).toString("hex")}`;
/** The store's pool connections are named `app`, its listener `app-listener-<hash>`. */
const app = `efr-term-${randomBytes(4).toString("hex")}`;
let store: PostgresStore | undefined;
let killer: pg.Client | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function event(): EventEnvelope {
  return {
    id: uuidv7(),
    type: "order.created",
    data: { n: 1 },
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
  };
}

describe.runIf(available)("store-postgres: backends terminated while claiming and completing", () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };

  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
    await killer?.end().catch(() => {});
    await store?.close();
    await dropSchema(admin, schema);
    await admin.end();
  });

  it(`every one of ${TOTAL} entries is completed exactly once while the store's backends are killed every ${KILL_EVERY_MS} ms`, async () => {
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    store = createPostgresStore({ url: POSTGRES_URL, schema, applicationName: app, poolSize: 4 });
    const s = store;
    await s.migrate();
    // The handler's effect: one row per event, so a second effect of an event violates the key.
    await admin.query(`CREATE TABLE "${schema}".effects (event_id text PRIMARY KEY, entry_id uuid NOT NULL)`);
    for (let offset = 0; offset < TOTAL; offset += 1_000) {
      await s.inbox.record({
        entries: Array.from({ length: 1_000 }, () => ({
          consumer: CONSUMER,
          event: event(),
          maxAttempts: 100,
        })),
      });
    }

    // The killer: a separate connection terminating every backend of the store (pool and listener).
    killer = new pg.Client({ connectionString: POSTGRES_URL, application_name: "efr-term-killer" });
    await killer.connect();
    const k = killer;
    let killing = true;
    let kills = 0;
    const killerDone = (async () => {
      while (killing) {
        await sleep(KILL_EVERY_MS);
        const { rows } = await k.query<{ n: number }>(
          // MATERIALIZED: the filter runs before pg_terminate_backend (quals of one WHERE may be
          // evaluated in any order, which would terminate every backend of the server).
          `WITH mine AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity
              WHERE application_name = $1 OR starts_with(application_name, $1 || '-listener-'))
           SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM mine`,
          [app],
        );
        kills += rows[0]?.n ?? 0;
      }
    })();

    let completed = 0;
    let leaseLost = 0;
    let retryableErrors = 0;
    const retryable = async (error: unknown): Promise<void> => {
      const wrapped = isEventferryError(error) ? error : toStoreError(error, "test");
      if (!wrapped.retryable) throw error;
      retryableErrors++;
      await sleep(20);
    };

    const started = Date.now();
    try {
      for (;;) {
        if (Date.now() - started > DEADLINE_MS) throw new Error(`not done after ${DEADLINE_MS} ms`);
        let entries: Awaited<ReturnType<typeof s.inbox.claim>>;
        try {
          entries = await s.inbox.claim({ consumers: [CONSUMER], limit: 20, leaseMs: LEASE_MS });
        } catch (error) {
          await retryable(error);
          continue;
        }
        if (entries.length === 0) {
          try {
            const stats = await s.inbox.stats({ consumers: [CONSUMER] });
            if (stats.pending === 0 && stats.inFlight === 0) break;
          } catch (error) {
            await retryable(error);
            continue;
          }
          await sleep(50); // entries of failed transactions wait for their lease to run out
          continue;
        }
        for (const entry of entries) {
          // Like a handler's ctx: the effect and the completion commit together or not at all. An
          // entry whose transaction failed is not retried here (its commit may have happened): the
          // claim hands it out again when its lease has run out, and only if it was not completed.
          try {
            const outcome = await s.transaction(async (tx) => {
              await tx.client.query(`INSERT INTO "${schema}".effects (event_id, entry_id) VALUES ($1, $2)`, [
                entry.event.id,
                entry.id,
              ]);
              const [result] = await tx.inbox.complete({
                entries: [{ id: entry.id, leaseToken: entry.leaseToken }],
              });
              if (result !== "completed") throw new Error("lease lost");
              return result;
            });
            if (outcome === "completed") completed++;
          } catch (error) {
            if (error instanceof Error && error.message === "lease lost") leaseLost++;
            else await retryable(error);
          }
        }
      }
    } finally {
      killing = false;
      await killerDone;
    }
    const elapsedMs = Date.now() - started;
    console.info(
      `[terminate] ${TOTAL} entries in ${elapsedMs} ms: ${kills} backends terminated, ${retryableErrors} retryable errors, ${leaseLost} leases lost, ${completed} commits confirmed`,
    );

    expect(uncaught.map(String), "errors nobody handled (unhandled 'error' events crash a process)").toEqual(
      [],
    );
    // The run really was disturbed: backends were killed and calls failed with retryable errors.
    expect(kills).toBeGreaterThan(0);
    expect(retryableErrors).toBeGreaterThan(0);
    // Commits whose acknowledgement was lost with the connection are not counted here.
    expect(completed).toBeLessThanOrEqual(TOTAL);

    // The last terminations may still be on their way to the pool's idle connections.
    const finalStats = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await s.inbox.stats({ consumers: [CONSUMER] });
        } catch (error) {
          if (attempt >= 5) throw error;
          await retryable(error);
        }
      }
    };
    expect(await finalStats()).toMatchObject({
      completed: TOTAL,
      pending: 0,
      inFlight: 0,
      dead: 0,
    });
    const { rows } = await admin.query<{ effects: number; distinct_events: number; matched: number }>(
      `SELECT count(*)::int AS effects,
              count(DISTINCT e.event_id)::int AS distinct_events,
              count(i.seq)::int AS matched
         FROM "${schema}".effects e
         LEFT JOIN "${schema}"."ef_inbox" i
           ON i.event_id = e.event_id AND ${entryIdSql("i.seq")} = e.entry_id AND i.status = 'completed'`,
    );
    expect(rows[0]).toEqual({ effects: TOTAL, distinct_events: TOTAL, matched: TOTAL });
  });
});
