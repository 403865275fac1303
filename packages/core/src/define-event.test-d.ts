import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { createEnvelope } from "./codec.js";
import { defineEvent, type EventData, type EventInput, type EventType } from "./define-event.js";
import type { EventEnvelope } from "./event.js";
import { createRegistry } from "./registry.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const WithDefault = defineEvent("with.default", z.object({ n: z.number().default(1) }));

describe("event definition types", () => {
  it("EventData is the parsed payload", () => {
    expectTypeOf<EventData<typeof OrderCreated>>().toEqualTypeOf<{ orderId: string; total: number }>();
  });

  it("EventType is the literal type name", () => {
    expectTypeOf<EventType<typeof OrderCreated>>().toEqualTypeOf<"order.created">();
    expectTypeOf(OrderCreated.type).toEqualTypeOf<"order.created">();
  });

  it("EventInput differs from EventData where the schema has defaults", () => {
    expectTypeOf<EventInput<typeof WithDefault>>().toEqualTypeOf<{ n?: number | undefined }>();
    expectTypeOf<EventData<typeof WithDefault>>().toEqualTypeOf<{ n: number }>();
  });

  it("parse returns the payload type", () => {
    expectTypeOf(OrderCreated.parse).returns.toEqualTypeOf<{ orderId: string; total: number }>();
  });

  it("createEnvelope is typed by the definition", () => {
    const envelope = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 });
    expectTypeOf(envelope).toEqualTypeOf<
      EventEnvelope<"order.created", { orderId: string; total: number }>
    >();
    expectTypeOf(envelope.data.total).toBeNumber();
    createEnvelope(WithDefault, {});
  });

  it("createEnvelope rejects wrong data at compile time", () => {
    // @ts-expect-error total must be a number
    createEnvelope(OrderCreated, { orderId: "o-1", total: "42" });
    // @ts-expect-error orderId is missing
    createEnvelope(OrderCreated, { total: 42 });
    // @ts-expect-error priority must be 1..5
    createEnvelope(OrderCreated, { orderId: "o-1", total: 42 }, { priority: 9 });
  });

  it("the registry hands out untyped envelopes", () => {
    const registry = createRegistry([OrderCreated]);
    expectTypeOf(registry.validate).returns.toEqualTypeOf<EventEnvelope>();
  });
});
