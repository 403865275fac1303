import { ConfigError, createEnvelope, defineEvent, type Handler, ValidationError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { rig } from "../test-support/rig.js";
import { DeadLetterRequest, deadLetter } from "./dead-letter.js";
import { recoverer } from "./recoverer.js";
import { retry } from "./retry.js";
import { timeout } from "./timeout.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const order = (n = 1) => createEnvelope(OrderCreated, { orderId: `o-${n}`, total: n });
const policy = { attempts: 5, backoff: "fixed", delay: 1 } as const;

describe("retry()", () => {
  it("retries transient errors inside one attempt: no scheduled retry, no failed attempt recorded", async () => {
    const r = rig();
    const seen: Array<[number, number]> = [];
    let tries = 0;
    r.inbox.handle(
      OrderCreated,
      async (_e, ctx) => {
        tries++;
        seen.push([ctx.attempt, tries]);
        if (tries < 3) throw new Error("deadlock detected");
        ctx.tx.set("done", tries);
      },
      { middleware: [retry({ attempts: 3, delay: 5 })], retry: policy },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "2s" });
    expect(seen).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    expect(r.store.kv.get("done")).toBe(3);
    expect(await r.store.deadLetters.list()).toEqual([]);
  });

  it("gives up after `attempts` tries (the attempt fails), and never retries errors `when` rejects", async () => {
    const r = rig();
    let transient = 0;
    let fatal = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        transient++;
        throw new Error("still down");
      },
      { name: "transient", middleware: [retry({ attempts: 2, delay: 1 })], retry: false },
    );
    r.inbox.handle(
      OrderCreated,
      async () => {
        fatal++;
        throw new ValidationError("bad input");
      },
      { name: "fatal", middleware: [retry({ attempts: 4, delay: 1 })], retry: false },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    const result = await r.inbox.whenProcessed(e.id, { timeout: "2s" });
    expect(result.ok).toBe(false);
    expect(transient).toBe(2);
    expect(fatal).toBe(1); // not retryable by default
  });

  it("stops retrying when the attempt's signal aborts (the handler's timeout bounds all tries)", async () => {
    const r = rig();
    let tries = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        tries++;
        throw new Error("flaky");
      },
      { middleware: [retry({ attempts: 100, delay: 20 })], timeout: 70, retry: false },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "2s" });
    await new Promise((res) => setTimeout(res, 100));
    expect(tries).toBeGreaterThan(1);
    expect(tries).toBeLessThan(8);
    const [dead] = await r.store.deadLetters.list();
    expect(dead?.error.code).toBe("HANDLER_TIMEOUT");
  });

  it("validates its options", () => {
    expect(() => retry({ attempts: 0 })).toThrow(ConfigError);
    expect(() => retry({ delay: "later" })).toThrow(ConfigError);
    expect(() => retry({ when: 3 as never })).toThrow(ConfigError);
  });
});

describe("recoverer()", () => {
  it("turns thrown non-Errors and synchronous throws into a HandlerError with a stack", async () => {
    const r = rig();
    r.inbox.handle(
      OrderCreated,
      async () => {
        throw "a string panic";
      },
      { name: "string", middleware: [recoverer()], retry: false },
    );
    r.inbox.handle(
      OrderCreated,
      async () => {
        throw undefined;
      },
      { name: "undef", middleware: [recoverer()], retry: false },
    );
    r.inbox.handle(
      OrderCreated,
      ((): Promise<void> => {
        throw { weird: true };
      }) as Handler,
      { name: "sync", middleware: [recoverer()], retry: false },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "2s" });
    const dead = await r.store.deadLetters.list();
    const byConsumer = Object.fromEntries(dead.map((d) => [d.consumer, d.error]));
    expect(byConsumer["default/string"]).toMatchObject({ name: "HandlerError", code: "HANDLER_FAILED" });
    expect(byConsumer["default/string"]?.message).toContain('"a string panic"');
    expect(byConsumer["default/undef"]?.message).toContain("undefined");
    expect(byConsumer["default/sync"]?.message).toContain('{"weird":true}');
    for (const error of Object.values(byConsumer)) {
      expect(error.stack).toContain("HandlerError");
      expect(error.stack).toContain(`for order.created ${e.id}`);
    }
  });

  it("passes Errors through unchanged", async () => {
    const original = new TypeError("typed");
    const wrapped = recoverer()(async () => {
      throw original;
    });
    await expect(wrapped(order() as never, {} as never)).rejects.toBe(original);
  });
});

describe("deadLetter()", () => {
  it("dead-letters at once, without the remaining attempts, when `when` matches; other errors retry", async () => {
    const r = rig();
    let validation = 0;
    let other = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        validation++;
        throw new ValidationError("order total must be positive");
      },
      { name: "validation", middleware: [deadLetter()], retry: policy },
    );
    r.inbox.handle(
      OrderCreated,
      async () => {
        other++;
        throw new Error("transient");
      },
      {
        name: "other",
        middleware: [deadLetter()],
        retry: { attempts: 3, backoff: "fixed", delay: 1 },
      },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "3s" });
    expect(validation).toBe(1);
    expect(other).toBe(3);
    const dead = await r.store.deadLetters.list({ consumer: "default/validation" });
    expect(dead[0]).toMatchObject({ attempts: 1 });
    expect(dead[0]?.reason).toContain("order total must be positive");
    expect(dead[0]?.error.name).toBe("DeadLetterRequest");
  });

  it("honours a custom predicate and any error carrying `deadLetter: true`", async () => {
    const r = rig();
    let calls = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        calls++;
        throw new SyntaxError("unexpected token");
      },
      { name: "custom", middleware: [deadLetter({ when: (e) => e instanceof SyntaxError })], retry: policy },
    );
    r.inbox.handle(
      OrderCreated,
      async () => {
        calls++;
        throw Object.assign(new Error("poison"), { deadLetter: true });
      },
      { name: "marked", retry: policy },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    const result = await r.inbox.whenProcessed(e.id, { timeout: "3s" });
    expect(result.handlers).toEqual({
      custom: { status: "dead-lettered" },
      marked: { status: "dead-lettered" },
    });
    expect(calls).toBe(2);
    expect(() => deadLetter({ when: "x" as never })).toThrow(ConfigError);
  });

  it("composes in the documented order: recoverer, retry, deadLetter, timeout", async () => {
    const r = rig();
    let tries = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        tries++;
        if (tries === 1) throw new Error("transient"); // retried in process
        throw new ValidationError("bad"); // then dead-lettered at once, not retried
      },
      {
        middleware: [recoverer(), retry({ attempts: 5, delay: 1 }), deadLetter(), timeout(1_000)],
        retry: policy,
      },
    );
    await r.inbox.start();
    const e = order();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "2s" });
    expect(tries).toBe(2);
    const [dead] = await r.store.deadLetters.list();
    expect(dead?.attempts).toBe(1);
    expect(new DeadLetterRequest(new Error("x")).deadLetter).toBe(true);
  });
});
