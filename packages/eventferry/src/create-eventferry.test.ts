import {
  ConfigError,
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EventEnvelope,
  EventferryError,
  PublishError,
  silentLogger,
  type Transport,
  ValidationError,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore, type MemoryTx, type StoredEvent } from "@eventferry/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createEventferry, type Eventferry, type EventferryOptions } from "./create-eventferry.js";
import { fakeStoreCalls } from "./test-fixtures/fake-store-adapter.fixture.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const OrderShipped = defineEvent("order.shipped", z.object({ orderId: z.string() }));
const InvoiceIssued = defineEvent("invoice.issued", z.object({ orderId: z.string(), total: z.number() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A ferry over a fresh memory store and the memory transport, with short retries. */
async function newFerry(
  options: EventferryOptions<MemoryTx> = {},
): Promise<{ ferry: Eventferry<MemoryTx>; store: MemoryStore }> {
  const store = createMemoryStore();
  const ferry = await createEventferry({
    store,
    transport: "memory:",
    logger: silentLogger,
    pollInterval: 20,
    retry: { attempts: 3, backoff: "fixed", delay: 10 },
    ...options,
  });
  cleanup.push(async () => {
    await ferry.stop({ timeout: 1_000 });
    await store.close();
  });
  return { ferry, store };
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const waitFor = <T>(fn: () => T | Promise<T>) => vi.waitFor(fn, { timeout: 3_000, interval: 10 });

describe("publish → handle", () => {
  it("handles a published event once, with its typed data, and keeps it in the log", async () => {
    const { ferry } = await newFerry();
    const seen: EventEnvelope<string, { orderId: string; total: number }>[] = [];
    ferry.on(OrderCreated, async (event) => {
      seen.push(event);
    });
    await ferry.start();
    const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 }, { key: "customer-7" });
    await ferry.whenIdle();

    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      id,
      type: "order.created",
      data: { orderId: "o-1", total: 42 },
      key: "customer-7",
      priority: 3,
      schemaVersion: 1,
    });
    const log = await collect(ferry.read());
    expect(log.map((e: StoredEvent) => [e.id, e.position])).toEqual([[id, 1]]);
  });

  it("delivers events published before start()", async () => {
    const { ferry } = await newFerry();
    const seen: string[] = [];
    ferry.on(OrderCreated, async (event) => {
      seen.push(event.data.orderId);
    });
    await ferry.publish(OrderCreated, { orderId: "early", total: 1 });
    await ferry.start();
    await ferry.whenIdle();
    expect(seen).toEqual(["early"]);
  });

  it("treats re-publishing an id as a no-op", async () => {
    const { ferry } = await newFerry();
    const handler = vi.fn(async () => {});
    ferry.on(OrderCreated, handler);
    await ferry.start();
    const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle();
    await expect(ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }, { id })).resolves.toBe(id);
    await ferry.whenIdle();
    expect(handler).toHaveBeenCalledTimes(1);
    expect(await collect(ferry.read())).toHaveLength(1);
  });

  it("commits a handler's ctx.tx writes together with its completion", async () => {
    const { ferry, store } = await newFerry();
    ferry.on(OrderCreated, async (event, ctx) => {
      ctx.tx.set(`invoice:${event.data.orderId}`, event.data.total);
    });
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });
    await ferry.whenIdle();
    expect(store.kv.get("invoice:o-1")).toBe(42);
    expect(await store.inbox.stats()).toMatchObject({ completed: 1, pending: 0, dead: 0 });
  });

  it("rolls back a handler's writes when it throws", async () => {
    const { ferry, store } = await newFerry();
    ferry.on(
      OrderCreated,
      async (event, ctx) => {
        ctx.tx.set(`invoice:${event.data.orderId}`, event.data.total);
        throw new Error("payment service down");
      },
      { retry: false },
    );
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });
    await waitFor(async () => expect(await ferry.deadLetters.list()).toHaveLength(1));
    expect(store.kv.has("invoice:o-1")).toBe(false);
  });

  it("rejects invalid data with a ValidationError and stores nothing", async () => {
    const { ferry, store } = await newFerry();
    const handler = vi.fn(async () => {});
    ferry.on("**", handler);
    await ferry.start();
    const error = await ferry.publish(OrderCreated, { orderId: 1 } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.join(" ")).toContain("orderId");
    await expect(
      ferry.publishMany([
        { event: OrderCreated, data: { orderId: "ok", total: 1 } },
        { event: OrderCreated, data: { orderId: "bad" } as never },
      ]),
    ).rejects.toThrow(/item 1/);
    await ferry.whenIdle();
    expect(await collect(ferry.read())).toEqual([]);
    expect(await store.outbox.pending()).toBe(0);
    expect(handler).not.toHaveBeenCalled();
  });

  it("publishes a batch with one append and one transport publish", async () => {
    const published: number[] = [];
    const { ferry, store } = await newFerry({
      plugins: [
        {
          name: "count-publishes",
          decoratePublisher: (inner) => ({
            publish: (topic, events, options) => {
              published.push(events.length);
              return inner.publish(topic, events, options);
            },
            close: () => inner.close(),
          }),
        },
      ],
    });
    const append = vi.spyOn(store, "append");
    const seen: string[] = [];
    ferry.on("**", async (event) => {
      seen.push(event.type);
    });
    await ferry.start();
    const ids = await ferry.publishMany([
      { event: OrderCreated, data: { orderId: "o-1", total: 1 } },
      { event: OrderShipped, data: { orderId: "o-1" } },
      { event: InvoiceIssued, data: { orderId: "o-1", total: 1 } },
    ]);
    await ferry.whenIdle();
    expect(ids).toHaveLength(3);
    expect(append).toHaveBeenCalledTimes(1);
    expect(published).toEqual([3]);
    expect(seen.sort()).toEqual(["invoice.issued", "order.created", "order.shipped"]);
    expect((await collect(ferry.read())).map((e) => e.id)).toEqual(ids);
    expect(await ferry.publishMany([])).toEqual([]);
  });
});

