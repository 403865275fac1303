import { defineEvent, type EventEnvelope } from "@eventferry/core";
import type { MemoryTx } from "@eventferry/store";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { Eventferry } from "./create-eventferry.js";
import type { ProcessedResult } from "./index.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
declare const ferry: Eventferry<MemoryTx>;

describe("Eventferry.onBatch", () => {
  it("gives the events the definition's data type and ctx.tx the store's client", () => {
    ferry.onBatch(OrderCreated, async (events, ctx) => {
      expectTypeOf(events).toEqualTypeOf<
        readonly EventEnvelope<string, { orderId: string; total: number }>[]
      >();
      expectTypeOf(ctx.tx).toEqualTypeOf<MemoryTx>();
    });
    ferry.onBatch("order.*", async (events) => {
      expectTypeOf(events[0]!.data).toEqualTypeOf<unknown>();
    });
    // @ts-expect-error `total` is a number
    ferry.onBatch(OrderCreated, async (events) => void events[0]!.data.total.toUpperCase());
    expectTypeOf(ferry.onBatch(OrderCreated, async () => {}, { maxSize: 10 })).toEqualTypeOf<
      Eventferry<MemoryTx>
    >();
  });
});

describe("Eventferry.whenProcessed", () => {
  it("resolves with a ProcessedResult", () => {
    expectTypeOf(ferry.whenProcessed("id")).toEqualTypeOf<Promise<ProcessedResult>>();
  });
});
