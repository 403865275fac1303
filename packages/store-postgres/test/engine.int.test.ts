import { randomBytes } from "node:crypto";
import {
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EventEnvelope,
  encodeEvent,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import { createOutboxRelay } from "@eventferry/outbox";
import type pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore, createStoreTransport, type PostgresStore } from "../src/index.js";
import { available, POSTGRES_URL } from "./setup.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const CONSUMER = "billing/order.created";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

interface Rig {
  store: PostgresStore;
  transport: Transport;
  worker(
    name: string,
    options?: { lease?: number; concurrency?: number; admission?: boolean },
  ): Inbox<pg.PoolClient>;
  send(...events: EventEnvelope[]): Promise<void>;
  effects(): Promise<{ order_id: string; attempt: number }[]>;
  /**
   * Waits until the store: transport holds no message (each was recorded and acked). `whenIdle`
   * alone sees only the inbox: right after a send, on a busy machine, nothing may have been
   * fetched yet, and an empty inbox looks idle.
   */
  drained(timeoutMs?: number): Promise<void>;
}

async function rig(): Promise<Rig> {
  const schema = `efe_${randomBytes(6).toString("hex")}`;
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 8 });
  await store.migrate();
  await store.pool.query(`CREATE TABLE "${schema}".effects (order_id text NOT NULL, attempt int NOT NULL)`);
  const transport = createStoreTransport(store, { pollIntervalMs: 100 });
  const inboxes: Inbox<pg.PoolClient>[] = [];
  cleanups.push(async () => {
    for (const inbox of inboxes) await inbox.stop({ timeout: 2_000 });
    await transport.close();
    await store.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await store.close();
  });
  return {
    store,
    transport,
    worker(name, options = {}) {
      const inbox = createInbox<pg.PoolClient>({
        store,
        transport,
        group: "billing",
        worker: name,
        logger: silentLogger,
        pollInterval: 50,
        lease: options.lease ?? 10_000,
        concurrency: options.concurrency ?? 4,
        ...(options.admission === undefined ? {} : { admission: options.admission }),
        retry: { attempts: 3, backoff: "fixed", delay: 5 },
      });
      inboxes.push(inbox);
      return inbox;
    },
    send: (...events) =>
      transport.publish(
        "events",
        events.map((e) => encodeEvent(e)),
      ),
    async drained(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { rows } = await store.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${schema}".ef_transport_messages`,
        );
        if (rows[0]?.n === 0) return;
        if (Date.now() > deadline)
          throw new Error(`${rows[0]?.n} messages still in the transport after ${timeoutMs} ms`);
        await new Promise((res) => setTimeout(res, 10));
      }
    },
    async effects() {
      const { rows } = await store.pool.query<{ order_id: string; attempt: number }>(
        `SELECT order_id, attempt FROM "${schema}".effects ORDER BY order_id, attempt`,
      );
      return rows;
    },
  };
}

