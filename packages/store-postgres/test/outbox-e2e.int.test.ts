// The Transactional Outbox end to end on PostgreSQL: business writes and events in one
// transaction, relays, the store transport and the inbox, model lifecycle events, retention.
import { randomBytes } from "node:crypto";
import {
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EncodedEvent,
  type EventEnvelope,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import {
  createOutboxRelay,
  defineModelEvents,
  type OutboxRelay,
  publishInTransaction,
} from "@eventferry/outbox";
import { createEventferry, type Eventferry } from "eventferry";
import pg from "pg";
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { createPostgresStore, createStoreTransport, type PostgresStore } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const OrderPlaced = defineEvent("order.placed", z.object({ orderId: z.string(), n: z.number() }));
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const schemas: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

async function newStore(label: string, poolSize = 8): Promise<{ store: PostgresStore; schema: string }> {
  const schema = `efo_${label}_${randomBytes(5).toString("hex")}`;
  schemas.push(schema);
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize });
  cleanups.push(() => store.close());
  await store.migrate();
  await admin.query(`CREATE TABLE "${schema}".orders (id text PRIMARY KEY, n int NOT NULL)`);
  await admin.query(
    `CREATE TABLE "${schema}".effects (seq bigserial PRIMARY KEY, event_id text NOT NULL, what text NOT NULL)`,
  );
  return { store, schema };
}

function relayOf(options: Parameters<typeof createOutboxRelay>[0]): OutboxRelay {
  const relay = createOutboxRelay({ logger: silentLogger, ...options });
  cleanups.push(() => relay.stop());
  return relay;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function loggedIds(store: PostgresStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of store.read()) ids.push(e.id);
  return ids;
}

