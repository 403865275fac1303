import { ConfigError, createEnvelope, defineEvent, type EventEnvelope } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DeadLetterRequest } from "./middleware/dead-letter.js";
import { rig } from "./test-support/rig.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const order = (n: number, key?: string) =>
  createEnvelope(OrderCreated, { orderId: `o-${n}`, total: n }, key ? { key } : {});

describe("handleBatch (claim path, memory store)", () => {
  it("hands up to maxSize events at once and commits their writes with their completion", async () => {
    const r = rig();
    const sizes: number[] = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events, ctx) => {
        sizes.push(events.length);
        for (const e of events) ctx.tx.set(`invoice:${e.data.orderId}`, e.data.total);
      },
      { maxSize: 4, maxWait: 20 },
    );
    await r.inbox.start();
    const events = Array.from({ length: 10 }, (_, i) => order(i));
    await r.send(...events);
    await r.inbox.whenIdle();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBe(4);
    expect(sizes.length).toBeLessThanOrEqual(4);
    expect(r.store.kv.entries()).toHaveLength(10);
    expect(await r.store.inbox.stats()).toMatchObject({ completed: 10, pending: 0, inFlight: 0 });
  });

  it("waits up to maxWait for more events before running a short batch", async () => {
    const r = rig();
    const batches: Array<{ ids: string[]; at: number }> = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events) => {
        batches.push({ ids: events.map((e) => e.data.orderId), at: Date.now() });
      },
      { maxSize: 3, maxWait: 300 },
    );
    await r.inbox.start();
    await r.send(order(1));
    await new Promise((res) => setTimeout(res, 40));
    await r.send(order(2), order(3));
    await r.inbox.whenIdle();
    expect(batches.map((b) => b.ids)).toEqual([["o-1", "o-2", "o-3"]]);

    // A lone event runs once maxWait has passed.
    const sent = Date.now();
    await r.send(order(4));
    await r.inbox.whenIdle();
    expect(batches[1]?.ids).toEqual(["o-4"]);
    expect((batches[1]?.at ?? 0) - sent).toBeGreaterThanOrEqual(250);
  });

  it("a failing batch rolls back and each event is retried, then dead-lettered, by its own attempts", async () => {
    const r = rig();
    const attempts: number[] = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events, ctx) => {
        attempts.push(ctx.attempt);
        for (const e of events) ctx.tx.set(`x:${e.id}:${ctx.attempt}`, 1);
        throw new Error(`batch failed at attempt ${ctx.attempt}`);
      },
      { maxSize: 10, maxWait: 10, retry: { attempts: 2, backoff: "fixed", delay: 5 } },
    );
    await r.inbox.start();
    await r.send(order(1), order(2));
    await r.inbox.whenIdle();
    expect(r.store.kv.entries()).toEqual([]);
    const dead = await r.store.deadLetters.list();
    expect(dead).toHaveLength(2);
    for (const d of dead) {
      expect(d.attempts).toBe(2);
      expect(d.history.map((h) => h.error.message)).toEqual([
        "batch failed at attempt 1",
        "batch failed at attempt 2",
      ]);
    }
    expect(Math.max(...attempts)).toBe(2);
  });

  it("retries a failed batch at its retry time, not at the next poll", async () => {
    const r = rig({ pollInterval: 5_000 });
    let calls = 0;
    r.inbox.handleBatch(
      OrderCreated,
      async () => {
        if (++calls === 1) throw new Error("once");
      },
      { maxWait: 5, retry: { attempts: 3, backoff: "fixed", delay: 30 } },
    );
    await r.inbox.start();
    const e = order(1);
    const t0 = Date.now();
    await r.send(e);
    await r.inbox.whenProcessed(e.id, { timeout: "4s" });
    expect(calls).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it("an error marked deadLetter dead-letters every event of the batch at once", async () => {
    const r = rig();
    let calls = 0;
    r.inbox.handleBatch(
      OrderCreated,
      async () => {
        calls++;
        throw new DeadLetterRequest(new Error("poison"));
      },
      { maxSize: 10, maxWait: 10, retry: { attempts: 5, backoff: "fixed", delay: 1 } },
    );
    await r.inbox.start();
    await r.send(order(1), order(2));
    await r.inbox.whenIdle();
    expect(calls).toBe(1);
    const dead = await r.store.deadLetters.list();
    expect(dead.map((d) => d.attempts)).toEqual([1, 1]);
    expect(dead[0]?.reason).toContain("poison");
  });

  it("keeps per-key order: a batch holds one event per key, and a key's events run in order", async () => {
    const r = rig();
    const batches: string[][] = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events) => {
        batches.push(events.map((e) => e.data.orderId));
      },
      { maxSize: 10, maxWait: 20 },
    );
    await r.inbox.start();
    await r.send(order(1, "a"), order(2, "a"), order(3, "b"), order(4, "a"), order(5, "b"));
    await r.inbox.whenIdle();
    const flat = batches.flat();
    expect(flat).toHaveLength(5);
    const orderOf = (ids: string[]) => flat.filter((id) => ids.includes(id));
    expect(orderOf(["o-1", "o-2", "o-4"])).toEqual(["o-1", "o-2", "o-4"]);
    expect(orderOf(["o-3", "o-5"])).toEqual(["o-3", "o-5"]);
    const keyOf: Record<string, string> = { "o-1": "a", "o-2": "a", "o-4": "a", "o-3": "b", "o-5": "b" };
    for (const b of batches) expect(new Set(b.map((id) => keyOf[id])).size).toBe(b.length);
  });

  it("runs next to one-event handlers of the same event; whenProcessed covers both", async () => {
    const r = rig();
    const single: string[] = [];
    const batched: string[] = [];
    r.inbox
      .handle(OrderCreated, async (e) => void single.push(e.data.orderId), { name: "single" })
      .handleBatch(
        OrderCreated,
        async (events: readonly EventEnvelope<string, { orderId: string }>[]) => {
          batched.push(...events.map((e) => e.data.orderId));
        },
        { name: "batched", maxWait: 10 },
      );
    await r.inbox.start();
    const e = order(1);
    await r.send(e);
    const result = await r.inbox.whenProcessed(e.id, { timeout: "3s" });
    expect(result.handlers).toEqual({ single: { status: "completed" }, batched: { status: "completed" } });
    expect(single).toEqual(["o-1"]);
    expect(batched).toEqual(["o-1"]);
  });

  it("times out a batch, aborting its signal, and counts a failed attempt for each event", async () => {
    const r = rig();
    let aborted = 0;
    r.inbox.handleBatch(
      OrderCreated,
      (_events, ctx) =>
        new Promise<void>((_res, rej) =>
          ctx.signal.addEventListener("abort", () => {
            aborted++;
            rej(ctx.signal.reason);
          }),
        ),
      { timeout: 30, maxWait: 5, retry: false },
    );
    await r.inbox.start();
    await r.send(order(1), order(2));
    await r.inbox.whenIdle();
    expect(aborted).toBeGreaterThanOrEqual(1);
    const dead = await r.store.deadLetters.list();
    expect(dead.map((d) => d.error.code)).toEqual(["HANDLER_TIMEOUT", "HANDLER_TIMEOUT"]);
  });

  it("stop() waits for a running batch, then aborts its signal after the stop timeout", async () => {
    const r = rig();
    let started!: () => void;
    const running = new Promise<void>((res) => {
      started = res;
    });
    let abortReason: unknown;
    r.inbox.handleBatch(
      OrderCreated,
      (_events, ctx) =>
        new Promise<void>((_res, rej) => {
          started();
          ctx.signal.addEventListener("abort", () => {
            abortReason = ctx.signal.reason;
            rej(ctx.signal.reason);
          });
        }),
      { timeout: 10_000, maxWait: 5 },
    );
    await r.inbox.start();
    await r.send(order(1));
    await running;
    const t0 = Date.now();
    await r.inbox.stop({ timeout: 100 });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(abortReason).toMatchObject({ code: "ABORTED" });
    expect(await r.store.inbox.stats()).toMatchObject({ completed: 0, pending: 1 });
  });

  it("runs an entry whose last attempt's lease expired (a crashed worker) alone, not in a batch", async () => {
    const r = rig();
    const batches: string[][] = [];
    r.inbox.handleBatch(
      OrderCreated,
      async (events) => {
        batches.push(events.map((e) => e.data.orderId));
      },
      { maxSize: 10, maxWait: 10 },
    );
    // A worker that "crashed": it claimed two entries with a short lease and never settled them.
    const consumer = "default/order.created";
    const crashed = [order(1), order(2)];
    await r.store.inbox.record({ entries: crashed.map((event) => ({ consumer, event, maxAttempts: 3 })) });
    expect(await r.store.inbox.claim({ consumers: [consumer], limit: 10, leaseMs: 30 })).toHaveLength(2);
    await new Promise((res) => setTimeout(res, 60));
    await r.inbox.start();
    await r.send(order(3), order(4));
    await r.inbox.whenIdle();
    expect(batches.flat().sort()).toEqual(["o-1", "o-2", "o-3", "o-4"]);
    for (const b of batches) if (b.includes("o-1") || b.includes("o-2")) expect(b).toHaveLength(1);
  });

  it("validates its options with ConfigError", () => {
    const r = rig({ lease: 1_000 });
    const fn = async () => {};
    expect(() => r.inbox.handleBatch(OrderCreated, fn, { maxSize: 0 })).toThrow(ConfigError);
    expect(() => r.inbox.handleBatch(OrderCreated, fn, { maxSize: 1.5 })).toThrow(ConfigError);
    expect(() => r.inbox.handleBatch(OrderCreated, fn, { maxWait: "2s" })).toThrow(/shorter than the lease/);
    expect(() => r.inbox.handleBatch(OrderCreated, fn, { maxWait: "soon" })).toThrow(ConfigError);
    expect(() => r.inbox.handleBatch(OrderCreated, fn, { retry: { attempts: 0 } })).toThrow(ConfigError);
    expect(() => r.inbox.handleBatch(42 as never, fn)).toThrow(ConfigError);
    expect(() => r.inbox.handleBatch(OrderCreated, "x" as never)).toThrow(ConfigError);
    r.inbox.handleBatch(OrderCreated, fn);
    expect(() => r.inbox.handle(OrderCreated, fn)).toThrow(/already registered/);
  });
});