describe.runIf(available)("the inbox engine on PostgreSQL (store: transport)", () => {
  it("writes through ctx.tx commit with the completion, exactly once per event", async () => {
    const r = await rig();
    const inbox = r.worker("w1").handle(OrderCreated, async (event, ctx) => {
      await ctx.tx.query(
        `INSERT INTO effects VALUES ($1, $2)`.replace("effects", `"${r.store.schema}".effects`),
        [event.data.orderId, ctx.attempt],
      );
    });
    await inbox.start();
    const events = Array.from({ length: 20 }, (_, i) =>
      createEnvelope(OrderCreated, { orderId: `o-${i}`, total: i }),
    );
    await r.send(...events, ...events.slice(0, 5)); // redeliveries of the first five
    await r.drained();
    await inbox.whenIdle({ timeout: 10_000 });
    const effects = await r.effects();
    expect(effects).toHaveLength(20);
    expect(new Set(effects.map((e) => e.order_id)).size).toBe(20);
    expect(await r.store.inbox.stats({ consumers: [CONSUMER] })).toMatchObject({ completed: 20, pending: 0 });
  });

  it("rolls back a failing attempt's writes, retries, then dead-letters", async () => {
    const r = await rig();
    const inbox = r.worker("w1").handle(OrderCreated, async (event, ctx) => {
      await ctx.tx.query(`INSERT INTO "${r.store.schema}".effects VALUES ($1, $2)`, [
        event.data.orderId,
        ctx.attempt,
      ]);
      if (event.data.orderId === "always" || ctx.attempt < 2) throw new Error(`boom ${ctx.attempt}`);
    });
    await inbox.start();
    await r.send(
      createEnvelope(OrderCreated, { orderId: "second-try", total: 1 }),
      createEnvelope(OrderCreated, { orderId: "always", total: 2 }),
    );
    await r.drained();
    await inbox.whenIdle({ timeout: 10_000 });
    expect(await r.effects()).toEqual([{ order_id: "second-try", attempt: 2 }]);
    const dead = await r.store.deadLetters.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ consumer: CONSUMER, attempts: 3 });
    expect(dead[0]?.history.map((h) => h.error.message)).toEqual(["boom 1", "boom 2", "boom 3"]);
  });

  it("a worker that crashed mid-flight loses its lease; another worker completes the event once", async () => {
    const r = await rig();
    const event = createEnvelope(OrderCreated, { orderId: "crash", total: 1 });
    // The crashed worker: recorded and claimed the entry with a short lease, then vanished.
    await r.store.inbox.record({ entries: [{ consumer: CONSUMER, event, maxAttempts: 3 }] });
    const [lost] = await r.store.inbox.claim({
      consumers: [CONSUMER],
      limit: 1,
      leaseMs: 300,
      worker: "crashed",
    });
    expect(lost?.attempt).toBe(1);
    const inbox = r.worker("w2").handle(OrderCreated, async (e, ctx) => {
      await ctx.tx.query(`INSERT INTO "${r.store.schema}".effects VALUES ($1, $2)`, [
        e.data.orderId,
        ctx.attempt,
      ]);
    });
    await inbox.start();
    await r.send(event); // a redelivery: recorded already, a no-op; the entry comes back by lease expiry
    const deadline = Date.now() + 10_000;
    while ((await r.effects()).length === 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    await inbox.whenIdle({ timeout: 10_000 });
    expect(await r.effects()).toEqual([{ order_id: "crash", attempt: 2 }]);
    expect(
      await r.store.inbox.complete({ entries: [{ id: lost!.id, leaseToken: lost!.leaseToken }] }),
    ).toEqual(["lease-lost"]);
  });

  // Both workers claim from the same recorded entries. The events are ingested by one worker: when
  // two workers ingest competing transport deliveries, their record calls may interleave in any
  // order, and per-key order follows record order (see the package report).
  it("keeps per-key order across two workers claiming concurrently; honours delays", async () => {
    const r = await rig();
    const seen: Record<string, number[]> = {};
    const running = new Map<string, number>();
    let overlap = false;
    const handledBy = { a: 0, b: 0 };
    const handler = async (
      e: EventEnvelope<string, { orderId: string; total: number }>,
      by: "a" | "b",
    ): Promise<void> => {
      handledBy[by]++;
      const key = e.key ?? "";
      running.set(key, (running.get(key) ?? 0) + 1);
      if ((running.get(key) ?? 0) > 1) overlap = true;
      await new Promise((res) => setTimeout(res, 3));
      const list = seen[key] ?? [];
      list.push(e.data.total);
      seen[key] = list;
      running.set(key, (running.get(key) ?? 0) - 1);
    };
    // The claim path: with admission, worker a would handle everything as it ingests.
    const a = r
      .worker("a", { concurrency: 1, admission: false })
      .handle(OrderCreated, (e) => handler(e, "a"));
    const b = r
      .worker("b", { concurrency: 4, admission: false })
      .handle(OrderCreated, (e) => handler(e, "b"));
    await a.start();
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 15; i++) {
      for (const key of ["k1", "k2", "k3"])
        events.push(createEnvelope(OrderCreated, { orderId: key, total: i }, { key }));
    }
    const now = await r.store.now();
    const delayed = createEnvelope(
      OrderCreated,
      { orderId: "later", total: 99 },
      { key: "delayed", deliverAt: new Date(now.getTime() + 400) },
    );
    await r.send(delayed, ...events);
    const recorded = async (): Promise<number> => {
      const s = await r.store.inbox.stats({ consumers: [CONSUMER] });
      return s.pending + s.inFlight + s.completed;
    };
    const recordDeadline = Date.now() + 10_000;
    while ((await recorded()) < events.length + 1 && Date.now() < recordDeadline) {
      await new Promise((res) => setTimeout(res, 5));
    }
    await b.start();
    const deadline = Date.now() + 10_000;
    while ((seen.delayed?.length ?? 0) === 0 && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    await Promise.all([a.whenIdle({ timeout: 10_000 }), b.whenIdle({ timeout: 10_000 })]);
    expect(overlap).toBe(false);
    for (const key of ["k1", "k2", "k3"]) expect(seen[key]).toEqual([...Array(15).keys()]);
    expect(seen.delayed).toEqual([99]);
    expect(handledBy.a).toBeGreaterThan(0);
    expect(handledBy.b).toBeGreaterThan(0);
    expect((await r.store.now()).getTime()).toBeGreaterThanOrEqual(now.getTime() + 400);
  });
});