describe("events over the codec's limit", () => {
  const Blob = defineEvent("test.blob", z.object({ text: z.string() }));
  /** 2 MiB of data: twice the codec's 1 MiB limit. */
  const twoMiB = { text: "x".repeat(2 * 1024 * 1024) };

  it("publish applies the ferry's own codec limit, so nothing it sends is refused by its own inbox", async () => {
    const { ferry, store } = await newFerry({ codec: { maxBytes: 4_096 } });
    await ferry.start();
    const append = vi.spyOn(store, "append");
    const error = await ferry
      .publish(Blob, { text: "x".repeat(8_000) }, { id: "blob-2" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { maxBytes: 4_096 } });
    expect(append).not.toHaveBeenCalled();
    await expect(ferry.publish(Blob, { text: "small" })).resolves.toEqual(expect.any(String));
  });

  it("publish rejects a 2 MiB event with a ValidationError naming it and the limit; nothing is stored or sent", async () => {
    const { ferry, store } = await newFerry();
    const handler = vi.fn(async () => {});
    ferry.on("**", handler);
    await ferry.start();
    const append = vi.spyOn(store, "append");
    const addToOutbox = vi.spyOn(store.outbox, "add");
    const publish = vi.spyOn(ferry.transport, "publish");

    const error = await ferry.publish(Blob, twoMiB, { id: "blob-1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", retryable: false });
    expect((error as ValidationError).message).toContain('event test.blob "blob-1"');
    expect((error as ValidationError).message).toContain("limit of 1048576 bytes (1 MiB)");
    expect((error as ValidationError).details).toEqual({
      type: "test.blob",
      id: "blob-1",
      maxBytes: 1_048_576,
    });

    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }); // the ferry goes on
    await ferry.whenIdle({ timeout: "10s" });
    expect(append).toHaveBeenCalledTimes(1);
    expect(addToOutbox).not.toHaveBeenCalled();
    expect(publish).toHaveBeenCalledTimes(1);
    expect((await collect(ferry.read())).map((e) => e.type)).toEqual(["order.created"]);
    expect(await store.outbox.pending()).toBe(0);
    expect(handler).toHaveBeenCalledTimes(1);
  }, 20_000);

  it("publishMany with one oversized item among good ones rejects naming the item; none is stored", async () => {
    const { ferry, store } = await newFerry();
    const append = vi.spyOn(store, "append");
    const publish = vi.spyOn(ferry.transport, "publish");
    const error = await ferry
      .publishMany([
        { event: OrderCreated, data: { orderId: "o-1", total: 1 } },
        { event: Blob, data: twoMiB, options: { id: "blob-2" } },
        { event: OrderShipped, data: { orderId: "o-1" } },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect((error as ValidationError).message).toMatch(/item 1: .*event test\.blob "blob-2".*1048576 bytes/);
    expect(append).not.toHaveBeenCalled();
    expect(publish).not.toHaveBeenCalled();
    expect(await collect(ferry.read())).toEqual([]);
    expect(await store.outbox.pending()).toBe(0);
  });

  it("publish rejects data that cannot be encoded (a BigInt) the same way", async () => {
    const { ferry, store } = await newFerry();
    const Loose = defineEvent("test.loose", z.object({ value: z.unknown() }));
    const error = await ferry.publish(Loose, { value: 10n }, { id: "loose-1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      code: "VALIDATION_FAILED",
      details: { type: "test.loose", id: "loose-1" },
    });
    expect((error as ValidationError).message).toContain('event test.loose "loose-1" cannot be published');
    expect(await collect(ferry.read())).toEqual([]);
    expect(await store.outbox.pending()).toBe(0);
  });

  it("ctx.publish of an oversized follow-up rejects inside the handler's transaction; the outbox stays empty", async () => {
    const { ferry, store } = await newFerry();
    const failures: unknown[] = [];
    ferry.on(OrderCreated, async (_event, ctx) => {
      try {
        await ctx.publish(Blob, twoMiB);
      } catch (error) {
        failures.push(error);
      }
    });
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle({ timeout: "10s" });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(ValidationError);
    expect(failures[0]).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(await store.outbox.pending()).toBe(0);
    expect((await collect(ferry.read())).map((e) => e.type)).toEqual(["order.created"]);
  }, 20_000);

  it("the relay delivers the good outbox rows and dead-letters one that cannot be encoded", async () => {
    const { ferry, store } = await newFerry();
    const seen: string[] = [];
    ferry.on(OrderCreated, async (event) => {
      seen.push(event.data.orderId);
    });
    const big = createEnvelope(Blob, twoMiB);
    const rows = [
      createEnvelope(OrderCreated, { orderId: "o-1", total: 1 }),
      big,
      createEnvelope(OrderCreated, { orderId: "o-2", total: 2 }),
    ];
    await store.outbox.add({ topic: ferry.topic, events: rows }); // bypassing the front door
    await ferry.start();
    await ferry.whenIdle({ timeout: "10s" });
    expect(seen.sort()).toEqual(["o-1", "o-2"]);
    expect(await store.outbox.pending()).toBe(0);
    const dead = await ferry.deadLetters.list({ consumer: "outbox:events" });
    expect(dead.map((d) => [d.event?.id, d.error.code])).toEqual([[big.id, "PAYLOAD_TOO_LARGE"]]);
    expect(dead[0]?.reason).toMatch(/^cannot be encoded: /);
  }, 20_000);
});

