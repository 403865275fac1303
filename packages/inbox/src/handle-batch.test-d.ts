import { defineEvent, type EventEnvelope } from "@eventferry/core";
import type { MemoryTx } from "@eventferry/store";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { Inbox } from "./create-inbox.js";
import type { ProcessedResult } from "./processed.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
declare const inbox: Inbox<MemoryTx>;

describe("Inbox.handleBatch", () => {
  it("types the events' data from the definition and ctx.tx from the store", () => {
    inbox.handleBatch(OrderCreated, async (events, ctx) => {
      expectTypeOf(events).toEqualTypeOf<
        readonly EventEnvelope<string, { orderId: string; total: number }>[]
      >();
      expectTypeOf(events[0]!.data.total).toEqualTypeOf<number>();
      expectTypeOf(ctx.tx).toEqualTypeOf<MemoryTx>();
    });
  });

  it("gives a pattern batch handler unknown data and checks options", () => {
    inbox.handleBatch(
      "order.*",
      async (events) => {
        expectTypeOf(events[0]!.data).toEqualTypeOf<unknown>();
      },
      { maxSize: 10, maxWait: "50ms", retry: false, timeout: "5s", name: "orders" },
    );
    // @ts-expect-error handler middleware does not apply to batches
    inbox.handleBatch("order.*", async () => {}, { middleware: [] });
    // @ts-expect-error the data of order.created has no `foo`
    inbox.handleBatch(OrderCreated, async (events) => void events[0]!.data.foo);
  });
});

describe("Inbox.whenProcessed", () => {
  it("resolves with a ProcessedResult", () => {
    expectTypeOf(inbox.whenProcessed("id", { timeout: "1s", handler: "h" })).toEqualTypeOf<
      Promise<ProcessedResult>
    >();
  });
});
