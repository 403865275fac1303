import { defineEvent, silentLogger, ValidationError } from "@eventferry/core";
import { createMemoryStore, type MemoryTx } from "@eventferry/store";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createEventferry, type Eventferry } from "./create-eventferry.js";
import { deadLetter, recoverer, retry, WhenProcessedTimeoutError } from "./index.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function newFerry(): Promise<Eventferry<MemoryTx>> {
  const store = createMemoryStore();
  const ferry = await createEventferry({
    store,
    transport: "memory:",
    logger: silentLogger,
    pollInterval: 20,
    retry: { attempts: 3, backoff: "fixed", delay: 5 },
  });
  cleanup.push(async () => {
    await ferry.stop({ timeout: 1_000 });
    await store.close();
  });
  return ferry;
}

describe("the handler API on the front door", () => {
  it("whenProcessed resolves with each handler's status once a published event is handled", async () => {
    const ferry = await newFerry();
    ferry
      .on(OrderCreated, async (e, ctx) => ctx.tx.set(`invoice:${e.data.orderId}`, e.data.total), {
        name: "invoice",
      })
      .on(
        OrderCreated,
        async (e) => {
          if (e.data.total < 0) throw new ValidationError("negative total");
        },
        { name: "check", middleware: [recoverer(), retry({ attempts: 2, delay: 1 }), deadLetter()] },
      );
    await ferry.start();
    const good = await ferry.publish(OrderCreated, { orderId: "o-1", total: 5 });
    const bad = await ferry.publish(OrderCreated, { orderId: "o-2", total: -1 });
    await expect(ferry.whenProcessed(good, { timeout: "3s" })).resolves.toMatchObject({
      ok: true,
      handlers: { invoice: { status: "completed" }, check: { status: "completed" } },
    });
    await expect(ferry.whenProcessed(bad, { timeout: "3s" })).resolves.toMatchObject({
      ok: false,
      handlers: { invoice: { status: "completed" }, check: { status: "dead-lettered" } },
    });
    const [dead] = await ferry.deadLetters.list();
    expect(dead?.attempts).toBe(1);
    await expect(ferry.whenProcessed("unknown-id", { timeout: 30 })).rejects.toBeInstanceOf(
      WhenProcessedTimeoutError,
    );
  });

  it("onBatch hands published events to a batch handler in one transaction", async () => {
    const ferry = await newFerry();
    const sizes: number[] = [];
    ferry.onBatch(
      OrderCreated,
      async (events, ctx) => {
        sizes.push(events.length);
        for (const e of events) ctx.tx.set(`invoice:${e.data.orderId}`, e.data.total);
      },
      { maxSize: 50, maxWait: 30 },
    );
    await ferry.start();
    const ids = await ferry.publishMany(
      Array.from({ length: 12 }, (_, i) => ({ event: OrderCreated, data: { orderId: `o-${i}`, total: i } })),
    );
    for (const id of ids) await ferry.whenProcessed(id, { timeout: "3s" });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(12);
    expect(sizes[0]).toBeGreaterThan(1);
    expect((ferry.store as ReturnType<typeof createMemoryStore>).kv.entries()).toHaveLength(12);
  });
});