describe("retries and dead letters", () => {
  it("retries a throwing handler by policy, dead-letters it, retries it from the dead letters, purges", async () => {
    const { ferry } = await newFerry();
    let failing = true;
    const attempts: number[] = [];
    ferry.on(OrderCreated, async (_event, ctx) => {
      attempts.push(ctx.attempt);
      if (failing) throw new Error(`boom ${ctx.attempt}`);
    });
    await ferry.start();
    const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });

    await waitFor(async () => expect(await ferry.deadLetters.list()).toHaveLength(1));
    expect(attempts).toEqual([1, 2, 3]);
    const [dead] = await ferry.deadLetters.list();
    expect(dead).toMatchObject({
      consumer: "default/order.created",
      event: { id, type: "order.created" },
      attempts: 3,
      error: { message: "boom 3" },
    });
    expect(dead?.reason).toContain("max attempts (3)");
    expect(dead?.history.map((h) => h.error.message)).toEqual(["boom 1", "boom 2", "boom 3"]);
    expect(await ferry.deadLetters.get(dead!.id)).toMatchObject({ id: dead!.id });

    failing = false;
    expect(await ferry.deadLetters.retry([dead!.id])).toEqual([dead!.id]);
    await waitFor(() => expect(attempts).toHaveLength(4));
    await ferry.whenIdle();
    expect(attempts.at(-1)).toBe(1);
    expect(await ferry.deadLetters.list()).toEqual([]);

    failing = true;
    await ferry.publish(OrderCreated, { orderId: "o-2", total: 1 });
    await waitFor(async () => expect(await ferry.deadLetters.list()).toHaveLength(1));
    expect(await ferry.deadLetters.purge()).toBe(1);
    expect(await ferry.deadLetters.list()).toEqual([]);
  });

  it("runs two handlers of one event independently: one failing never re-runs the other", async () => {
    const { ferry } = await newFerry();
    const ok = vi.fn(async () => {});
    const failing = vi.fn(async () => {
      throw new Error("nope");
    });
    ferry.on(OrderCreated, ok, { name: "send-mail" });
    ferry.on(OrderCreated, failing, { name: "charge-card" });
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await waitFor(async () => expect(await ferry.deadLetters.list()).toHaveLength(1));
    expect(failing).toHaveBeenCalledTimes(3);
    expect(ok).toHaveBeenCalledTimes(1);
    expect((await ferry.deadLetters.list())[0]?.consumer).toBe("default/charge-card");
  });
});

