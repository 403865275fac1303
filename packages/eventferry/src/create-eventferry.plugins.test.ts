import {
  ConfigError,
  defineEvent,
  definePlugin,
  type EventEnvelope,
  type Logger,
  type Middleware,
  type Plugin,
  type PluginContext,
  type Publisher,
  type Subscriber,
  silentLogger,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore, type Store } from "@eventferry/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createEventferry, type EventferryOptions } from "./create-eventferry.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function spyLogger(): Logger & { error: ReturnType<typeof vi.fn> } {
  return { ...silentLogger, error: vi.fn() };
}

async function newFerry(plugins: Plugin[], options: EventferryOptions = {}) {
  const store: MemoryStore = createMemoryStore();
  const ferry = await createEventferry({
    store,
    transport: "memory:",
    logger: silentLogger,
    pollInterval: 20,
    retry: { attempts: 2, backoff: "fixed", delay: 10 },
    plugins,
    ...options,
  });
  cleanup.push(async () => {
    await ferry.stop({ timeout: 1_000 });
    await store.close();
  });
  return { ferry, store };
}

describe("plugins", () => {
  it("sets up once, in array order, before the inbox subscribes; fires onStart and onStop", async () => {
    const calls: string[] = [];
    let inboxRunningAtSetup: boolean | undefined;
    let ctx: PluginContext | undefined;
    const { ferry } = await newFerry([
      definePlugin({
        name: "first",
        setup(c) {
          ctx = c;
          inboxRunningAtSetup = ferry.inbox.running;
          calls.push("setup first");
        },
        hooks: { onStart: () => void calls.push("start first"), onStop: () => void calls.push("stop first") },
      }),
      definePlugin({
        name: "second",
        async setup() {
          calls.push("setup second");
        },
        hooks: {
          onStart: () => void calls.push("start second"),
          onStop: () => void calls.push("stop second"),
        },
      }),
    ]);
    ferry.on(OrderCreated, async () => {});
    expect(calls).toEqual([]);
    await Promise.all([ferry.start(), ferry.start()]);
    await ferry.start();
    expect(calls).toEqual(["setup first", "setup second", "start first", "start second"]);
    expect(inboxRunningAtSetup).toBe(false);
    expect(ctx?.storeName).toBe("memory");
    expect(ctx?.transportName).toBe("memory");
    await ferry.stop();
    await ferry.stop();
    expect(calls.slice(4)).toEqual(["stop first", "stop second"]);
  });

  it("fails start() with a ConfigError when a plugin's setup throws", async () => {
    const { ferry } = await newFerry([
      definePlugin({
        name: "broken",
        setup() {
          throw new Error("no config");
        },
      }),
    ]);
    await expect(ferry.start()).rejects.toThrow(ConfigError);
    await expect(ferry.start()).rejects.toThrow(/plugin "broken" setup failed: no config/);
    expect(ferry.running).toBe(false);
  });

  it("fires onPublish after a publish with the events, and onDeadLetter for a dead-lettered event", async () => {
    const published: string[][] = [];
    const dead: Array<{ event: EventEnvelope | undefined; error: unknown; reason: string }> = [];
    const { ferry } = await newFerry([
      definePlugin({
        name: "observer",
        hooks: {
          onPublish: (events) => void published.push(events.map((e) => e.type)),
          onDeadLetter: (event, error, info) => void dead.push({ event, error, reason: info.reason }),
        },
      }),
    ]);
    ferry.on(OrderCreated, async () => {
      throw new Error("always");
    });
    await ferry.start();
    const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    expect(published).toEqual([["order.created"]]);
    await ferry.publishMany([
      { event: OrderCreated, data: { orderId: "o-2", total: 2 } },
      { event: OrderCreated, data: { orderId: "o-3", total: 3 } },
    ]);
    expect(published).toEqual([["order.created"], ["order.created", "order.created"]]);

    await vi.waitFor(() => expect(dead).toHaveLength(3), { timeout: 3_000, interval: 10 });
    const first = dead.find((d) => d.event?.id === id);
    expect(first?.reason).toContain("max attempts (2)");
    expect(first?.error).toBeInstanceOf(Error);
    expect((first!.error as Error).message).toBe("always");
  });

  it("logs hook errors and never throws them", async () => {
    const logger = spyLogger();
    const { ferry } = await newFerry(
      [
        definePlugin({
          name: "faulty",
          hooks: {
            onPublish() {
              throw new Error("hook bug");
            },
            async onStart() {
              throw new Error("start bug");
            },
            onStop() {
              throw new Error("stop bug");
            },
          },
        }),
      ],
      { logger },
    );
    const handled = vi.fn(async () => {});
    ferry.on(OrderCreated, handled);
    await ferry.start();
    await expect(ferry.publish(OrderCreated, { orderId: "o-1", total: 1 })).resolves.toEqual(
      expect.any(String),
    );
    await ferry.whenIdle();
    expect(handled).toHaveBeenCalledTimes(1);
    await ferry.stop();
    const messages = logger.error.mock.calls.map((c) => String(c[0]));
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringContaining('plugin "faulty" hook onPublish'),
        expect.stringContaining('plugin "faulty" hook onStart'),
        expect.stringContaining('plugin "faulty" hook onStop'),
      ]),
    );
  });

  it("wraps handlers in the plugins' middleware, the first plugin's outermost", async () => {
    const order: string[] = [];
    const trace =
      (name: string): Middleware =>
      (next) =>
        async function traced(event, ctx) {
          order.push(`${name} before`);
          await next(event, ctx);
          order.push(`${name} after`);
        };
    const { ferry } = await newFerry([
      { name: "a", middleware: [trace("a")] },
      { name: "b", middleware: [trace("b")] },
    ]);
    ferry.on(
      OrderCreated,
      async () => {
        order.push("handler");
      },
      { middleware: [trace("own")] },
    );
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle();
    expect(order).toEqual([
      "a before",
      "b before",
      "own before",
      "handler",
      "own after",
      "b after",
      "a after",
    ]);
  });

  it("applies publisher, subscriber and store decorators in array order (the last outermost)", async () => {
    const order: string[] = [];
    const decorating = (name: string): Plugin => ({
      name,
      decoratePublisher: (inner: Publisher): Publisher => ({
        publish: (topic, events, options) => {
          order.push(`publish ${name}`);
          return inner.publish(topic, events, options);
        },
        close: () => inner.close(),
      }),
      decorateSubscriber: (inner: Subscriber): Subscriber => ({
        subscribe: (topic, options) => {
          order.push(`subscribe ${name}`);
          return inner.subscribe(topic, options);
        },
        close: () => inner.close(),
      }),
      decorateStore<S>(store: S): S {
        const inner = store as unknown as Store;
        return {
          ...inner,
          append: (events: Parameters<Store["append"]>[0]) => {
            order.push(`append ${name}`);
            return inner.append(events);
          },
        } as S;
      },
    });
    const { ferry } = await newFerry([decorating("x"), decorating("y")]);
    const handled = vi.fn(async () => {});
    ferry.on(OrderCreated, handled);
    await ferry.start();
    expect(order).toEqual(["subscribe y", "subscribe x"]);
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle();
    expect(order.slice(2)).toEqual(["append y", "append x", "publish y", "publish x"]);
    expect(handled).toHaveBeenCalledTimes(1);
    expect(ferry.transport.name).toBe("memory");
  });

  it("aggregates the plugins' health checks with the store's and the transport's", async () => {
    const { ferry } = await newFerry(
      [
        definePlugin({
          name: "lag",
          setup(ctx) {
            ctx.addHealthCheck("consumer-lag", async () => ({
              status: "degraded",
              component: "consumer-lag",
              reasons: ["lagging 5 minutes"],
            }));
            ctx.addHealthCheck("exploding", async () => {
              throw new Error("check failed at redis://:hunter2@cache:6379");
            });
            ctx.addHealthCheck("hanging", () => new Promise(() => {}));
          },
        }),
      ],
      {},
    );
    await ferry.start();
    const report = await ferry.health({ timeout: 50 });
    expect(report.status).toBe("unhealthy");
    expect(report.reasons).toContain("consumer-lag: lagging 5 minutes");
    expect(report.reasons.join("\n")).toContain("exploding: health check failed");
    expect(report.reasons.join("\n")).not.toContain("hunter2");
    expect(report.reasons).toContain("hanging: health check did not answer within 50 ms");
    const components = (report.details!.components as { component: string; status: string }[]).map((c) => [
      c.component,
      c.status,
    ]);
    expect(components).toEqual([
      ["store-memory", "healthy"],
      ["transport-memory", "healthy"],
      ["consumer-lag", "degraded"],
      ["exploding", "unhealthy"],
      ["hanging", "unhealthy"],
    ]);
  });

  it("gives plugins the inbox depth of the ferry's handlers", async () => {
    let ctx: PluginContext | undefined;
    const { ferry } = await newFerry([
      definePlugin({
        name: "gauges",
        setup: (c) => {
          ctx = c;
        },
      }),
    ]);
    ferry.on(OrderCreated, async () => {});
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle();
    expect(await ctx?.inboxStats()).toMatchObject({ completed: 1, pending: 0, dead: 0 });
  });

  it("rejects plugins without a name", async () => {
    await expect(
      createEventferry({ store: "memory:", plugins: [{} as Plugin], logger: silentLogger }),
    ).rejects.toThrow(/plugins\[0\] needs a name/);
  });
});
