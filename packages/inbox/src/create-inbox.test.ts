import {
  ConfigError,
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EventEnvelope,
  encodeEvent,
  type Plugin,
  silentLogger,
} from "@eventferry/core";
import { createOutboxRelay } from "@eventferry/outbox";
import { createMemoryStore } from "@eventferry/store";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createInbox } from "./create-inbox.js";
import { afterThisTest, rig } from "./test-support/rig.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const OrderShipped = defineEvent("order.shipped", z.object({ orderId: z.string() }));

describe("createInbox", () => {
  it("runs a typed handler once per event, with its writes committed with the completion", async () => {
    const r = rig();
    const seen: number[] = [];
    r.inbox.handle(OrderCreated, async (event, ctx) => {
      seen.push(event.data.total);
      ctx.tx.set(`invoice:${event.data.orderId}`, String(event.data.total));
    });
    await r.inbox.start();
    const e = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 });
    await r.send(e, e); // a redelivery of the same id
    await r.inbox.whenIdle();
    expect(seen).toEqual([42]);
    expect(r.store.kv.get("invoice:o-1")).toBe("42");
    const stats = await r.store.inbox.stats();
    expect(stats).toMatchObject({ completed: 1, pending: 0, inFlight: 0, dead: 0 });
  });

  it("retries a failing handler by its policy, rolls back each failed attempt, then dead-letters", async () => {
    const r = rig();
    const attempts: number[] = [];
    r.inbox.handle(OrderCreated, async (event, ctx) => {
      attempts.push(ctx.attempt);
      ctx.tx.set(`side-effect:${event.id}:${ctx.attempt}`, "x");
      throw new Error(`boom ${ctx.attempt}`);
    });
    await r.inbox.start();
    const e = createEnvelope(OrderCreated, { orderId: "o-2", total: 1 });
    await r.send(e);
    await r.inbox.whenIdle();
    expect(attempts).toEqual([1, 2, 3]);
    expect([...r.store.kv.entries()]).toEqual([]);
    const dead = await r.store.deadLetters.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ consumer: "default/order.created", attempts: 3 });
    expect(dead[0]?.reason).toContain("max attempts (3)");
    expect(dead[0]?.history.map((h) => h.error.message)).toEqual(["boom 1", "boom 2", "boom 3"]);
    expect(dead[0]?.error.stack).toContain("boom 3");
  });

  it("gives each handler of one event its own entry: one failing never re-runs the other", async () => {
    const r = rig();
    let okRuns = 0;
    let badRuns = 0;
    r.inbox.handle(
      OrderCreated,
      async () => {
        okRuns++;
      },
      { name: "ok" },
    );
    r.inbox.handle(
      OrderCreated,
      async () => {
        badRuns++;
        throw new Error("nope");
      },
      { name: "bad", retry: { attempts: 2, backoff: "fixed", delay: 1 } },
    );
    await r.inbox.start();
    await r.send(createEnvelope(OrderCreated, { orderId: "o", total: 1 }));
    await r.inbox.whenIdle();
    expect(okRuns).toBe(1);
    expect(badRuns).toBe(2);
  });

  it("routes by glob: `order.*` and `**` see every order event; unmatched types are acked and dropped", async () => {
    const r = rig();
    const star: string[] = [];
    const all: string[] = [];
    r.inbox.handle("order.*", async (e) => {
      star.push(e.type);
    });
    r.inbox.handle("**", async (e) => {
      all.push(e.type);
    });
    await r.inbox.start();
    await r.send(
      createEnvelope(OrderCreated, { orderId: "a", total: 1 }),
      createEnvelope(OrderShipped, { orderId: "a" }),
      createEnvelope(defineEvent("user.signed-up", z.object({})), {}),
    );
    await r.inbox.whenIdle();
    expect(star.sort()).toEqual(["order.created", "order.shipped"]);
    expect(all.sort()).toEqual(["order.created", "order.shipped", "user.signed-up"]);
  });

  it("dead-letters bad input with a reason and keeps consuming good events", async () => {
    const r = rig({ codec: { maxBytes: 2_000 } });
    const handled: string[] = [];
    r.inbox.handle("**", async (e) => {
      handled.push(e.id);
    });
    r.inbox.handle(OrderCreated, async () => {}, { name: "typed" });
    await r.inbox.start();
    const good = createEnvelope(OrderCreated, { orderId: "g", total: 1 });
    const wrongData = {
      ...encodeEvent(good),
      payload: encodeEvent(good).payload.replace('"total":1', '"total":"one"'),
    };
    await r.sendRaw(
      "{not json",
      '{"id":"x","type":"order.created"',
      "\u0000\u0001\u0002\u00ff",
      JSON.stringify({
        id: "p",
        type: "a.b",
        occurredAt: new Date().toISOString(),
        data: { __proto__: { polluted: 1 } },
      }).replace('"data":{}', '"data":{"__proto__":{"polluted":1}}'),
      "x".repeat(3_000),
    );
    await r.transport.publish(r.inbox.topic, [{ ...wrongData, id: "wrong-data" }]);
    await r.send(good);
    await r.inbox.whenIdle();
    expect(handled).toEqual([good.id]);
    const dead = await r.store.deadLetters.list();
    expect(dead.length).toBe(6);
    expect(dead.map((d) => d.reason.split(":")[0]).sort()).toEqual([
      "DECODE_FAILED",
      "DECODE_FAILED",
      "DECODE_FAILED",
      "DECODE_FAILED",
      "PAYLOAD_TOO_LARGE",
      "VALIDATION_FAILED",
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("honours delays and priorities", async () => {
    const r = rig({ concurrency: 1 });
    const order: string[] = [];
    r.inbox.handle(OrderShipped, async (e) => {
      order.push(e.data.orderId);
    });
    await r.send(
      createEnvelope(OrderShipped, { orderId: "low" }, { priority: 5 }),
      createEnvelope(OrderShipped, { orderId: "later" }, { delay: 300 }),
      createEnvelope(OrderShipped, { orderId: "high" }, { priority: 1 }),
      createEnvelope(OrderShipped, { orderId: "normal" }),
    );
    // Let the inbox record all four before it starts claiming.
    await r.inbox.start();
    await r.inbox.whenIdle();
    expect(order).toEqual(["high", "normal", "low"]);
    await new Promise((res) => setTimeout(res, 350));
    await r.inbox.whenIdle();
    expect(order).toEqual(["high", "normal", "low", "later"]);
  });

  it("handles one key at a time, in order, while other keys run in parallel", async () => {
    const r = rig({ concurrency: 8 });
    const running = new Map<string, number>();
    const seen: Record<string, number[]> = {};
    let overlap = false;
    r.inbox.handle(OrderCreated, async (e) => {
      const key = e.key ?? "";
      running.set(key, (running.get(key) ?? 0) + 1);
      if ((running.get(key) ?? 0) > 1) overlap = true;
      await new Promise((res) => setTimeout(res, 2));
      const list = seen[key] ?? [];
      list.push(e.data.total);
      seen[key] = list;
      running.set(key, (running.get(key) ?? 0) - 1);
    });
    await r.inbox.start();
    const events: EventEnvelope[] = [];
    for (let i = 0; i < 20; i++) {
      for (const key of ["a", "b", "c"])
        events.push(createEnvelope(OrderCreated, { orderId: key, total: i }, { key }));
    }
    await r.send(...events);
    await r.inbox.whenIdle();
    expect(overlap).toBe(false);
    for (const key of ["a", "b", "c"]) expect(seen[key]).toEqual([...Array(20).keys()]);
  });

  it("publishes follow-up events through the handler's transaction, with causation and correlation", async () => {
    const r = rig();
    const relay = createOutboxRelay({
      store: r.store,
      transport: r.transport,
      pollInterval: 20,
      logger: silentLogger,
    });
    afterThisTest(() => relay.stop());
    const shipped: EventEnvelope[] = [];
    r.inbox.handle(OrderCreated, async (e, ctx) => {
      await ctx.publish(OrderShipped, { orderId: e.data.orderId });
    });
    r.inbox.handle(OrderShipped, async (e) => {
      shipped.push(e);
    });
    await r.inbox.start();
    relay.start();
    const first = createEnvelope(OrderCreated, { orderId: "o-9", total: 5 });
    await r.send(first);
    for (let i = 0; i < 3; i++) {
      await r.inbox.whenIdle();
      await relay.flush();
    }
    await r.inbox.whenIdle();
    expect(shipped).toHaveLength(1);
    expect(shipped[0]).toMatchObject({
      causationId: first.id,
      correlationId: first.id,
      data: { orderId: "o-9" },
    });
  });

  it("times out a handler, aborting its signal, and counts it as a failed attempt", async () => {
    const r = rig();
    let aborted = 0;
    r.inbox.handle(
      OrderCreated,
      (_e, ctx) => {
        return new Promise<void>((_res, rej) => {
          ctx.signal.addEventListener("abort", () => {
            aborted++;
            rej(ctx.signal.reason);
          });
        });
      },
      { timeout: 20, retry: { attempts: 2, backoff: "fixed", delay: 1 } },
    );
    await r.inbox.start();
    await r.send(createEnvelope(OrderCreated, { orderId: "t", total: 1 }));
    await r.inbox.whenIdle();
    expect(aborted).toBe(2);
    const [dead] = await r.store.deadLetters.list();
    expect(dead?.error.code).toBe("HANDLER_TIMEOUT");
  });

  it("wraps handlers in plugin middleware (first plugin outermost) and fires hooks", async () => {
    const calls: string[] = [];
    const plugin = (name: string): Plugin => ({
      name,
      middleware: [
        (next) =>
          async function around(e, ctx) {
            calls.push(`${name}:before`);
            await next(e, ctx);
            calls.push(`${name}:after`);
          },
      ],
      hooks: {
        onProcessed: () => {
          calls.push(`${name}:processed`);
        },
        onRetry: () => {
          throw new Error("a throwing hook is logged, never breaks processing");
        },
      },
    });
    const r = rig({ plugins: [plugin("outer"), plugin("inner")] });
    let fails = 1;
    r.inbox.handle(OrderCreated, async () => {
      calls.push("handler");
      if (fails-- > 0) throw new Error("once");
    });
    await r.inbox.start();
    await r.send(createEnvelope(OrderCreated, { orderId: "m", total: 1 }));
    await r.inbox.whenIdle();
    expect(calls.slice(-7)).toEqual([
      "outer:before",
      "inner:before",
      "handler",
      "inner:after",
      "outer:after",
      "outer:processed",
      "inner:processed",
    ]);
  });

  it("stops gracefully: in-flight handlers finish, nothing new starts, stop is idempotent", async () => {
    const r = rig({ concurrency: 2 });
    let finished = 0;
    let started = 0;
    r.inbox.handle(OrderCreated, async () => {
      started++;
      await new Promise((res) => setTimeout(res, 50));
      finished++;
    });
    await r.inbox.start();
    await r.send(
      ...Array.from({ length: 10 }, (_, i) => createEnvelope(OrderCreated, { orderId: `s${i}`, total: i })),
    );
    while (started === 0) await new Promise((res) => setTimeout(res, 5));
    await Promise.all([r.inbox.stop(), r.inbox.stop()]);
    expect(finished).toBe(started);
    expect(started).toBeLessThan(10);
    const stats = await r.store.inbox.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.completed + stats.pending).toBe(10);
  });

  it("validates its options and handler registrations with ConfigError", () => {
    const store = createMemoryStore();
    const transport = createMemoryTransport();
    expect(() =>
      createInbox({ store, transport, concurrency: 0, batchSize: -1, lease: "soon", group: "a/b" }),
    ).toThrow(ConfigError);
    try {
      createInbox({ store, transport, concurrency: 0, batchSize: -1, lease: "soon" });
    } catch (e) {
      expect((e as ConfigError).problems.length).toBeGreaterThanOrEqual(3);
    }
    const inbox = createInbox({ store, transport });
    inbox.handle(OrderCreated, async () => {});
    expect(() => inbox.handle(OrderCreated, async () => {})).toThrow(/already registered/);
    expect(() => inbox.handle("order..x", async () => {})).toThrow(ConfigError);
  });
});
