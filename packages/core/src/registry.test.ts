import { describe, expect, it } from "vitest";
import { z } from "zod";
import { decodeEvent, encodeEvent } from "./codec.js";
import { defineEvent } from "./define-event.js";
import { ConfigError, ValidationError } from "./errors.js";
import type { UntypedEnvelope } from "./event.js";
import { createRegistry } from "./registry.js";

// v1 { amount: number } -> v2 { total: number } -> v3 { total: { amount, currency } }
const PaymentPaid = defineEvent(
  "payment.paid",
  z.object({ total: z.object({ amount: z.number(), currency: z.string() }) }),
  {
    version: 3,
    description: "A payment was captured.",
    upcast: {
      1: (v1) => ({ total: (v1 as { amount: number }).amount }),
      2: (v2) => ({ total: { amount: (v2 as { total: number }).total, currency: "EUR" } }),
    },
  },
);
const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

function envelope(type: string, data: unknown, schemaVersion = 1): UntypedEnvelope {
  return { id: "e-1", type, data, schemaVersion, priority: 3, occurredAt: "2024-05-01T12:00:00.000Z" };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("createRegistry", () => {
  it("registers, gets, lists", () => {
    const registry = createRegistry([OrderCreated]).register(PaymentPaid);
    expect(registry.has("order.created")).toBe(true);
    expect(registry.has("order.paid")).toBe(false);
    expect(registry.get("payment.paid")).toBe(PaymentPaid);
    expect(registry.get("nope")).toBeUndefined();
    expect(registry.list()).toEqual([OrderCreated, PaymentPaid]);
  });

  it("ignores the same definition registered twice", () => {
    const registry = createRegistry([OrderCreated, OrderCreated]);
    registry.register(OrderCreated);
    expect(registry.list()).toHaveLength(1);
  });

  it("refuses a different definition for a registered type", () => {
    const registry = createRegistry([OrderCreated]);
    const other = defineEvent("order.created", z.object({ id: z.string() }));
    const error = catchError(() => registry.register(other));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('"order.created" is already registered');
    expect(registry.get("order.created")).toBe(OrderCreated);
  });

  it("refuses things that are not definitions", () => {
    expect(() => createRegistry([{ type: "x" } as never])).toThrow(ConfigError);
  });

  describe("validate", () => {
    const registry = createRegistry([OrderCreated, PaymentPaid]);

    it("parses current-version data", () => {
      const e = registry.validate(envelope("order.created", { orderId: "o-1", total: 42, extra: true }));
      expect(e.data).toEqual({ orderId: "o-1", total: 42 });
      expect(e.schemaVersion).toBe(1);
      expect(e.id).toBe("e-1");
    });

    it.each([
      [1, { amount: 12.5 }],
      [2, { total: 12.5 }],
      [3, { total: { amount: 12.5, currency: "EUR" } }],
    ])("upcasts v%d data to v3", (version, data) => {
      const e = registry.validate(envelope("payment.paid", data, version));
      expect(e.schemaVersion).toBe(3);
      expect(e.data).toEqual({ total: { amount: 12.5, currency: "EUR" } });
    });

    it("upcasts what came over the wire", () => {
      const wire = encodeEvent(envelope("payment.paid", { amount: 3 }, 1)).payload;
      expect(registry.validate(decodeEvent(wire)).data).toEqual({ total: { amount: 3, currency: "EUR" } });
    });

    it("rejects unknown types with UNKNOWN_EVENT_TYPE", () => {
      const error = catchError(() => registry.validate(envelope("order.shipped", {})));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe("UNKNOWN_EVENT_TYPE");
      expect((error as ValidationError).message).toContain("order.shipped");
    });

    it("rejects a schema version newer than the known one", () => {
      const error = catchError(() => registry.validate(envelope("payment.paid", {}, 4)));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).code).toBe("VALIDATION_FAILED");
      expect((error as ValidationError).message).toMatch(/schema version 4, newer than the known version 3/);
    });

    it("rejects data the schema rejects, with the issues", () => {
      const error = catchError(() => registry.validate(envelope("order.created", { orderId: 1 })));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual(
        expect.arrayContaining([expect.stringMatching(/^orderId:/)]),
      );
    });

    it("rejects old data an upcaster cannot handle", () => {
      const Broken = defineEvent("broken.event", z.object({ n: z.number() }), {
        version: 2,
        upcast: {
          1: () => {
            throw new Error("cannot");
          },
        },
      });
      const error = catchError(() => createRegistry([Broken]).validate(envelope("broken.event", {}, 1)));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toContain("upcasting");
    });
  });

  it("exposes JSON Schemas for the store", () => {
    const schemas = createRegistry([OrderCreated, PaymentPaid]).jsonSchemas();
    expect(schemas.map((s) => [s.type, s.version])).toEqual([
      ["order.created", 1],
      ["payment.paid", 3],
    ]);
    const paid = schemas[1]?.schema as Record<string, unknown>;
    expect(paid.type).toBe("object");
    expect(paid.title).toBe("payment.paid");
    expect(paid.description).toBe("A payment was captured.");
    expect(paid["x-eventferry-version"]).toBe(3);
    expect(paid.required).toEqual(["total"]);
  });
});