describe("routing, delays, priorities", () => {
  it("routes by glob: order.* gets order events, ** gets every event with unknown data", async () => {
    const { ferry } = await newFerry();
    const orders: string[] = [];
    const all: Array<[string, unknown]> = [];
    ferry.on("order.*", async (event) => {
      orders.push(event.type);
    });
    ferry.on("**", async (event) => {
      all.push([event.type, event.data]);
    });
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.publish(InvoiceIssued, { orderId: "o-1", total: 1 });
    await ferry.publish(OrderShipped, { orderId: "o-1" });
    await ferry.whenIdle();
    expect(orders.sort()).toEqual(["order.created", "order.shipped"]);
    expect(all.map(([type]) => type).sort()).toEqual(["invoice.issued", "order.created", "order.shipped"]);
    expect(all.find(([type]) => type === "invoice.issued")?.[1]).toEqual({ orderId: "o-1", total: 1 });
  });

  it("does not handle a delayed event before its delay", async () => {
    const { ferry } = await newFerry();
    let handledAt = 0;
    ferry.on(OrderCreated, async () => {
      handledAt = Date.now();
    });
    await ferry.start();
    const publishedAt = Date.now();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }, { delay: 200 });
    await ferry.whenIdle();
    expect(handledAt).toBe(0);
    await waitFor(() => expect(handledAt).toBeGreaterThan(0));
    expect(handledAt - publishedAt).toBeGreaterThanOrEqual(195);
  });

  it("handles waiting events by priority, highest (1) first", async () => {
    const { ferry } = await newFerry({ concurrency: 1 });
    const order: number[] = [];
    ferry.on(OrderCreated, async (event) => {
      order.push(event.priority);
    });
    for (const priority of [5, 3, 1, 4, 2] as const) {
      await ferry.publish(OrderCreated, { orderId: `p${priority}`, total: priority }, { priority });
    }
    await ferry.start();
    await ferry.whenIdle();
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it("relays ctx.publish follow-ups through the outbox, with causation and correlation set", async () => {
    const { ferry, store } = await newFerry();
    const invoices: EventEnvelope<string, { orderId: string; total: number }>[] = [];
    ferry.on(OrderCreated, async (event, ctx) => {
      await ctx.publish(InvoiceIssued, { orderId: event.data.orderId, total: event.data.total });
    });
    ferry.on(InvoiceIssued, async (event) => {
      invoices.push(event);
    });
    await ferry.start();
    const orderId = await ferry.publish(
      OrderCreated,
      { orderId: "o-1", total: 42 },
      { correlationId: "req-9" },
    );
    await ferry.whenIdle();

    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({
      data: { orderId: "o-1", total: 42 },
      causationId: orderId,
      correlationId: "req-9",
    });
    expect(await store.outbox.pending()).toBe(0);
    expect((await collect(ferry.read())).map((e) => e.type)).toEqual(["order.created", "invoice.issued"]);
  });
});

