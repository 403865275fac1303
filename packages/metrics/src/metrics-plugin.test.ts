import {
  createMemoryTransport,
  defineEvent,
  definePlugin,
  type Logger,
  type MemoryTransport,
  type Plugin,
  silentLogger,
} from "@eventferry/core";
import { createMemoryStore } from "@eventferry/store";
import { createEventferry, type Eventferry } from "eventferry";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { metricsPlugin, metricsPluginDefaults } from "./metrics-plugin.js";
import { createMetricsRegistry } from "./metrics-registry.js";
import type { MetricsRecorder } from "./recorder.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const OrderShipped = defineEvent("order.shipped", z.object({ orderId: z.string() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function newFerry(plugins: Plugin[], logger: Logger = silentLogger): Promise<Eventferry> {
  const store = createMemoryStore();
  const ferry = await createEventferry({
    store,
    transport: "memory:",
    logger,
    pollInterval: 10,
    retry: { attempts: 3, backoff: "fixed", delay: 5 },
    plugins,
  });
  cleanup.push(async () => {
    await ferry.stop({ timeout: 1_000 });
    await store.close();
  });
  return ferry;
}

type Parsed = ReturnType<typeof parsePrometheusTextFormat>;
const family = (parsed: Parsed, name: string) => {
  const f = parsed.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in the exposition`);
  return f;
};
const sample = (parsed: Parsed, name: string, labels: Record<string, string>) =>
  family(parsed, name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));

describe("metricsPlugin through createEventferry (memory store and transport)", () => {
  it("counts publishes, successes, retries and dead letters per type, handler and transport", async () => {
    const metrics = metricsPlugin({ statsInterval: false });
    const ferry = await newFerry([metrics]);
    ferry.on(OrderCreated, async () => {}, { name: "bill" });
    ferry.on(
      OrderCreated,
      async (_event, ctx) => {
        // fails twice, then succeeds on the third attempt
        if (ctx.attempt < 3) throw new Error("flaky");
      },
      { name: "ship" },
    );
    ferry.on(
      OrderShipped,
      async () => {
        throw new Error("always");
      },
      { name: "notify" },
    );
    await ferry.start();
    await ferry.publishMany([
      { event: OrderCreated, data: { orderId: "o-1", total: 1 } },
      { event: OrderCreated, data: { orderId: "o-2", total: 2 } },
    ]);
    await ferry.publish(OrderShipped, { orderId: "o-1" });
    await vi.waitFor(() => expect(metrics.getMetrics().deadLettered).toBe(1), {
      timeout: 3_000,
      interval: 10,
    });
    await ferry.whenIdle();

    const m = metrics.getMetrics();
    expect(m.published).toBe(3);
    const row = (handler: string) => m.handlers.find((h) => h.handler === handler);
    expect(row("bill")).toMatchObject({
      type: "order.created",
      transport: "memory",
      received: 2,
      processed: 2,
      failed: 0,
    });
    expect(row("ship")).toMatchObject({ received: 6, processed: 2, failed: 4, retried: 4, deadLettered: 0 });
    expect(row("notify")).toMatchObject({
      type: "order.shipped",
      received: 3,
      processed: 0,
      failed: 3,
      retried: 2,
      deadLettered: 1,
    });
    expect(row("notify")?.successRate).toBe(0);
    expect(m.processed).toBe(4);
    expect(m.failed).toBe(7);
    expect(m.successRate).toBeCloseTo(4 / 11, 3);
    // every attempt is timed; only successes have a lag
    expect(m.duration.count).toBe(11);
    expect(m.lag.count).toBe(4);
    expect(m.duration.p50Ms).toBeGreaterThanOrEqual(0);
    expect(m.duration.p99Ms).toBeGreaterThanOrEqual(m.duration.p50Ms as number);
    expect(m.lag.p95Ms).toBeGreaterThan(0);
    expect(m.inFlight).toBe(0);
    expect(m.batchSize.publish).toMatchObject({ batches: 2, mean: 1.5 });
    expect(m.batchSize.receive.batches).toBeGreaterThanOrEqual(1);

    const report = metrics.getReport();
    expect(report).toContain("published 3");
    expect(report).toContain("dead-lettered 1");
    expect(report).toMatch(/notify\s+order\.shipped\s+0\s+3\s+2\s+1\s+0\.0 %/);
  });

  it("exposes valid Prometheus text: HELP, TYPE, counters, cumulative histogram buckets up to +Inf, gauges", async () => {
    const metrics = metricsPlugin({ statsInterval: false });
    const ferry = await newFerry([metrics]);
    ferry.on(OrderCreated, async () => {}, { name: "bill" });
    await ferry.start();
    for (let i = 0; i < 5; i++) await ferry.publish(OrderCreated, { orderId: `o-${i}`, total: i });
    await ferry.whenIdle();

    const text = await metrics.toPrometheus();
    const parsed = parsePrometheusTextFormat(text);
    const n = metrics.names;
    expect(family(parsed, n.processed)).toMatchObject({
      type: "COUNTER",
      help: "Handler attempts that succeeded and committed.",
    });
    expect(sample(parsed, n.published, { type: "order.created", transport: "memory" })?.value).toBe("5");
    expect(
      sample(parsed, n.processed, { type: "order.created", handler: "bill", transport: "memory" })?.value,
    ).toBe("5");
    // The parser folds a histogram's buckets by `le` (one series here) and drops labelled
    // _sum/_count, so those two are read from the text itself.
    const duration = family(parsed, n.handlerDuration);
    expect(duration.type).toBe("HISTOGRAM");
    const buckets = duration.metrics[0]?.buckets ?? {};
    const bounds = Object.keys(buckets).sort(
      (a, b) => Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity")),
    );
    expect(bounds).toEqual([...metricsPluginDefaults.handlerDurationBuckets.map(String), "+Inf"]);
    expect(buckets["+Inf"]).toBe("5");
    const counts = bounds.map((le) => Number(buckets[le]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
    const labels = 'type="order.created",handler="bill",transport="memory"';
    expect(text).toContain(`${n.handlerDuration}_count{${labels}} 5\n`);
    expect(text).toMatch(
      new RegExp(`^${n.handlerDuration}_sum\\{${labels.replace(/\./g, "\\.")}\\} [0-9.e-]+$`, "m"),
    );
    expect(text).toContain(`${n.lag}_count{${labels}} 5\n`);
    expect(family(parsed, n.lag).metrics[0]?.buckets?.["+Inf"]).toBe("5");
    // inbox gauges were refreshed by toPrometheus()
    expect(family(parsed, n.inboxEntries).type).toBe("GAUGE");
    expect(sample(parsed, n.inboxEntries, { status: "completed" })?.value).toBe("5");
    expect(sample(parsed, n.inboxEntries, { status: "pending" })?.value).toBe("0");
    expect(sample(parsed, n.oldestPendingAge, {})?.value).toBe("0");
    expect(sample(parsed, n.inFlight, { handler: "bill" })?.value).toBe("0");
    // every TYPE line precedes its samples, one per family
    expect(text.match(/^# TYPE /gm)?.length).toBe(parsed.length);
  });

  it("shows handlers in flight and the inbox backlog while a handler is blocked", async () => {
    const metrics = metricsPlugin({ statsInterval: false });
    const ferry = await newFerry([metrics]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    ferry.on(
      OrderCreated,
      async () => {
        started++;
        await gate;
      },
      { name: "slow" },
    );
    await ferry.start();
    // same key: one at a time, the second waits pending
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 }, { key: "k" });
    await ferry.publish(OrderCreated, { orderId: "o-2", total: 2 }, { key: "k" });
    await vi.waitFor(() => expect(started).toBe(1), { timeout: 2_000, interval: 5 });
    await metrics.refresh();
    const during = metrics.getMetrics();
    expect(during.inFlight).toBe(1);
    expect((during.inbox?.pending ?? 0) + (during.inbox?.inFlight ?? 0)).toBeGreaterThanOrEqual(1);
    expect(during.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    release();
    await ferry.whenIdle();
    await metrics.refresh();
    const after = metrics.getMetrics();
    expect(after.inFlight).toBe(0);
    expect(after.inbox).toMatchObject({ pending: 0, completed: 2 });
    expect(after.oldestPendingAgeMs).toBe(0);
  });

  it("counts events rejected on arrival (invalid data) as dead-lettered for the consumer group", async () => {
    const metrics = metricsPlugin({ statsInterval: false });
    const ferry = await newFerry([metrics]);
    ferry.on(OrderCreated, async () => {}, { name: "bill" });
    await ferry.start();
    // bypass publish-time validation: put an invalid order.created on the transport directly
    await ferry.transport.publish(ferry.topic, [
      {
        id: "bad-1",
        type: "order.created",
        payload: JSON.stringify({
          id: "bad-1",
          type: "order.created",
          data: { orderId: 7 },
          schemaVersion: 1,
          priority: 3,
          occurredAt: new Date().toISOString(),
        }),
      },
    ]);
    await vi.waitFor(() => expect(metrics.getMetrics().deadLettered).toBe(1), {
      timeout: 2_000,
      interval: 5,
    });
    const dead = metrics.getMetrics().handlers.find((h) => h.deadLettered === 1);
    expect(dead).toMatchObject({ type: "order.created", failed: 0, processed: 0 });
    expect(dead?.handler).toBe(ferry.inbox.group);
  });

  it("keeps processing when a hook of another plugin or the recorder throws", async () => {
    const logger = { ...silentLogger, error: vi.fn(), warn: vi.fn() };
    const broken: MetricsRecorder = {
      counter: () => ({
        series: () => ({
          inc() {
            throw new Error("recorder down");
          },
        }),
      }),
      histogram: () => ({
        series: () => ({
          observe() {
            throw new Error("recorder down");
          },
        }),
      }),
      gauge: () => ({
        series: () => ({
          set() {
            throw new Error("recorder down");
          },
        }),
      }),
    };
    const metrics = metricsPlugin({ recorder: broken, statsInterval: false });
    const faulty = definePlugin({
      name: "faulty",
      hooks: {
        onReceive() {
          throw new Error("hook bug");
        },
        onProcessed() {
          throw new Error("hook bug");
        },
      },
    });
    const ferry = await newFerry([faulty, metrics], logger);
    const handled = vi.fn(async () => {});
    ferry.on(OrderCreated, handled, { name: "bill" });
    await ferry.start();
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferry.publish(OrderCreated, { orderId: "o-2", total: 2 });
    await ferry.whenIdle();
    expect(handled).toHaveBeenCalledTimes(2);
    const completed = await ferry.store.inbox.stats();
    expect(completed).toMatchObject({ completed: 2, pending: 0, dead: 0 });
    // the plugin's own registry got every value; the broken recorder is reported once
    expect(metrics.getMetrics()).toMatchObject({ received: 2, processed: 2, published: 2 });
    expect(metrics.getMetrics().duration.count).toBe(2);
    const recorderErrors = logger.error.mock.calls.filter((c) =>
      String(c[0]).includes("metrics recorder threw"),
    );
    expect(recorderErrors).toHaveLength(1);
    const hookErrors = [...logger.error.mock.calls, ...logger.warn.mock.calls].filter((c) =>
      String(c[0]).includes('plugin "faulty"'),
    );
    expect(hookErrors.length).toBeGreaterThanOrEqual(4);
  });

  it("shares one registry between two ferries and tells their transports apart by label", async () => {
    const registry = createMetricsRegistry();
    const a = metricsPlugin({ recorder: registry, statsInterval: false });
    const b = metricsPlugin({ recorder: registry, statsInterval: false });
    expect(a.registry).toBe(registry);
    const ferryA = await newFerry([a]);
    const store = createMemoryStore();
    // a second memory transport under another name
    const transportB = Object.create(createMemoryTransport(), {
      name: { value: "memory-b" },
    }) as MemoryTransport;
    const ferryB = await createEventferry({
      store,
      transport: transportB,
      logger: silentLogger,
      plugins: [b],
      pollInterval: 10,
    });
    cleanup.push(async () => {
      await ferryB.stop();
      await transportB.close();
      await store.close();
    });
    ferryA.on(OrderCreated, async () => {}, { name: "bill" });
    ferryB.on(OrderCreated, async () => {}, { name: "bill" });
    await Promise.all([ferryA.start(), ferryB.start()]);
    await ferryA.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await ferryB.publish(OrderCreated, { orderId: "o-2", total: 2 });
    await Promise.all([ferryA.whenIdle(), ferryB.whenIdle()]);
    const parsed = parsePrometheusTextFormat(registry.toPrometheus());
    const processed = family(parsed, a.names.processed).metrics.map((m) => [m.labels?.transport, m.value]);
    expect(processed).toEqual(
      expect.arrayContaining([
        ["memory", "1"],
        ["memory-b", "1"],
      ]),
    );
    expect(processed).toHaveLength(2);
  });

  it("validates options with one ConfigError listing every problem", () => {
    expect(() =>
      metricsPlugin({
        prefix: "1bad-",
        statsInterval: "soon",
        buckets: { handlerDuration: [1, 0.5], lag: [] },
        recorder: {} as MetricsRecorder,
      }),
    ).toThrow(
      /prefix.*recorder.*handlerDuration must be strictly ascending.*lag must be a non-empty array.*statsInterval/,
    );
  });

  it("refreshes the inbox gauges every statsInterval while running and stops on stop()", async () => {
    const store = createMemoryStore();
    const stats = vi.spyOn(store.inbox, "stats");
    const metrics = metricsPlugin({ statsInterval: 20 });
    const ferry = await createEventferry({
      store,
      transport: "memory:",
      logger: silentLogger,
      plugins: [metrics],
    });
    cleanup.push(() => store.close());
    ferry.on(OrderCreated, async () => {}, { name: "bill" });
    await ferry.start();
    expect(metrics.getMetrics().inbox).toMatchObject({ completed: 0 });
    await ferry.publish(OrderCreated, { orderId: "o-1", total: 1 });
    await vi.waitFor(() => expect(metrics.getMetrics().inbox).toMatchObject({ completed: 1 }), {
      timeout: 2_000,
      interval: 10,
    });
    await ferry.stop();
    const afterStop = stats.mock.calls.length;
    expect(afterStop).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stats.mock.calls.length).toBe(afterStop);
  });
});
