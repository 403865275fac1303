// The handler API on a store that offers the single-write path (SQLite: `tx.admission`).
// @eventferry/inbox has no devDependency on a store adapter yet, so the SQLite store is imported
// from its sources in this repository (see the report: add "@eventferry/store-sqlite" as a
// devDependency and import it by name).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EventEnvelope,
  encodeEvent,
  type Plugin,
  silentLogger,
  uuidv7,
  ValidationError,
} from "@eventferry/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSqliteStore, type SqliteDatabase } from "../../store-sqlite/src/index.js";
import { createInbox, type InboxOptions } from "../src/create-inbox.js";
import { deadLetter } from "../src/middleware/dead-letter.js";
import { retry } from "../src/middleware/retry.js";
import { expectHookScenario, runHookScenario } from "../src/test-support/hook-scenario.js";
import { expectSuccessorRunsPromptly } from "../src/test-support/successor-scenario.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const order = (n: number) => createEnvelope(OrderCreated, { orderId: `o-${n}`, total: n });

const dir = mkdtempSync(join(tmpdir(), "ef-inbox-admission-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function sqliteRig(options: Partial<InboxOptions<SqliteDatabase>> = {}) {
  const store = createSqliteStore({ path: join(dir, `${uuidv7()}.db`) });
  await store.migrate();
  const db = await store.transaction(async (tx) => tx.client);
  db.exec("CREATE TABLE invoices (order_id TEXT PRIMARY KEY, total INTEGER)");
  const transport = createMemoryTransport();
  const inbox = createInbox<SqliteDatabase>({
    store,
    transport,
    logger: silentLogger,
    pollInterval: 20,
    retry: { attempts: 3, backoff: "fixed", delay: 5 },
    ...options,
  });
  cleanups.push(async () => {
    await inbox.stop({ timeout: 1_000 });
    await transport.close();
    await store.close();
  });
  const send = (...events: EventEnvelope[]) =>
    transport.publish(
      inbox.topic,
      events.map((e) => encodeEvent(e)),
    );
  const invoices = () => db.prepare("SELECT order_id, total FROM invoices ORDER BY order_id").all();
  return { store, transport, inbox, send, invoices, db };
}

describe("the handler API on the admission path (SQLite)", () => {
  it("offers admission, so one-event handlers run in the recording transaction", async () => {
    const r = await sqliteRig();
    expect(await r.store.transaction(async (tx) => tx.admission !== undefined)).toBe(true);
  });

  it("fires every plugin hook, for admitted handlers and for batch handlers (which skip admission)", async () => {
    const result = await runHookScenario((plugins: Plugin[]) => sqliteRig({ plugins, group: "hooks" }));
    expectHookScenario(result, "hooks");
  });

  it("whenProcessed resolves for admitted events, also when asked after the fact", async () => {
    const r = await sqliteRig();
    r.inbox.handle(OrderCreated, async (e, ctx) => {
      ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(e.data.orderId, e.data.total);
    });
    await r.inbox.start();
    const events = [order(1), order(2), order(3)];
    const first = r.inbox.whenProcessed((events[0] as EventEnvelope).id, { timeout: "5s" });
    await r.send(...events);
    await expect(first).resolves.toMatchObject({
      ok: true,
      handlers: { "order.created": { status: "completed" } },
    });
    await r.inbox.whenIdle();
    const later = await r.inbox.whenProcessed((events[2] as EventEnvelope).id, { timeout: 50 });
    expect(later.ok).toBe(true);
    expect(r.invoices()).toHaveLength(3);
  });

  it("claims only when admission left work for the dispatcher (here: a failed try to retry)", async () => {
    // A long poll interval: every claim here is a wake-up, not a poll.
    const r = await sqliteRig({ pollInterval: 60_000 });
    const claim = r.store.inbox.claim.bind(r.store.inbox);
    let claims = 0;
    r.store.inbox.claim = async (params) => {
      claims++;
      return claim(params);
    };
    let failFirst = true;
    r.inbox.handle(OrderCreated, async (e, ctx) => {
      if (e.data.orderId === "o-100" && failFirst) {
        failFirst = false;
        throw new Error("first try fails");
      }
      ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(e.data.orderId, e.data.total);
    });
    await r.inbox.start();
    await r.inbox.whenIdle();
    const atStart = claims;
    // Ten batches whose every entry runs at admission: nothing for the dispatcher to claim.
    for (let b = 0; b < 10; b++) {
      const events = Array.from({ length: 5 }, (_, i) => order(b * 5 + i));
      await r.send(...events);
      for (const e of events) await r.inbox.whenProcessed(e.id, { timeout: "5s" });
    }
    expect(r.invoices()).toHaveLength(50);
    expect(claims - atStart).toBe(0);
    // An entry that failed at admission is reopened: the dispatcher is woken and retries it
    // long before the next poll.
    const failing = order(100);
    await r.send(failing);
    await expect(r.inbox.whenProcessed(failing.id, { timeout: "5s" })).resolves.toMatchObject({ ok: true });
    expect(claims - atStart).toBeGreaterThan(0);
    expect(r.invoices()).toHaveLength(51);
  });

  it("runs a keyed successor as soon as the predecessor the dispatcher retried is done, not at the next poll", async () => {
    await expectSuccessorRunsPromptly(await sqliteRig({ pollInterval: 60_000 }));
  });

  it("retry() undoes a failed try's writes with a savepoint before the next try", async () => {
    const r = await sqliteRig();
    let tries = 0;
    r.inbox.handle(
      OrderCreated,
      async (e, ctx) => {
        tries++;
        ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(`${e.data.orderId}-try-${tries}`, tries);
        if (tries < 3) throw new Error("transient");
      },
      { middleware: [retry({ attempts: 3, delay: 1 })] },
    );
    await r.inbox.start();
    const e = order(1);
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "5s" });
    expect(tries).toBe(3);
    expect(r.invoices()).toEqual([{ order_id: "o-1-try-3", total: 3 }]);
  });

  it("deadLetter() dead-letters an admitted entry at attempt 1 without using its other attempts", async () => {
    const r = await sqliteRig({ retry: { attempts: 5, backoff: "fixed", delay: 1 } });
    let calls = 0;
    r.inbox.handle(
      OrderCreated,
      async (e, ctx) => {
        calls++;
        ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)").run(e.data.orderId, e.data.total);
        throw new ValidationError("unknown customer");
      },
      { middleware: [deadLetter()] },
    );
    await r.inbox.start();
    const e = order(1);
    await r.send(e);
    const result = await r.inbox.whenProcessed(e.id, { timeout: "5s" });
    expect(result.ok).toBe(false);
    expect(calls).toBe(1);
    const [dead] = await r.store.deadLetters.list();
    expect(dead).toMatchObject({ attempts: 1 });
    expect(dead?.reason).toContain("unknown customer");
    expect(r.invoices()).toEqual([]);
  });

  it("retries a failed batch at its retry time, not at the next poll", async () => {
    const r = await sqliteRig({ pollInterval: 5_000 });
    let calls = 0;
    r.inbox.handleBatch(
      OrderCreated,
      async () => {
        if (++calls === 1) throw new Error("once");
      },
      { maxWait: 5, retry: { attempts: 3, backoff: "fixed", delay: 30 } },
    );
    await r.inbox.start();
    const e = order(1);
    const t0 = Date.now();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "4s" });
    expect(calls).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it("handleBatch commits a batch's writes and completions in one transaction; a failed batch rolls back", async () => {
    const r = await sqliteRig();
    const sizes: number[] = [];
    let failOnce = true;
    r.inbox.handleBatch(
      OrderCreated,
      async (events, ctx) => {
        sizes.push(events.length);
        const insert = ctx.tx.prepare("INSERT INTO invoices VALUES (?, ?)");
        for (const e of events) insert.run(e.data.orderId, e.data.total);
        if (failOnce) {
          failOnce = false;
          throw new Error("first batch fails after writing");
        }
      },
      { maxSize: 50, maxWait: 30 },
    );
    await r.inbox.start();
    const events = Array.from({ length: 20 }, (_, i) => order(i));
    await r.send(...events);
    for (const e of events) await r.inbox.whenProcessed(e.id, { timeout: "5s" });
    expect(r.invoices()).toHaveLength(20);
    // Batches, not one event per transaction: the batch handler's entries skipped admission.
    expect(sizes[0]).toBeGreaterThan(1);
    expect(await r.store.inbox.stats()).toMatchObject({ completed: 20, pending: 0, dead: 0 });
  });
});