describe("durability of publish", () => {
  /** The memory transport, refusing the next `failures` publishes. */
  function flakyTransport(failures: number): Transport & { refused: number } {
    const inner = createMemoryTransport();
    const flaky = {
      refused: 0,
      name: inner.name,
      features: inner.features,
      health: () => inner.health(),
      subscribe: inner.subscribe.bind(inner),
      close: () => inner.close(),
      async publish(...args: Parameters<Transport["publish"]>) {
        if (flaky.refused < failures) {
          flaky.refused++;
          throw new Error("broker unreachable");
        }
        return inner.publish(...args);
      },
    };
    return flaky;
  }

  it("falls back to the outbox when the transport refuses: publish resolves and the relay delivers", async () => {
    const transport = flakyTransport(1);
    const { ferry, store } = await newFerry({ transport });
    const handler = vi.fn(async (_event: EventEnvelope) => {});
    ferry.on(OrderCreated, handler);
    await ferry.start();
    const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    expect(transport.refused).toBe(1);
    await ferry.whenIdle();
    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler.mock.calls[0]?.[0]).toMatchObject({ id });
    expect(await store.outbox.pending()).toBe(0);
  });

  it("rejects with a PublishError when neither the transport nor the outbox takes the event", async () => {
    const { ferry, store } = await newFerry({ transport: flakyTransport(1) });
    vi.spyOn(store.outbox, "add").mockRejectedValueOnce(new Error("disk full"));
    const error = await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).retryable).toBe(true);
    expect((error as PublishError).failedIds).toHaveLength(1);
    expect((error as PublishError).message).toContain("disk full");
  });

  it("rejects an already aborted publish without storing anything", async () => {
    const { ferry } = await newFerry();
    const controller = new AbortController();
    controller.abort();
    await expect(
      ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }, { signal: controller.signal }),
    ).rejects.toMatchObject({ code: "ABORTED" });
    expect(await collect(ferry.read())).toEqual([]);
  });

  it("rejects with a PublishError (password redacted) when the store refuses the event", async () => {
    const { ferry, store } = await newFerry();
    vi.spyOn(store, "append").mockRejectedValueOnce(
      new Error("connect postgres://app:s3cret@db/shop refused"),
    );
    const error = await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as Error).message).toContain("postgres://app:***@db/shop");
    expect((error as Error).message).not.toContain("s3cret");
  });
});

