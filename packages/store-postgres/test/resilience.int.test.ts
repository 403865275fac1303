import { randomBytes } from "node:crypto";
import { type EventEnvelope, isEventferryError, uuidv7 } from "@eventferry/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresStore, migrationSql, type PostgresStore, postgresMigrations } from "../src/index.js";
import { tableNames } from "../src/internal/names.js";
import { claimScanBound, claimSql } from "../src/internal/pg-inbox.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
const schemas: string[] = [];
const stores: PostgresStore[] = [];

function schemaName(): string {
  const s = `efr_${randomBytes(6).toString("hex")}`;
  schemas.push(s);
  return s;
}

function event(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    id: uuidv7(),
    type: "test.happened",
    data: {},
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Tables of `schema` as migrations up to `version` left them (for upgrade tests). */
async function migratedTo(schema: string, version: number): Promise<ReturnType<typeof tableNames>> {
  const t = tableNames(schema, "ef_");
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.query(
    `CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  for (const m of postgresMigrations.filter((m) => m.version <= version)) {
    await admin.query(m.sql(t));
    await admin.query(`INSERT INTO ${t.migrations} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
  }
  return t;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function backendPids(applicationName: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [applicationName],
  );
  return rows.map((r) => r.pid);
}

function track(store: PostgresStore): PostgresStore {
  stores.push(store);
  return store;
}

describe.runIf(available)("store-postgres resilience", () => {
  beforeAll(() => {});
  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const s of schemas) await dropSchema(admin, s);
    await admin.end();
  });

  it("keeps working after its idle pool connections are terminated (no crash)", async () => {
    const app = `efr-pool-${randomBytes(4).toString("hex")}`;
    const store = track(
      createPostgresStore({ url: POSTGRES_URL, schema: schemaName(), applicationName: app }),
    );
    await store.migrate();
    await Promise.all(Array.from({ length: 4 }, () => store.now()));
    const pids = await backendPids(app);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    await admin.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [pids]);
    await until("the pool to drop the terminated connections", async () => store.pool.totalCount === 0);
    const e = event();
    expect(await store.append([e])).toEqual({ inserted: [e.id], duplicates: [] });
    await store.inbox.record({ entries: [{ consumer: "c", event: e, maxAttempts: 3 }] });
    const [entry] = await store.inbox.claim({ consumers: ["c"], limit: 5, leaseMs: 10_000 });
    expect(entry?.event.id).toBe(e.id);
    expect((await store.health()).status).toBe("healthy");
  });

  it("re-LISTENs after the listener backend is terminated; a write from another store wakes waitForChange", async () => {
    const app = `efr-listen-${randomBytes(4).toString("hex")}`;
    const schema = schemaName();
    const waiter = track(
      createPostgresStore({ url: POSTGRES_URL, schema, applicationName: app, poolSize: 2 }),
    );
    const writer = track(createPostgresStore({ url: POSTGRES_URL, schema, listen: false, poolSize: 2 }));
    await waiter.migrate();
    const listenerName = `${app}-listener-`;
    const listenerPids = async (): Promise<number[]> => {
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 || '%' AND query ILIKE 'LISTEN%'",
        [listenerName],
      );
      return rows.map((r) => r.pid);
    };
    await waiter.waitForChange({ timeoutMs: 1 });
    await until("the listener to connect", async () => (await listenerPids()).length === 1);
    const [first] = await listenerPids();

    // Cross-process wake-up before the failure.
    let started = Date.now();
    let waiting = waiter.waitForChange({ timeoutMs: 10_000 });
    await writer.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
    await waiting;
    expect(Date.now() - started).toBeLessThan(2_000);

    await admin.query("SELECT pg_terminate_backend($1)", [first]);
    await until("the listener to reconnect", async () => {
      const pids = await listenerPids();
      return pids.length === 1 && pids[0] !== first;
    });

    started = Date.now();
    waiting = waiter.waitForChange({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 20));
    await writer.outbox.add({ topic: "t", events: [event()] });
    await waiting;
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("ten migrate() calls at once on separate pools migrate once", async () => {
    const schema = schemaName();
    const many = Array.from({ length: 10 }, () =>
      track(createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 1, listen: false })),
    );
    await Promise.all(many.map((s) => s.migrate()));
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}"."ef_migrations" ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const e = event();
    expect(await many[3]?.append([e])).toEqual({ inserted: [e.id], duplicates: [] });
  });

  it("migrationSql() applied by hand leaves migrate() nothing to do", async () => {
    const schema = schemaName();
    await admin.query(migrationSql({ schema, tablePrefix: "ef_" }));
    const store = track(createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 1, listen: false }));
    await store.migrate();
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM "${schema}"."ef_migrations" ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const e = event();
    expect(await store.append([e])).toEqual({ inserted: [e.id], duplicates: [] });
  });

  it("an outbox of version 2 (rows with a uuid id) upgrades in place: its rows are claimed, leased ones fenced, published ones kept", async () => {
    const schema = schemaName();
    const t = await migratedTo(schema, 2);
    const [published, leased, waiting] = [event(), event({ key: "k" }), event({ key: "k" })];
    await admin.query(
      `INSERT INTO ${t.outbox} (topic, key, event, published_at, lease_token, lease_expires_at) VALUES
       ('t', NULL, $1, now(), NULL, NULL),
       ('t', 'k', $2, NULL, gen_random_uuid(), now() + interval '1 hour'),
       ('t', 'k', $3, NULL, NULL, NULL)`,
      [published, leased, waiting],
    );
    const store = track(createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 2, listen: false }));
    await store.migrate();
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM ${t.migrations} ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await store.outbox.pending()).toBe(2);
    // The leased row's lease survives; its key's next row waits behind it.
    expect(await store.outbox.claim({ limit: 10, leaseMs: 30_000 })).toEqual([]);
    await admin.query(`UPDATE ${t.outbox} SET lease_expires_at = now() WHERE key = 'k'`);
    const [first] = await store.outbox.claim({ limit: 10, leaseMs: 30_000 });
    expect(first?.event.id).toBe(leased.id);
    expect(first?.id).toMatch(/^[1-9][0-9]*$/);
    expect(await store.outbox.markPublished({ entries: [first!] })).toEqual(["completed"]);
    const [second] = await store.outbox.claim({ limit: 10, leaseMs: 30_000 });
    expect(second?.event.id).toBe(waiting.id);
    expect(await store.outbox.markPublished({ entries: [second!] })).toEqual(["completed"]);
    expect(await store.outbox.pending()).toBe(0);
    expect(await store.outbox.cleanup({ olderThanMs: 0 })).toBe(3);
  });

  it("an inbox of version 3 (entries with a uuid id) upgrades in place: pending, leased and dead entries keep their state", async () => {
    const schema = schemaName();
    const t = await migratedTo(schema, 3);
    const [pending, leased, dead] = [event(), event(), event()];
    await admin.query(
      `INSERT INTO ${t.inbox} (consumer, event_id, type, priority, event, max_attempts, due_at, status, attempt, lease_token, lease_expires_at, reason, last_error, finished_at) VALUES
       ('c', $1, 'test.happened', 3, $2, 3, now(), 'pending', 0, NULL, NULL, NULL, NULL, NULL),
       ('c', $3, 'test.happened', 3, $4, 3, now(), 'in-flight', 1, gen_random_uuid(), now() + interval '1 hour', NULL, NULL, NULL),
       ('c', $5, 'test.happened', 3, $6, 3, now(), 'dead', 3, NULL, NULL, 'max attempts (3) reached', '{"name":"Error","message":"boom"}', now())`,
      [pending.id, pending, leased.id, leased, dead.id, dead],
    );
    const store = track(createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 2, listen: false }));
    await store.migrate();
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM ${t.migrations} ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await store.inbox.stats()).toMatchObject({ pending: 1, inFlight: 1, dead: 1 });
    const [letter] = await store.deadLetters.list();
    expect(letter).toMatchObject({ consumer: "c", reason: "max attempts (3) reached", attempts: 3 });
    expect(letter?.event?.id).toBe(dead.id);
    expect((await store.deadLetters.get({ id: letter!.id }))?.event?.id).toBe(dead.id);
    const claimed = await store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 30_000 });
    expect(claimed.map((e) => e.event.id)).toEqual([pending.id]); // the leased one still holds its lease
    expect(await store.inbox.complete({ entries: claimed })).toEqual(["completed"]);
    expect(await store.deadLetters.retry({ ids: [letter!.id] })).toEqual([letter!.id]);
    const retried = await store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 30_000 });
    expect(retried.map((e) => e.event.id)).toEqual([dead.id]);
    expect(retried[0]?.id).toBe(letter!.id);
  });

  it("an inbox of version 4 upgrades to heap-only claims: pending, leased, expired, completed and dead entries keep their state", async () => {
    const schema = schemaName();
    const t = await migratedTo(schema, 4);
    const [pending, leased, expired, completed, dead] = [
      event({ key: "k" }),
      event({ key: "a" }),
      event({ key: "b" }),
      event({ key: "k" }),
      event(),
    ];
    // The completed entry was written by an older release without finished_at, the dead one
    // without a reason: the migration fills both in, so the new indexes hold the right rows.
    await admin.query(
      `INSERT INTO ${t.inbox} (consumer, event_id, type, key, priority, event, max_attempts, due_at, status, attempt, lease_token, lease_expires_at, reason, last_error, finished_at) VALUES
       ('c', $1, 'test.happened', 'k', 3, $2, 3, now(), 'pending', 0, NULL, NULL, NULL, NULL, NULL),
       ('c', $3, 'test.happened', 'a', 3, $4, 3, now(), 'in-flight', 1, gen_random_uuid(), now() + interval '1 hour', NULL, NULL, NULL),
       ('c', $5, 'test.happened', 'b', 3, $6, 3, now(), 'in-flight', 3, gen_random_uuid(), now() - interval '1 second', NULL, NULL, NULL),
       ('c', $7, 'test.happened', 'k', 3, $8, 3, now() - interval '1 hour', 'completed', 1, NULL, NULL, NULL, NULL, NULL),
       ('c', $9, 'test.happened', NULL, 3, $10, 3, now(), 'dead', 3, NULL, NULL, NULL, '{"name":"Error","message":"boom"}', now())`,
      [pending.id, pending, leased.id, leased, expired.id, expired, completed.id, completed, dead.id, dead],
    );
    const store = track(createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 2, listen: false }));
    await store.migrate();
    const { rows } = await admin.query<{ version: number }>(
      `SELECT version FROM ${t.migrations} ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    const reloptions = async (table: string): Promise<string[] | undefined> =>
      (
        await admin.query<{ reloptions: string[] }>(
          "SELECT reloptions FROM pg_class WHERE oid = $1::regclass",
          [table],
        )
      ).rows[0]?.reloptions;
    expect(await reloptions(t.inbox)).toContain("fillfactor=50");
    expect(await reloptions(t.transportMessages)).toContain("fillfactor=50"); // version 6
    expect(await store.inbox.stats()).toMatchObject({ pending: 1, inFlight: 2, completed: 1, dead: 1 });
    expect((await store.deadLetters.list()).map((l) => l.event?.id)).toEqual([dead.id]);
    // The claim dead-letters the entry whose last lease ran out, takes the pending one (its key's
    // completed entry does not block it) and leaves the leased one alone.
    const claimed = await store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 30_000 });
    expect(claimed.map((e) => e.event.id)).toEqual([pending.id]);
    expect(await store.inbox.complete({ entries: claimed })).toEqual(["completed"]);
    const letters = await store.deadLetters.list();
    expect(new Set(letters.map((l) => l.event?.id))).toEqual(new Set([dead.id, expired.id]));
    expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 1, completed: 2, dead: 2 });
  });

  it("a claim is a heap-only update: the lease adds no index entry", async () => {
    const store = track(
      createPostgresStore({ url: POSTGRES_URL, schema: schemaName(), poolSize: 2, listen: false }),
    );
    await store.migrate();
    await store.inbox.record({
      entries: Array.from({ length: 200 }, (_, i) => ({
        consumer: "c",
        event: event(i % 2 === 0 ? { key: `k${i % 7}` } : {}),
        maxAttempts: 3,
      })),
    });
    // Counted for this transaction only: the claim, then the completion (which leaves the claim
    // index: never heap-only).
    const client = await admin.connect();
    try {
      await client.query("BEGIN");
      const t = tableNames(store.schema, "ef_");
      const { rows: claimed } = await client.query<{ seq: string | null; lease_token: string }>(
        claimSql(t.inbox),
        [["c"], 100, 30_000, "w", claimScanBound(100)],
      );
      const taken = claimed.filter((r) => r.seq !== null);
      expect(taken.length).toBeGreaterThan(50);
      const hot = async (): Promise<number> =>
        Number(
          (
            await client.query<{ n: string }>(
              "SELECT pg_stat_get_xact_tuples_hot_updated($1::regclass) AS n",
              [t.inbox],
            )
          ).rows[0]?.n,
        );
      // Nearly all: a version that does not fit on its row's page (a page filled to just under the
      // fillfactor) goes elsewhere with index entries. Before version 5 none was heap-only.
      const claimHot = await hot();
      expect(claimHot).toBeGreaterThanOrEqual(Math.floor(taken.length * 0.9));
      await client.query(
        `UPDATE ${t.inbox} SET status = 'completed', finished_at = now(), lease_token = NULL WHERE seq = ANY($1::bigint[])`,
        [taken.map((r) => r.seq)],
      );
      expect(await hot()).toBe(claimHot);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });

  it("a transaction's tx rejects after fn finished (its connection is back in the pool)", async () => {
    const store = track(
      createPostgresStore({ url: POSTGRES_URL, schema: schemaName(), poolSize: 2, listen: false }),
    );
    await store.migrate();
    const leaked = await store.transaction(async (tx) => tx);
    const error = await leaked.append([event()]).catch((e: unknown) => e);
    expect(isEventferryError(error)).toBe(true);
    expect((error as { code: string }).code).toBe("STORE_FAILED");
    expect(await store.inbox.stats()).toMatchObject({ pending: 0 });
  });

  it("8 concurrent claimers with limit 10 never get more than 10 each and never share an entry", async () => {
    const store = track(
      createPostgresStore({ url: POSTGRES_URL, schema: schemaName(), poolSize: 10, listen: false }),
    );
    await store.migrate();
    const total = 400;
    await store.inbox.record({
      entries: Array.from({ length: total }, (_, i) => ({
        consumer: "c",
        event: event({ priority: ((i % 5) + 1) as 1 | 2 | 3 | 4 | 5 }),
        maxAttempts: 3,
      })),
    });
    const seen = new Set<string>();
    let rounds = 0;
    while (seen.size < total && rounds++ < 20) {
      const batches = await Promise.all(
        Array.from({ length: 8 }, (_, w) =>
          store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 30_000, worker: `w${w}` }),
        ),
      );
      for (const batch of batches) {
        expect(batch.length).toBeLessThanOrEqual(10);
        for (let i = 1; i < batch.length; i++) {
          expect((batch[i]?.event.priority ?? 0) >= (batch[i - 1]?.event.priority ?? 0)).toBe(true);
        }
        for (const entry of batch) {
          expect(seen.has(entry.id)).toBe(false);
          seen.add(entry.id);
        }
      }
    }
    expect(seen.size).toBe(total);
  });

  it("an unknown database surfaces at first use as a ConfigError, password redacted", async () => {
    const url = POSTGRES_URL.replace(/\/[^/?]+(\?|$)/, "/ef_no_such_database$1").replace(
      "postgres://postgres@",
      "postgres://postgres:topsecret@",
    );
    const store = track(createPostgresStore({ url, schema: "ef_nothing", listen: false }));
    const error = await store.now().catch((e: unknown) => e);
    expect(isEventferryError(error)).toBe(true);
    expect((error as Error).name).toBe("ConfigError");
    expect((error as Error).message).toMatch(/^\[eventferry:store-postgres\]/);
    expect((error as Error).message).not.toContain("topsecret");
    expect((await store.health()).status).toBe("unhealthy");
  });
});
