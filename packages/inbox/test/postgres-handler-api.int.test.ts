// The handler API on PostgreSQL (lazy savepoints, admission with advisory locks). The store is
// imported from its sources in this repository: @eventferry/inbox has no devDependency on
// @eventferry/store-postgres yet (see the report).
import { randomBytes } from "node:crypto";
import {
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EventEnvelope,
  encodeEvent,
  silentLogger,
} from "@eventferry/core";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore } from "../../store-postgres/src/index.js";
import { createInbox, type InboxOptions } from "../src/create-inbox.js";
import { retry } from "../src/middleware/retry.js";
import { expectHookScenario, runHookScenario } from "../src/test-support/hook-scenario.js";
import { expectSuccessorRunsPromptly } from "../src/test-support/successor-scenario.js";

const POSTGRES_URL = process.env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const order = (n: number) => createEnvelope(OrderCreated, { orderId: `o-${n}`, total: n });

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function pgRig(options: Partial<Omit<InboxOptions, "store" | "transport">> = {}) {
  const schema = `efi_${randomBytes(6).toString("hex")}`;
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 6 });
  await store.migrate();
  await store.pool.query(`CREATE TABLE "${schema}".invoices (order_id text PRIMARY KEY, total int NOT NULL)`);
  const transport = createMemoryTransport();
  const inbox = createInbox({
    store,
    transport,
    logger: silentLogger,
    pollInterval: 20,
    retry: { attempts: 3, backoff: "fixed", delay: 5 },
    ...options,
  });
  cleanups.push(async () => {
    await inbox.stop({ timeout: 2_000 });
    await transport.close();
    await store.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await store.close();
  });
  const send = (...events: EventEnvelope[]) =>
    transport.publish(
      inbox.topic,
      events.map((e) => encodeEvent(e)),
    );
  const invoices = async () =>
    (await store.pool.query(`SELECT order_id, total FROM "${schema}".invoices ORDER BY order_id`)).rows;
  return { store, inbox, send, invoices, table: `"${schema}".invoices` };
}

describe("the handler API on PostgreSQL", () => {
  it("fires every plugin hook on the admission and claim paths and for batch handlers", async () => {
    const result = await runHookScenario((plugins) => pgRig({ plugins, group: "hooks" }));
    expectHookScenario(result, "hooks");
  });

  for (const admission of [true, false]) {
    it(`runs delayed events at their time, not at the next poll: a one-event handler's and a batch handler's (admission ${admission})`, async () => {
      const Tick = defineEvent("tick.batched", z.object({ n: z.number() }));
      // Separate inboxes: one handler's completion must not be what wakes the other's loop.
      const one = await pgRig({ admission, pollInterval: 60_000 });
      one.inbox.handle(OrderCreated, async () => {});
      const batch = await pgRig({ admission, pollInterval: 60_000 });
      batch.inbox.handleBatch(Tick, async () => {}, { maxSize: 10, maxWait: 10 });
      for (const r of [one, batch]) await r.inbox.start();
      const single = createEnvelope(OrderCreated, { orderId: "later", total: 1 }, { delay: 300 });
      const batched = createEnvelope(Tick, { n: 1 }, { delay: 300 });
      const sent = Date.now();
      await Promise.all([one.send(single), batch.send(batched)]);
      await expect(one.inbox.whenProcessed(single.id, { timeout: "10s" })).resolves.toMatchObject({
        ok: true,
      });
      await expect(batch.inbox.whenProcessed(batched.id, { timeout: "10s" })).resolves.toMatchObject({
        ok: true,
      });
      const took = Date.now() - sent;
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(3_000);
    });
  }

  for (const admission of [true, false]) {
    it(`runs a keyed successor as soon as the predecessor the dispatcher retried is done (admission ${admission})`, async () => {
      await expectSuccessorRunsPromptly(await pgRig({ admission, pollInterval: 60_000 }));
    });
  }

  for (const admission of [true, false]) {
    it(`retry() undoes a failed try's writes (nested lazy savepoint; admission ${admission})`, async () => {
      const r = await pgRig({ admission });
      let tries = 0;
      r.inbox.handle(
        OrderCreated,
        async (e, ctx) => {
          tries++;
          await ctx.tx.query(`INSERT INTO ${r.table} VALUES ($1, $2)`, [
            `${e.data.orderId}-try-${tries}`,
            tries,
          ]);
          if (tries < 3) throw new Error("serialization failure");
        },
        { middleware: [retry({ attempts: 3, delay: 1 })] },
      );
      await r.inbox.start();
      const e = order(1);
      await r.send(e);
      await expect(r.inbox.whenProcessed(e.id, { timeout: "10s" })).resolves.toMatchObject({ ok: true });
      expect(tries).toBe(3);
      expect(await r.invoices()).toEqual([{ order_id: "o-1-try-3", total: 3 }]);
    });
  }

  it("handleBatch writes a batch and completes it in one transaction", async () => {
    const r = await pgRig();
    const sizes: number[] = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events, ctx) => {
        sizes.push(events.length);
        await ctx.tx.query(`INSERT INTO ${r.table} SELECT * FROM unnest($1::text[], $2::int[])`, [
          events.map((e) => e.data.orderId),
          events.map((e) => e.data.total),
        ]);
      },
      { maxSize: 100, maxWait: 50 },
    );
    await r.inbox.start();
    const events = Array.from({ length: 30 }, (_, i) => order(i));
    await r.send(...events);
    for (const e of events) await r.inbox.whenProcessed(e.id, { timeout: "10s" });
    expect(await r.invoices()).toHaveLength(30);
    expect(sizes[0]).toBeGreaterThan(1);
    expect(await r.store.inbox.stats()).toMatchObject({ completed: 30, pending: 0, dead: 0 });
  });
});
