import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineEvent, isEventDefinition, isValidEventType } from "./define-event.js";
import { ConfigError, ValidationError } from "./errors.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

describe("isValidEventType", () => {
  it.each([
    ["order.created", true],
    ["a", true],
    ["Order_1.item-added.v2", true],
    ["", false],
    ["order.", false],
    [".order", false],
    ["order..created", false],
    ["order created", false],
    ["order.*", false],
    ["ördér", false],
    ["a".repeat(255), true],
    ["a".repeat(256), false],
  ])("%j -> %s", (name, valid) => {
    expect(isValidEventType(name)).toBe(valid);
  });
});

describe("defineEvent", () => {
  it("holds type, schema, version and description", () => {
    const def = defineEvent("x.y", z.object({}), { description: "why" });
    expect(def).toMatchObject({
      kind: "eventferry.event-definition",
      type: "x.y",
      version: 1,
      description: "why",
    });
    expect(Object.isFrozen(def)).toBe(true);
    expect(isEventDefinition(def)).toBe(true);
    expect(isEventDefinition({ type: "x.y" })).toBe(false);
    expect(isEventDefinition(null)).toBe(false);
  });

  it("lists every problem of an invalid definition", () => {
    try {
      defineEvent("bad type", z.object({}), { version: 3, upcast: { 1: (d) => d } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toEqual([
        expect.stringContaining("type"),
        "missing upcaster from version 2 to 3",
      ]);
    }
    expect(() => defineEvent("a", z.object({}), { version: 0 })).toThrow(ConfigError);
    expect(() => defineEvent("a", z.object({}), { version: 1.5 })).toThrow(ConfigError);
  });

  it("parses and safe-parses", () => {
    expect(OrderCreated.parse({ orderId: "o", total: 1 })).toEqual({ orderId: "o", total: 1 });
    const bad = OrderCreated.safeParse({ orderId: 1 });
    expect(bad.success).toBe(false);
    if (!bad.success) {
      expect(bad.error).toBeInstanceOf(ValidationError);
      expect(bad.error.issues).toHaveLength(2);
      expect(bad.error.issues[0]).toMatch(/^orderId: /);
    }
    expect(() => OrderCreated.parse("nope")).toThrow(ValidationError);
    const root = OrderCreated.safeParse("nope");
    expect(!root.success && root.error.issues[0]).toMatch(/^\(root\): /);
  });

  it("upcasts older versions step by step", () => {
    const calls: number[] = [];
    const def = defineEvent("v.three", z.object({ c: z.number() }), {
      version: 3,
      upcast: {
        1: (d) => {
          calls.push(1);
          return { b: (d as { a: number }).a + 1 };
        },
        2: (d) => {
          calls.push(2);
          return { c: (d as { b: number }).b + 1 };
        },
      },
    });
    expect(def.parse({ a: 1 }, 1)).toEqual({ c: 3 });
    expect(def.parse({ b: 1 }, 2)).toEqual({ c: 2 });
    expect(def.parse({ c: 1 })).toEqual({ c: 1 });
    expect(calls).toEqual([1, 2, 2]);
  });

  it.each([0, 4, 1.5, Number.NaN])("rejects unknown source version %d", (version) => {
    const def = defineEvent("v.three", z.object({}), { version: 3, upcast: { 1: (d) => d, 2: (d) => d } });
    const r = def.safeParse({}, version);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.message).toMatch(/no schema version/);
  });

  it("safeParse never throws, even for async schemas", () => {
    const def = defineEvent(
      "async.refine",
      z.object({ a: z.string() }).refine(async () => true),
    );
    const r = def.safeParse({ a: "x" });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error).toBeInstanceOf(ValidationError);
  });

  it("names symbol paths without throwing", () => {
    const key = Symbol("k");
    const def = defineEvent(
      "sym.path",
      z.any().superRefine((_v, ctx) => ctx.addIssue({ code: "custom", message: "bad", path: [key] })),
    );
    const r = def.safeParse({});
    expect(!r.success && r.error.issues).toEqual(["Symbol(k): bad"]);
  });

  it("caches its JSON Schema and describes the input", () => {
    const def = defineEvent("with.default", z.object({ n: z.number().default(1) }), {
      version: 1,
      description: "d",
    });
    const schema = def.jsonSchema();
    expect(def.jsonSchema()).toBe(schema);
    expect(schema).toMatchObject({
      type: "object",
      title: "with.default",
      description: "d",
      "x-eventferry-version": 1,
    });
    expect(schema.required ?? []).not.toContain("n");
  });
});
