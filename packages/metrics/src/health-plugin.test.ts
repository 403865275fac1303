import {
  createMemoryTransport,
  defineEvent,
  type HealthReport,
  type Logger,
  type Plugin,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore } from "@eventferry/store";
import { createEventferry, type Eventferry } from "eventferry";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { healthPlugin } from "./health-plugin.js";
import { durabilityWarnings } from "./internal/durability.js";

const Job = defineEvent("job.queued", z.object({ n: z.number() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function spyLogger() {
  return { ...silentLogger, warn: vi.fn(), info: vi.fn(), error: vi.fn() } satisfies Logger;
}

async function newFerry(
  plugins: Plugin[],
  opts: { store?: MemoryStore; transport?: Transport; logger?: Logger } = {},
): Promise<Eventferry> {
  const store = opts.store ?? createMemoryStore();
  const transport = opts.transport ?? createMemoryTransport();
  const ferry = await createEventferry({
    store,
    transport,
    logger: opts.logger ?? silentLogger,
    pollInterval: 10,
    retry: { attempts: 1 },
    plugins,
  });
  cleanup.push(async () => {
    await ferry.stop({ timeout: 1_000 });
    await transport.close();
    await store.close();
  });
  return ferry;
}

/** A memory transport whose health report carries `details`, as the Redis transport's does. */
function transportReporting(details: Record<string, unknown>): Transport {
  const inner = createMemoryTransport();
  return Object.create(inner, {
    health: {
      value: async (): Promise<HealthReport> => ({ ...(await inner.health()), details }),
    },
    close: { value: () => inner.close() },
  }) as Transport;
}

const component = (report: HealthReport, name: string) =>
  ((report.details?.components ?? []) as HealthReport[]).find((c) => c.component === name);

describe("healthPlugin through createEventferry", () => {
  it("adds one `health` component to the ferry's report; healthy when nothing is wrong", async () => {
    const health = healthPlugin();
    const ferry = await newFerry([health]);
    ferry.on(Job, async () => {});
    await ferry.start();
    await ferry.publish(Job, { n: 1 });
    await ferry.whenIdle();
    const report = await ferry.health();
    expect(report.status).toBe("healthy");
    expect(report.reasons).toEqual([]);
    const own = component(report, "health");
    expect(own).toMatchObject({ status: "healthy", reasons: [] });
    expect(own?.details).toMatchObject({ backlog: 0, inbox: expect.objectContaining({ pending: 0 }) });
    // the store's and transport's own checks are still the ferry's
    const parts = ((report.details?.components ?? []) as HealthReport[]).map((c) => c.component);
    expect(parts).toHaveLength(3);
    expect(parts).toContain("health");
  });

  it("is degraded, then unhealthy, as the backlog passes its thresholds, with the reason", async () => {
    const health = healthPlugin({ thresholds: { backlog: { degraded: 2, unhealthy: 4 } } });
    const ferry = await newFerry([health]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = 0;
    ferry.on(Job, async () => {
      started++;
      await gate;
    });
    await ferry.start();
    // one key: handled one at a time, the rest wait due
    for (let n = 0; n < 3; n++) await ferry.publish(Job, { n }, { key: "k" });
    await vi.waitFor(() => expect(started).toBe(1), { timeout: 2_000, interval: 5 });
    const degraded = await health.check();
    expect(degraded.status).toBe("degraded");
    expect(degraded.reasons).toEqual(["backlog 2 ≥ 2 entries due and waiting"]);
    for (let n = 3; n < 5; n++) await ferry.publish(Job, { n }, { key: "k" });
    const unhealthy = await health.check();
    expect(unhealthy.status).toBe("unhealthy");
    expect(unhealthy.reasons).toEqual(["backlog 4 ≥ 4 entries due and waiting"]);
    const ferryReport = await ferry.health();
    // while running, the ferry answers from the plugin's last evaluation (within `interval`)
    expect(component(ferryReport, "health")?.details?.checkedAt).toBe(unhealthy.details?.checkedAt);
    expect(ferryReport.status).toBe("unhealthy");
    expect(ferryReport.reasons).toContain("health: backlog 4 ≥ 4 entries due and waiting");
    release();
    await ferry.whenIdle();
    expect((await health.check()).status).toBe("healthy");
  });

  it("warns about a Redis-like transport without AOF: degraded with the reason, logged once", async () => {
    const logger = spyLogger();
    const health = healthPlugin();
    const ferry = await newFerry([health], {
      logger,
      transport: transportReporting({ durability: { aof: false, appendfsync: "everysec", rdbSave: "" } }),
    });
    await ferry.start();
    const report = await ferry.health();
    expect(report.status).toBe("degraded");
    expect(report.reasons).toEqual([
      expect.stringMatching(
        /^health: transport-memory: AOF is off \(appendonly no\) and RDB snapshots are off/,
      ),
    ]);
    await health.check();
    const warned = logger.warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("AOF is off"));
    expect(warned).toHaveLength(1);
  });

  it('reads PostgreSQL-style `fsync` off from the store\'s report; `durability: "log"` only logs it', async () => {
    const logger = spyLogger();
    const inner = createMemoryStore();
    const store = Object.create(inner, {
      health: {
        value: async (): Promise<HealthReport> => ({ ...(await inner.health()), details: { fsync: "off" } }),
      },
    }) as MemoryStore;
    const health = healthPlugin({ durability: "log" });
    const ferry = await newFerry([health], { store, logger });
    await ferry.start();
    const report = await health.check();
    expect(report.status).toBe("healthy");
    expect(report.details?.durability).toEqual({
      "store-memory": [expect.stringContaining("fsync is off")],
    });
    expect(logger.warn.mock.calls.map((c) => String(c[0]))).toEqual(
      expect.arrayContaining([expect.stringContaining("fsync is off")]),
    );
  });

  it("counts a read that does not answer within `timeout` as degraded, and never hangs the ferry's health()", async () => {
    const inner = createMemoryStore();
    const hangingInbox = Object.create(inner.inbox, { stats: { value: () => new Promise(() => {}) } });
    const store = Object.create(inner, { inbox: { value: hangingInbox } }) as MemoryStore;
    const health = healthPlugin({ timeout: 50 });
    const ferry = await newFerry([health], { store });
    await ferry.start();
    const started = performance.now();
    const report = await ferry.health({ timeout: 2_000 });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(component(report, "health")).toMatchObject({
      status: "degraded",
      reasons: ["inbox stats: inbox stats did not answer within 50 ms"],
    });
  });

  it("judges the failure rate and the handling lag of the last interval", async () => {
    const logger = spyLogger();
    const health = healthPlugin({
      interval: "1h",
      thresholds: {
        failureRate: { degraded: 0.5, minAttempts: 2 },
        lag: { degraded: "30s", unhealthy: "10m" },
      },
    });
    const ferry = await newFerry([health], { logger });
    ferry.on(Job, async (event) => {
      if (event.data.n < 0) throw new Error("bad job");
    });
    await ferry.start();
    expect(health.lastReport?.status).toBe("healthy");
    await ferry.publish(Job, { n: -1 });
    await ferry.publish(Job, { n: -2 });
    // an event that occurred a minute ago, put on the transport directly
    const occurredAt = new Date(Date.now() - 60_000).toISOString();
    await ferry.transport.publish(ferry.topic, [
      {
        id: "old-1",
        type: Job.type,
        payload: JSON.stringify({
          id: "old-1",
          type: Job.type,
          data: { n: 1 },
          schemaVersion: 1,
          priority: 3,
          occurredAt,
        }),
      },
    ]);
    await ferry.whenIdle();
    await vi.waitFor(async () => expect((await ferry.deadLetters.list()).length).toBe(2), { timeout: 2_000 });
    const report = await health.check();
    expect(report.status).toBe("degraded");
    expect(report.reasons).toEqual([
      "failure rate 66.7 % ≥ 50.0 % of 3 attempts",
      expect.stringMatching(/^handling lag reached (59|60|61)\.\d s ≥ 30\.0 s$/),
    ]);
    expect(logger.warn.mock.calls.map((c) => String(c[0]))).toContain(
      "[eventferry:health] healthy → degraded",
    );
    // a new window: nothing happened since
    expect((await health.check()).status).toBe("healthy");
  });

  it("checks the oldest pending entry's age from the store's stats", async () => {
    const health = healthPlugin({ thresholds: { oldestPendingAge: { degraded: "10s" } } });
    const ferry = await newFerry([health]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    ferry.on(Job, () => gate);
    await ferry.start();
    const occurredAt = new Date(Date.now() - 120_000).toISOString();
    const envelope = (id: string) => ({
      id,
      type: Job.type,
      payload: JSON.stringify({
        id,
        type: Job.type,
        data: { n: 1 },
        schemaVersion: 1,
        priority: 3,
        occurredAt,
        key: "k",
      }),
    });
    await ferry.transport.publish(ferry.topic, [envelope("a"), envelope("b")]);
    await vi.waitFor(
      async () => expect((await ferry.store.inbox.stats()).pending).toBeGreaterThanOrEqual(1),
      {
        timeout: 2_000,
      },
    );
    const report = await health.check();
    expect(report.status).toBe("degraded");
    expect(report.reasons).toEqual([
      expect.stringMatching(/^oldest pending entry is 2\.0 min old ≥ 10\.0 s$/),
    ]);
    release();
  });

  it("validates options with one ConfigError listing every problem", () => {
    expect(() =>
      healthPlugin({
        interval: "often",
        thresholds: {
          backlog: { degraded: -1 },
          failureRate: { degraded: 2, minAttempts: 0 },
          lag: { degraded: "x" },
        },
        durability: "maybe" as never,
      }),
    ).toThrow(
      /interval.*backlog\.degraded.*lag\.degraded.*failureRate\.degraded must be within.*minAttempts.*durability/,
    );
  });
});

describe("durabilityWarnings", () => {
  const r = (details: Record<string, unknown> | undefined): HealthReport => ({
    status: "healthy",
    component: "x",
    reasons: [],
    details,
  });
  it.each([
    [
      "redis without AOF, with RDB",
      { durability: { aof: false, rdbSave: "3600 1" } },
      /AOF is off.*RDB snapshots "3600 1"/,
    ],
    ["redis AOF with appendfsync no", { durability: { aof: true, appendfsync: "no" } }, /appendfsync is no/],
    ["postgres fsync false", { fsync: false }, /fsync is off/],
    ["postgres fsync 'off'", { fsync: "off" }, /fsync is off/],
    ["postgres synchronous_commit off", { synchronous_commit: "off" }, /synchronous_commit is off/],
    [
      "postgres synchronousCommit off (nested)",
      { durability: { synchronousCommit: "off" } },
      /synchronous_commit is off/,
    ],
    ["sqlite synchronous off", { synchronous: "off" }, /synchronous is OFF/],
    ["sqlite synchronous 0", { synchronous: 0 }, /synchronous is OFF/],
  ])("%s", (_name, details, expected) => {
    const warnings = durabilityWarnings(r(details));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(expected);
  });
  it.each([
    ["redis AOF everysec", { durability: { aof: true, appendfsync: "everysec" } }],
    ["redis aof unknown", { durability: { aof: undefined } }],
    ["postgres fsync on", { fsync: "on", synchronous_commit: "on" }],
    ["sqlite normal", { synchronous: "normal" }],
    ["no details", undefined],
  ])("no warning: %s", (_name, details) => {
    expect(durabilityWarnings(r(details))).toEqual([]);
  });
});