describe.runIf(available)("the single-write path (admission) on PostgreSQL", () => {
  it("handles in lanes, in key order, with no overlap per key; a failure holds its key back until its retry", async () => {
    const r = await rig();
    const seen: Record<string, number[]> = {};
    const running = new Map<string, number>();
    let overlap = false;
    let failedOnce = false;
    const inbox = r.worker("w1", { concurrency: 4 }).handle(OrderCreated, async (e, ctx) => {
      const key = e.key ?? "";
      running.set(key, (running.get(key) ?? 0) + 1);
      if ((running.get(key) ?? 0) > 1) overlap = true;
      try {
        await ctx.tx.query(`INSERT INTO "${r.store.schema}".effects VALUES ($1, $2)`, [
          `${key}:${e.data.total}`,
          ctx.attempt,
        ]);
        if (key === "k1" && e.data.total === 3 && !failedOnce) {
          failedOnce = true;
          throw new Error("k1 #3 fails once");
        }
        const list = seen[key] ?? [];
        list.push(e.data.total);
        seen[key] = list;
      } finally {
        running.set(key, (running.get(key) ?? 0) - 1);
      }
    });
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 40; i++) {
      for (const key of ["k1", "k2", "k3", "k4", "k5"])
        events.push(createEnvelope(OrderCreated, { orderId: key, total: i }, { key }));
    }
    await inbox.start();
    await r.send(...events); // one publish: fetched in batches of up to 100 (lanes of >= 64)
    const deadline = Date.now() + 15_000;
    const count = () => Object.values(seen).reduce((n, list) => n + list.length, 0);
    while (count() < 200 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    await inbox.whenIdle({ timeout: 15_000 });
    expect(failedOnce).toBe(true);
    expect(overlap).toBe(false);
    for (const key of ["k1", "k2", "k3", "k4", "k5"]) expect(seen[key]).toEqual([...Array(40).keys()]);
    // Exactly one effect per event; the failed attempt's insert was rolled back with its savepoint.
    const effects = await r.effects();
    expect(effects).toHaveLength(200);
    expect(effects.find((e) => e.order_id === "k1:3")).toEqual({ order_id: "k1:3", attempt: 2 });
    const stats = await r.store.inbox.stats({ consumers: [CONSUMER] });
    expect(stats).toMatchObject({ completed: 200, pending: 0, inFlight: 0, dead: 0 });
    // Most events took the single-write path: completed at attempt 1 without a claim.
    const { rows } = await r.store.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${r.store.schema}".ef_inbox WHERE attempt = 1 AND worker IS NULL`,
    );
    expect(rows[0]?.n).toBeGreaterThan(100);
  });
});

describe.runIf(available)("the outbox relay on PostgreSQL", () => {
  it("relays rows added in a committed transaction, in order, and never those of a rolled-back one", async () => {
    const r = await rig();
    const transport = createMemoryTransport();
    cleanups.push(() => transport.close());
    const sub = await transport.subscribe("orders", { group: "check" });
    const relay = createOutboxRelay({ store: r.store, transport, pollInterval: 50, logger: silentLogger });
    cleanups.push(() => relay.stop());
    const kept = Array.from({ length: 5 }, (_, i) =>
      createEnvelope(OrderCreated, { orderId: `k-${i}`, total: i }),
    );
    const dropped = createEnvelope(OrderCreated, { orderId: "dropped", total: 0 });
    await r.store.transaction(async (tx) => {
      await tx.client.query("SELECT 1");
      await tx.outbox.add({ topic: "orders", events: kept });
    });
    await r.store
      .transaction(async (tx) => {
        await tx.outbox.add({ topic: "orders", events: [dropped] });
        throw new Error("roll back");
      })
      .catch(() => {});
    relay.start();
    await relay.flush({ timeout: "10s" });
    const received: string[] = [];
    for await (const batch of sub.batches()) {
      for (const d of batch) {
        received.push(d.event.id);
        await d.ack();
      }
      if (received.length >= kept.length) break;
    }
    expect(received).toEqual(kept.map((e) => e.id));
    expect(await r.store.outbox.pending()).toBe(0);
  });
});
