import { createEnvelope, defineEvent, encodeEvent, silentLogger, uuidv7 } from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import { createOutboxRelay } from "@eventferry/outbox";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createSqliteStore,
  createStoreTransport,
  type SqliteDatabase,
  type SqliteStore,
} from "../src/index.js";
import { tempDir } from "./setup.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

const tmp = tempDir();
afterAll(() => tmp.remove());
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function rig(file = tmp.file(`${uuidv7()}.db`)) {
  const store = createSqliteStore({ path: file });
  await store.migrate();
  const db = await store.transaction(async (tx) => tx.client);
  db.exec("CREATE TABLE IF NOT EXISTS invoices (order_id TEXT PRIMARY KEY, total INTEGER)");
  const transport = createStoreTransport(store, { minPollMs: 5, maxPollMs: 50 });
  const inboxes: Inbox<SqliteDatabase>[] = [];
  const inbox = (worker: string, lease: number | undefined = undefined) => {
    const i = createInbox<SqliteDatabase>({
      store,
      transport,
      worker,
      logger: silentLogger,
      pollInterval: 20,
      retry: { attempts: 3, backoff: "fixed", delay: 5 },
      ...(lease ? { lease, handlerTimeout: lease - 50 } : {}),
    });
    inboxes.push(i);
    return i;
  };
  cleanups.push(async () => {
    for (const i of inboxes) await i.stop({ timeout: 1_000 });
    await transport.close();
    await store.close();
  });
  const rows = () => db.prepare("SELECT order_id, total FROM invoices ORDER BY order_id").all();
  return { store, transport, inbox, rows, db };
}

describe("the engine on SQLite (createInbox + store: transport)", () => {
  it("handles each event exactly once with its ctx.tx writes, also when the event is delivered twice", async () => {
    const r = await rig();
    const i = r.inbox("w1").handle(OrderCreated, async (event, ctx) => {
      ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(event.data.orderId, event.data.total);
    });
    await i.start();
    const e = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 });
    await r.transport.publish(i.topic, [encodeEvent(e), encodeEvent(e)]);
    await i.whenIdle({ timeout: 5_000 });
    expect(r.rows()).toEqual([{ order_id: "o-1", total: 42 }]);
  });

  it("rolls back a failing handler's writes on every attempt and dead-letters it", async () => {
    const r = await rig();
    let calls = 0;
    const i = r.inbox("w1").handle(OrderCreated, async (event, ctx) => {
      calls++;
      ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(`${event.data.orderId}-${calls}`, calls);
      throw new Error("payment provider down");
    });
    await i.start();
    await r.transport.publish(i.topic, [
      encodeEvent(createEnvelope(OrderCreated, { orderId: "o-2", total: 1 })),
    ]);
    await i.whenIdle({ timeout: 5_000 });
    expect(calls).toBe(3);
    expect(r.rows()).toEqual([]);
    const [letter] = await r.store.deadLetters.list();
    expect(letter?.history.map((h) => h.error.message)).toEqual([
      "payment provider down",
      "payment provider down",
      "payment provider down",
    ]);
  });

  it("an entry claimed by a worker process that crashed is completed once by another after the lease", async () => {
    const file = tmp.file(`${uuidv7()}.db`);
    const r = await rig(file);
    // "Process A" (its own connection): its inbox recorded and claimed the entry, then it died.
    const a = createSqliteStore({ path: file });
    const e = createEnvelope(OrderCreated, { orderId: "o-3", total: 3 });
    await a.inbox.record({ entries: [{ consumer: "default/invoice", event: e, maxAttempts: 3 }] });
    const [lost] = await a.inbox.claim({ consumers: ["default/invoice"], limit: 1, leaseMs: 300 });
    expect(lost?.attempt).toBe(1);
    await a.close();

    let calls = 0;
    const b = r.inbox("b").handle(
      OrderCreated,
      async (event, ctx) => {
        calls++;
        ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(event.data.orderId, event.data.total);
      },
      { name: "invoice" },
    );
    await b.start();
    const until = Date.now() + 5_000;
    while (r.rows().length === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    await b.whenIdle({ timeout: 5_000 });
    expect(r.rows()).toEqual([{ order_id: "o-3", total: 3 }]);
    expect(calls).toBe(1);
    expect(await r.store.inbox.stats()).toMatchObject({ inFlight: 0, completed: 1, pending: 0 });
  });

  it("the outbox relay carries rows added in a handler's transaction to the transport, once, in key order", async () => {
    const r = await rig();
    const handled: string[] = [];
    const i = r.inbox("w1").handle(OrderCreated, async (event, ctx) => {
      ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(event.data.orderId, event.data.total);
      handled.push(event.data.orderId);
    });
    await i.start();
    // Producer side: business write + outbox row in one store transaction.
    const events = [1, 2, 3].map((n) =>
      createEnvelope(OrderCreated, { orderId: `o-${n}`, total: n }, { key: "customer-1" }),
    );
    await r.store.transaction(async (tx) => {
      await tx.outbox.add({ topic: i.topic, events });
    });
    const relay = createOutboxRelay({
      store: r.store,
      transport: r.transport,
      pollInterval: 20,
      logger: silentLogger,
    });
    await relay.flush({ timeout: 5_000 });
    expect(await r.store.outbox.pending()).toBe(0);
    const until = Date.now() + 5_000;
    while (r.rows().length < 3 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    await i.whenIdle({ timeout: 5_000 });
    expect(r.rows()).toEqual([
      { order_id: "o-1", total: 1 },
      { order_id: "o-2", total: 2 },
      { order_id: "o-3", total: 3 },
    ]);
    expect(handled).toEqual(["o-1", "o-2", "o-3"]);
  });
});

export type { SqliteStore };