/** A transport that records every published event (in call order) before passing it on. */
function recording(inner: Transport): Transport & { published: EncodedEvent[] } {
  const published: EncodedEvent[] = [];
  return {
    name: inner.name,
    features: inner.features,
    published,
    async publish(topic, events, options) {
      published.push(...events);
      await inner.publish(topic, events, options);
    },
    subscribe: (topic, options) => inner.subscribe(topic, options),
    close: () => inner.close(),
    health: () => inner.health(),
  };
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe.runIf(available)("outbox end to end on PostgreSQL", () => {
  afterAll(async () => {
    for (const s of schemas) await dropSchema(admin, s);
    await admin.end();
  });

  it("32 concurrent transactions with random delays, some rolled back: every committed event is handled once, no rolled-back one ever", async () => {
    const { store, schema } = await newStore("conc", 34);
    const ferry: Eventferry<pg.PoolClient> = await createEventferry<pg.PoolClient>({
      store,
      transport: "store:",
      group: "e2e",
      logger: silentLogger,
      pollInterval: 50,
      relay: { batchSize: 5 },
    });
    cleanups.push(() => ferry.stop({ timeout: "2s" }));
    ferry.on(OrderPlaced, async (event, ctx) => {
      await ctx.tx.query(`INSERT INTO "${schema}".effects (event_id, what) VALUES ($1, $2)`, [
        event.id,
        event.data.orderId,
      ]);
    });
    await ferry.start();
    // A second relay beside the ferry's own.
    relayOf({ store, transport: ferry.transport, batchSize: 7, pollInterval: 50 }).start();

    const committed: string[] = [];
    const rolledBack: string[] = [];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 32 }, async (_, t) => {
        const orderId = `o-${t}`;
        const events = Array.from({ length: 1 + (t % 3) }, (_, i) =>
          createEnvelope(OrderPlaced, { orderId, n: i }, { key: `k-${t % 5}` }),
        );
        // t % 8 === 1: the code throws; t % 8 === 5: the database refuses (duplicate key).
        const fate = t % 8 === 1 ? "throw" : t % 8 === 5 ? "sql-error" : "commit";
        (fate === "commit" ? committed : rolledBack).push(...events.map((e) => e.id));
        await store.transaction(async (tx) => {
          await tx.client.query(`INSERT INTO "${schema}".orders (id, n) VALUES ($1, $2)`, [orderId, t]);
          await publishInTransaction(tx, "events", events);
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40)));
          if (fate === "throw") throw new Error(`business rule failed in ${orderId}`);
          if (fate === "sql-error") {
            await tx.client.query(`INSERT INTO "${schema}".orders (id, n) VALUES ($1, $2)`, [orderId, t]);
          }
        });
      }),
    );
    expect(outcomes.filter((o) => o.status === "rejected")).toHaveLength(8);
    expect(rolledBack.length).toBeGreaterThan(0);

    await ferry.whenIdle({ timeout: "20s" });
    await until(async () => {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".effects`);
      return rows[0].n >= committed.length;
    });
    await new Promise((r) => setTimeout(r, 200)); // room for a late duplicate to show up
    const { rows } = await admin.query<{ event_id: string; n: number }>(
      `SELECT event_id, count(*)::int AS n FROM "${schema}".effects GROUP BY event_id`,
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual([...committed].sort());
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const never = new Set(rolledBack);
    expect(rows.some((r) => never.has(r.event_id))).toBe(false);
    expect((await loggedIds(store)).sort()).toEqual([...committed].sort());
    const orders = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".orders`);
    expect(orders.rows[0].n).toBe(24);
    expect(await store.outbox.pending()).toBe(0);
  }, 30_000);

  it("two relays at once: no row published twice, per-key order kept", async () => {
    const { store } = await newStore("two");
    const transport = recording(createMemoryTransport());
    cleanups.push(() => transport.close());
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const rounds = 30;
    for (let n = 0; n < rounds; n++) {
      await store.transaction((tx) =>
        publishInTransaction(
          tx,
          "events",
          keys.map((key) => createEnvelope(OrderPlaced, { orderId: key, n }, { key })),
        ),
      );
    }
    const a = relayOf({ store, transport, batchSize: 7, pollInterval: 20 });
    const b = relayOf({ store, transport, batchSize: 11, pollInterval: 20 });
    a.start();
    b.start();
    await until(async () => (await store.outbox.pending()) === 0);
    await new Promise((r) => setTimeout(r, 100));
    const ids = transport.published.map((e) => e.id);
    expect(ids).toHaveLength(keys.length * rounds);
    expect(new Set(ids).size).toBe(ids.length);
    for (const key of keys) {
      const ns = transport.published
        .filter((e) => e.key === key)
        .map((e) => (JSON.parse(e.payload as string) as { data: { n: number } }).data.n);
      expect(ns).toEqual(Array.from({ length: rounds }, (_, i) => i));
    }
  }, 20_000);

  it("a row that cannot be encoded (2 MiB, added behind the front door's back) goes to the dead letters once; its batch and a later row of its key are delivered", async () => {
    const { store } = await newStore("oversized");
    const transport = recording(createMemoryTransport());
    cleanups.push(() => transport.close());
    const Blob = defineEvent("test.blob", z.object({ text: z.string() }));
    const before = createEnvelope(OrderPlaced, { orderId: "o-1", n: 1 }, { key: "k" });
    const big = createEnvelope(Blob, { text: "x".repeat(2 * 1024 * 1024) }, { key: "k" });
    const after = createEnvelope(OrderPlaced, { orderId: "o-2", n: 2 }, { key: "k" });
    await store.outbox.add({ topic: "events", events: [before, big, after] });
    const relay = relayOf({ store, transport, batchSize: 10, pollInterval: 20 });
    relay.start();
    await until(async () => (await store.outbox.pending()) === 0);
    await new Promise((r) => setTimeout(r, 200)); // a retry, if any, would show now
    expect(transport.published.map((e) => e.id)).toEqual([before.id, after.id]);
    const dead = await store.deadLetters.list({ consumer: "outbox:events" });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ event: { id: big.id }, error: { code: "PAYLOAD_TOO_LARGE" } });
    expect(dead[0]?.reason).toMatch(/^cannot be encoded/);
  }, 20_000);

  it("model events: a vetoed create rolls back the business write and publishes nothing; created, updated, deleted are handled in order", async () => {
    const { store, schema } = await newStore("model");
    await admin.query(`CREATE TABLE "${schema}".users (id text PRIMARY KEY, email text NOT NULL)`);
    const User = defineModelEvents("user", z.object({ id: z.string(), email: z.string().email() }));
    User.before("create", ({ record }) => {
      if (record.email.endsWith("@blocked.example")) throw new Error("blocked domain");
    });
    User.before<pg.PoolClient>("delete", async ({ record, tx }) => {
      // A hook may read (and write) through the transaction.
      const { rows } = await tx.client.query(`SELECT 1 FROM "${schema}".users WHERE id = $1`, [record.id]);
      if (rows.length === 0) throw new Error(`no user ${record.id}`);
    });
    const ferry = await createEventferry<pg.PoolClient>({
      store,
      transport: "store:",
      group: "models",
      logger: silentLogger,
      pollInterval: 50,
      models: [User],
    });
    cleanups.push(() => ferry.stop({ timeout: "2s" }));
    const effect = (what: string) => async (event: EventEnvelope, ctx: { tx: pg.PoolClient }) => {
      await ctx.tx.query(`INSERT INTO "${schema}".effects (event_id, what) VALUES ($1, $2)`, [
        event.id,
        what,
      ]);
    };
    ferry.onModel(User, "created", async (event, ctx) => {
      expectTypeOf(event.data).toEqualTypeOf<{ id: string; email: string }>();
      await effect(`welcome ${event.data.email}`)(event, ctx);
    });
    ferry.onModel(User, "updated", async (event, ctx) => {
      expectTypeOf(event.data.after.email).toEqualTypeOf<string>();
      await effect(`changed ${event.data.before?.email} -> ${event.data.after.email}`)(event, ctx);
    });
    ferry.onModel(User, "deleted", async (event, ctx) => effect(`bye ${event.data.id}`)(event, ctx));
    // One handler over all three, to check the order a user's events are handled in.
    ferry.on("user.*", async (event, ctx) => effect(`seq ${event.type}`)(event, ctx));
    // @ts-expect-error: a model has no "archived" event
    expect(() => ferry.onModel(User, "archived", async () => {})).toThrow(/created", "updated" or "deleted/);
    await ferry.start();

    const insertUser = (client: pg.PoolClient, user: { id: string; email: string }) =>
      client.query(`INSERT INTO "${schema}".users (id, email) VALUES ($1, $2)`, [user.id, user.email]);

    await expect(
      store.transaction((tx) =>
        User.create(
          tx,
          { id: "u-x", email: "eve@blocked.example" },
          { write: (u) => insertUser(tx.client, u) },
        ),
      ),
    ).rejects.toThrow("blocked domain");
    // The business write done before the model call rolls back too.
    await expect(
      store.transaction(async (tx) => {
        await insertUser(tx.client, { id: "u-y", email: "mallory@blocked.example" });
        await User.create(tx, { id: "u-y", email: "mallory@blocked.example" });
      }),
    ).rejects.toThrow("blocked domain");
    await expect(
      store.transaction((tx) => User.delete(tx, { id: "u-missing", email: "a@example.com" })),
    ).rejects.toThrow("no user u-missing");
    expect(await store.outbox.pending()).toBe(0);
    expect(await loggedIds(store)).toEqual([]);

    const ada = { id: "u-1", email: "ada@example.com" };
    const moved = { id: "u-1", email: "ada@lovelace.example" };
    await store.transaction((tx) => User.create(tx, ada, { write: (u) => insertUser(tx.client, u) }));
    await store.transaction((tx) =>
      User.update(tx, moved, {
        previous: ada,
        write: (u) =>
          tx.client.query(`UPDATE "${schema}".users SET email = $2 WHERE id = $1`, [u.id, u.email]),
      }),
    );
    await store.transaction((tx) =>
      User.delete(tx, moved, {
        write: (u) => tx.client.query(`DELETE FROM "${schema}".users WHERE id = $1`, [u.id]),
      }),
    );
    await ferry.whenIdle({ timeout: "15s" });
    await until(async () => {
      const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".effects`);
      return rows[0].n >= 6;
    });
    const { rows } = await admin.query<{ what: string }>(`SELECT what FROM "${schema}".effects ORDER BY seq`);
    const what = rows.map((r) => r.what);
    expect(what.filter((w) => w.startsWith("seq "))).toEqual([
      "seq user.created",
      "seq user.updated",
      "seq user.deleted",
    ]);
    expect(what.filter((w) => !w.startsWith("seq ")).sort()).toEqual(
      ["welcome ada@example.com", "changed ada@example.com -> ada@lovelace.example", "bye u-1"].sort(),
    );
    expect(what.some((w) => w.includes("blocked"))).toBe(false);
    const users = await admin.query(`SELECT id FROM "${schema}".users`);
    expect(users.rows).toEqual([]);
  }, 30_000);

  it("a model on another topic than the ferry's is a ConfigError", async () => {
    const { store } = await newStore("topic");
    const Team = defineModelEvents("team", z.object({ id: z.string() }), { topic: "teams" });
    await expect(
      createEventferry({ store, transport: "memory:", logger: silentLogger, models: [Team] }),
    ).rejects.toThrow(/model "team" adds its events to topic "teams" but the ferry consumes "events"/);
  });

  it("retention: a started relay deletes published rows past retention, keeps unpublished and younger rows", async () => {
    const { store, schema } = await newStore("ret");
    const transport = createMemoryTransport();
    cleanups.push(() => transport.close());
    const outboxRows = async (where: string) =>
      (await admin.query(`SELECT count(*)::int AS n FROM "${schema}".ef_outbox WHERE ${where}`)).rows[0]
        .n as number;
    await store.transaction((tx) =>
      publishInTransaction(tx, "events", [createEnvelope(OrderPlaced, { orderId: "a", n: 1 })]),
    );
    // Publishes, keeps the row for an hour.
    const keeping = relayOf({ store, transport, cleanupInterval: 20 });
    keeping.start();
    await keeping.flush({ timeout: "5s" });
    await new Promise((r) => setTimeout(r, 80)); // a few cleanup rounds
    await keeping.stop();
    expect(await outboxRows("published_at IS NOT NULL")).toBe(1);

    // A row that cannot be published (held by a lease elsewhere) is never deleted.
    await store.transaction((tx) =>
      publishInTransaction(tx, "events", [createEnvelope(OrderPlaced, { orderId: "b", n: 2 })]),
    );
    expect(await store.outbox.claim({ limit: 10, leaseMs: 60_000 })).toHaveLength(1);
    const cleaning = relayOf({ store, transport, retention: "10ms", cleanupInterval: 20 });
    cleaning.start();
    await until(async () => (await outboxRows("published_at IS NOT NULL")) === 0, 5_000);
    expect(await outboxRows("published_at IS NULL")).toBe(1);
    expect(await store.outbox.pending()).toBe(1);
  }, 20_000);

  it("held rounds never take the last pooled connection: relays to the store: transport on a small pool, and a pool of one leases", async () => {
    for (const [poolSize, concurrency] of [
      [2, 4],
      [1, 2],
    ] as const) {
      const { store } = await newStore(`pool${poolSize}`, poolSize);
      // A pool of one leaves no connection for a held round's publish: no held claims there.
      expect(typeof store.outbox.claimHeld).toBe(poolSize > 1 ? "function" : "undefined");
      const transport = createStoreTransport(store, { pollIntervalMs: 50 });
      cleanups.push(() => transport.close());
      // The group exists before the relay publishes (the store transport fans out to known groups).
      await (await transport.subscribe("events", { group: "g" })).close();
      const events = Array.from({ length: 200 }, (_, n) =>
        createEnvelope(OrderPlaced, { orderId: `o${n}`, n }),
      );
      for (let i = 0; i < events.length; i += 20)
        await store.transaction((tx) => publishInTransaction(tx, "events", events.slice(i, i + 20)));
      // Rounds of 10: many held at once would each wait for a connection for their publish.
      const relay = relayOf({ store, transport, batchSize: 10, concurrency, pollInterval: 20 });
      relay.start();
      await relay.flush({ timeout: "10s" });
      expect(await store.outbox.pending()).toBe(0);
    }
  }, 30_000);

  it("retention 0: rounds delete the rows they publish (no published row is ever kept); a failed round deletes nothing", async () => {
    const { store, schema } = await newStore("ret0");
    const transport = createMemoryTransport();
    cleanups.push(() => transport.close());
    const received: string[] = [];
    const sub = await transport.subscribe("events", { group: "g" });
    const consumed = (async () => {
      for await (const d of sub) {
        received.push(d.event.id);
        await d.ack();
      }
    })();
    cleanups.push(async () => {
      await sub.close();
      await consumed;
    });
    const outboxRows = async () =>
      (await admin.query(`SELECT count(*)::int AS n FROM "${schema}".ef_outbox`)).rows[0].n as number;
    let failing = true;
    const flaky: typeof transport = Object.create(transport);
    flaky.publish = async (topic, events, options) => {
      if (failing) throw new Error("transport down");
      await transport.publish(topic, events, options);
    };
    const events = Array.from({ length: 50 }, (_, n) => createEnvelope(OrderPlaced, { orderId: `o${n}`, n }));
    await store.transaction((tx) => publishInTransaction(tx, "events", events));
    // cleanupInterval of an hour: only the rounds can delete rows here.
    const relay = relayOf({ store, transport: flaky, retention: 0, cleanupInterval: "1h", pollInterval: 20 });
    relay.start();
    await new Promise((r) => setTimeout(r, 150)); // rounds that fail
    expect(await outboxRows()).toBe(50);
    failing = false;
    await relay.flush({ timeout: "5s" });
    expect(await outboxRows()).toBe(0);
    await until(async () => received.length >= 50, 5_000);
    expect(new Set(received)).toEqual(new Set(events.map((e) => e.id)));
  }, 20_000);
});
