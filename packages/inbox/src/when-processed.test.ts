import { ConfigError, createEnvelope, defineEvent } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { WhenProcessedTimeoutError } from "./processed.js";
import { rig } from "./test-support/rig.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

describe("whenProcessed (claim path, memory store)", () => {
  it("resolves once every matching handler finished the event, with each handler's status", async () => {
    const r = rig();
    let slowDone = false;
    r.inbox
      .handle(OrderCreated, async () => {}, { name: "fast" })
      .handle(
        OrderCreated,
        async () => {
          await new Promise((res) => setTimeout(res, 60));
          slowDone = true;
        },
        { name: "slow" },
      )
      .handle(
        "order.*",
        async () => {
          throw new Error("always");
        },
        { name: "bad", retry: { attempts: 2, backoff: "fixed", delay: 1 } },
      )
      .handle("other.thing", async () => {}, { name: "unrelated" });
    await r.inbox.start();
    const e = createEnvelope(OrderCreated, { orderId: "o-1", total: 1 });
    const waiting = r.inbox.whenProcessed(e.id, { timeout: "5s" });
    await r.send(e);
    const result = await waiting;
    expect(slowDone).toBe(true);
    expect(result).toEqual({
      eventId: e.id,
      type: "order.created",
      handlers: {
        fast: { status: "completed" },
        slow: { status: "completed" },
        bad: { status: "dead-lettered" },
      },
      ok: false,
    });
  });

  it("resolves at once for an event finished before the call, and can wait for one handler only", async () => {
    const r = rig();
    r.inbox.handle(OrderCreated, async () => {}, { name: "a" });
    r.inbox.handle(
      OrderCreated,
      // Never finishes within the test (until stop() aborts its signal).
      (_e, ctx) =>
        new Promise<void>((_res, rej) => ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason))),
      { name: "stuck", timeout: 10_000 },
    );
    await r.inbox.start();
    const e = createEnvelope(OrderCreated, { orderId: "o-2", total: 2 });
    await r.send(e);
    const onlyA = await r.inbox.whenProcessed(e.id, { handler: "a", timeout: "2s" });
    expect(onlyA.handlers).toEqual({ a: { status: "completed" } });
    expect(onlyA.ok).toBe(true);
    // Called after the fact: answered from what the inbox remembers.
    const again = await r.inbox.whenProcessed(e.id, { handler: "a", timeout: 50 });
    expect(again).toEqual(onlyA);
    // "stuck" never finishes: the whole-event wait times out with a typed error.
    const err = await r.inbox.whenProcessed(e.id, { timeout: 80 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(WhenProcessedTimeoutError);
    expect(err).toMatchObject({ code: "ABORTED", eventId: e.id, details: { finished: ["a"] } });
  });

  it("reports an event dead-lettered at ingest (invalid data) as dead-lettered for its handlers", async () => {
    const r = rig();
    r.inbox.handle(OrderCreated, async () => {});
    await r.inbox.start();
    const bad = { ...createEnvelope(OrderCreated, { orderId: "o", total: 1 }), data: { orderId: 7 } };
    const result = r.inbox.whenProcessed(bad.id, { timeout: "2s" });
    await r.send(bad as never);
    await expect(result).resolves.toMatchObject({
      handlers: { "order.created": { status: "dead-lettered" } },
      ok: false,
    });
  });

  it("rejects bad arguments with ConfigError and an unknown event with a timeout", async () => {
    const r = rig();
    await expect(r.inbox.whenProcessed("x")).rejects.toThrow(/no handlers/);
    r.inbox.handle(OrderCreated, async () => {});
    await r.inbox.start();
    await expect(r.inbox.whenProcessed("x", { handler: "nope" })).rejects.toBeInstanceOf(ConfigError);
    await expect(r.inbox.whenProcessed("")).rejects.toBeInstanceOf(ConfigError);
    await expect(r.inbox.whenProcessed("x", { timeout: "soon" })).rejects.toBeInstanceOf(ConfigError);
    await expect(r.inbox.whenProcessed("never-published", { timeout: 30 })).rejects.toBeInstanceOf(
      WhenProcessedTimeoutError,
    );
  });
});