describe("configuration", () => {
  it("rejects an unknown scheme with a ConfigError", async () => {
    await expect(
      createEventferry({ store: "mongodb://localhost/x", logger: silentLogger }),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(
      createEventferry({ store: "memory:", transport: "kafka://localhost", logger: silentLogger }),
    ).rejects.toThrow(/unknown transport scheme "kafka:"/);
  });

  it("rejects a missing adapter package with ADAPTER_MISSING, naming the package", async () => {
    const error = await createEventferry({
      store: "memory:",
      transport: "mq://user:pa55@host",
      adapters: { transport: { mq: "@eventferry/not-installed" } },
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("ADAPTER_MISSING");
    expect((error as Error).message).toContain("npm install @eventferry/not-installed");
    expect((error as Error).message).not.toContain("pa55");
  });

  it("closes the store it created when a later step fails", async () => {
    const adapter = new URL("./test-fixtures/fake-store-adapter.fixture.ts", import.meta.url).pathname;
    await expect(
      createEventferry({
        store: "fake://a",
        transport: "bogus:",
        adapters: { store: { fake: adapter } },
        logger: silentLogger,
      }),
    ).rejects.toBeInstanceOf(ConfigError);
    const created = fakeStoreCalls.created.at(-1);
    expect(fakeStoreCalls.urls.at(-1)).toBe("fake://a");
    await expect(created?.health()).resolves.toMatchObject({ status: "unhealthy" });
  });

  it("rejects invalid inbox options with a ConfigError and closes what it created", async () => {
    await expect(
      createEventferry({ store: "memory:", concurrency: 0, logger: silentLogger }),
    ).rejects.toThrow(/concurrency/);
  });

  it('defaults the transport to "store:": the memory store queues through the memory transport', async () => {
    const store = createMemoryStore();
    const ferry = await createEventferry({ store, logger: silentLogger });
    cleanup.push(() => ferry.stop());
    expect(ferry.transport.name).toBe("memory");
    const seen = vi.fn(async () => {});
    ferry.on(OrderCreated, seen);
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.whenIdle();
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it('uses the store adapter\'s createStoreTransport for "store:" with a store URL, and closes both on stop', async () => {
    const adapter = new URL("./test-fixtures/fake-store-adapter.fixture.ts", import.meta.url).pathname;
    const ferry = await createEventferry({
      store: "fake://b",
      adapters: { store: { fake: adapter } },
      logger: silentLogger,
    });
    const created = fakeStoreCalls.created.at(-1)!;
    expect(fakeStoreCalls.queueFor.at(-1)).toBe(created);
    const transport = fakeStoreCalls.transports.at(-1)!;
    expect(ferry.transport).toBe(transport);
    await ferry.stop();
    await expect(created.health()).resolves.toMatchObject({ status: "unhealthy" });
    await expect(transport.health()).resolves.toMatchObject({ status: "unhealthy" });
  });

  it("never closes adapter instances it was given", async () => {
    const store = createMemoryStore();
    const transport = createMemoryTransport();
    const ferry = await createEventferry({ store, transport, logger: silentLogger });
    await ferry.start();
    await ferry.stop();
    await expect(store.health()).resolves.toMatchObject({ status: "healthy" });
    await expect(transport.health()).resolves.toMatchObject({ status: "healthy" });
    await store.close();
    await transport.close();
  });

  it("registers the definitions' JSON Schemas in the store at start, idempotently", async () => {
    const store = createMemoryStore();
    const logger = { ...silentLogger, warn: vi.fn() };
    const first = await createEventferry({ store, transport: "memory:", events: [OrderShipped], logger });
    first.on(OrderCreated, async () => {});
    await first.start();
    await first.stop();
    expect((await store.schemas.list()).map((s) => [s.type, s.version]).sort()).toEqual([
      ["order.created", 1],
      ["order.shipped", 1],
    ]);
    expect((await store.schemas.get({ type: "order.created" }))?.schema).toMatchObject({
      title: "order.created",
    });

    const second = await createEventferry({ store, transport: "memory:", events: [OrderCreated], logger });
    await second.start();
    await second.stop();
    expect(await store.schemas.list()).toHaveLength(2);
    expect(logger.warn).not.toHaveBeenCalledWith(expect.stringContaining("JSON Schema"), expect.anything());

    // A changed schema under the same version is reported, not fatal.
    const Changed = defineEvent("order.created", z.object({ orderId: z.number() }));
    const third = await createEventferry({ store, transport: "memory:", events: [Changed], logger });
    await third.start();
    await third.stop();
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining("bump the definition's version"),
      expect.anything(),
    );
    await store.close();
  });
});

describe("lifecycle", () => {
  it("stop() lets in-flight handlers finish, is idempotent, and refuses use afterwards", async () => {
    const { ferry, store } = await newFerry();
    let started = false;
    ferry.on(OrderCreated, async (event, ctx) => {
      started = true;
      await new Promise((r) => setTimeout(r, 100));
      ctx.tx.set(event.data.orderId, "done");
    });
    await ferry.start();
    await ferry.start(); // idempotent
    expect(ferry.running).toBe(true);
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await waitFor(() => expect(started).toBe(true));

    const first = ferry.stop();
    const second = ferry.stop();
    expect(second).toBe(first);
    await first;
    expect(store.kv.get("o-1")).toBe("done");
    expect(ferry.running).toBe(false);
    expect(ferry.inbox.running).toBe(false);
    expect(ferry.relay.running).toBe(false);
    await ferry.stop();

    await expect(ferry.publish(OrderCreated, { orderId: "o-2", total: 1 })).rejects.toMatchObject({
      code: "CLOSED",
    });
    await expect(ferry.start()).rejects.toBeInstanceOf(EventferryError);
  });

  it("a ferry without handlers is a producer: it does not take the group's messages", async () => {
    const store = createMemoryStore();
    const transport = createMemoryTransport();
    const options = { store, transport, logger: silentLogger, pollInterval: 20 };
    const producer = await createEventferry(options);
    const consumer = await createEventferry(options);
    cleanup.push(async () => {
      await producer.stop();
      await consumer.stop();
      await transport.close();
      await store.close();
    });
    const handled = vi.fn(async () => {});
    consumer.on(OrderCreated, handled);
    await producer.start();
    await consumer.start();
    expect(producer.inbox.running).toBe(false);
    for (let i = 0; i < 5; i++) await producer.publish(OrderCreated, { orderId: `o-${i}`, total: i });
    await producer.whenIdle();
    await consumer.whenIdle();
    expect(handled).toHaveBeenCalledTimes(5);
  });

  it("closes the transport it created from a URL on stop", async () => {
    const { ferry } = await newFerry();
    await ferry.start();
    await ferry.stop();
    await expect(ferry.transport.health()).resolves.toMatchObject({ status: "unhealthy" });
  });

  it("reports health over the store and the transport", async () => {
    const { ferry } = await newFerry();
    const report = await ferry.health();
    expect(report).toMatchObject({ status: "healthy", component: "eventferry", reasons: [] });
    expect((report.details!.components as { component: string }[]).map((c) => c.component)).toHaveLength(2);
    await ferry.stop();
    const after = await ferry.health();
    expect(after.status).toBe("unhealthy");
    expect(after.reasons).toContain("eventferry: stopped");
  });
});
