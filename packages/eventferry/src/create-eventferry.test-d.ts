import { defineEvent, type EventEnvelope } from "@eventferry/core";
import { createMemoryStore, type MemoryTx } from "@eventferry/store";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { createEventferry, type Eventferry } from "./create-eventferry.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const OrderShipped = defineEvent(
  "order.shipped",
  z.object({ orderId: z.string(), carrier: z.string().optional() }),
);

declare const ferry: Eventferry<MemoryTx>;

describe("createEventferry", () => {
  it("takes the store's client type from a store instance", () => {
    const make = () => createEventferry({ store: createMemoryStore(), transport: "memory:" });
    expectTypeOf<Awaited<ReturnType<typeof make>>>().toEqualTypeOf<Eventferry<MemoryTx>>();
  });

  it("has an unknown client type for a store URL", () => {
    const make = () => createEventferry({ store: "memory:", transport: "memory:" });
    expectTypeOf<Awaited<ReturnType<typeof make>>>().toEqualTypeOf<Eventferry<unknown>>();
  });
});

describe("Eventferry.on", () => {
  it("types a definition handler's data and ctx.tx", () => {
    ferry.on(OrderCreated, async (event, ctx) => {
      expectTypeOf(event.data).toEqualTypeOf<{ orderId: string; total: number }>();
      expectTypeOf(event).toEqualTypeOf<EventEnvelope<string, { orderId: string; total: number }>>();
      expectTypeOf(ctx.tx).toEqualTypeOf<MemoryTx>();
      expectTypeOf(ctx.attempt).toEqualTypeOf<number>();
    });
  });

  it("gives a pattern handler unknown data", () => {
    ferry.on("order.*", async (event, ctx) => {
      expectTypeOf(event.data).toEqualTypeOf<unknown>();
      expectTypeOf(ctx.tx).toEqualTypeOf<MemoryTx>();
    });
  });

  it("is chainable", () => {
    expectTypeOf(ferry.on(OrderCreated, async () => {})).toEqualTypeOf<Eventferry<MemoryTx>>();
  });

  it("rejects a handler that expects other data", () => {
    // @ts-expect-error: order.created has no `carrier`
    ferry.on(OrderCreated, async (event: EventEnvelope<string, { carrier: number }>) => {
      void event;
    });
  });
});

describe("Eventferry.publish", () => {
  it("resolves with the event id", () => {
    expectTypeOf(ferry.publish(OrderCreated, { orderId: "o-1", total: 42 })).toEqualTypeOf<Promise<string>>();
  });

  it("rejects wrong data at compile time", () => {
    // @ts-expect-error: orderId must be a string (and total is missing)
    void ferry.publish(OrderCreated, { orderId: 1 });
    // @ts-expect-error: total is missing
    void ferry.publish(OrderCreated, { orderId: "o-1" });
    // optional fields may be left out
    void ferry.publish(OrderShipped, { orderId: "o-1" });
  });

  it("rejects unknown options", () => {
    // @ts-expect-error: priority is 1 … 5
    void ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }, { priority: 9 });
  });
});

describe("Eventferry.publishMany", () => {
  it("checks each item's data against its own definition", () => {
    expectTypeOf(
      ferry.publishMany([
        { event: OrderCreated, data: { orderId: "o-1", total: 1 } },
        { event: OrderShipped, data: { orderId: "o-1", carrier: "ups" }, options: { key: "o-1" } },
      ]),
    ).toEqualTypeOf<Promise<string[]>>();
    void ferry.publishMany([
      // @ts-expect-error: total must be a number
      { event: OrderCreated, data: { orderId: "o-1", total: "1" } },
    ]);
  });

  it("accepts a mapped array", () => {
    const orders = [{ orderId: "o-1", total: 1 }];
    void ferry.publishMany(orders.map((o) => ({ event: OrderCreated, data: o })));
  });
});
