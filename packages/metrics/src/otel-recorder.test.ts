import { defineEvent, silentLogger } from "@eventferry/core";
import { createMemoryStore } from "@eventferry/store";
import type { Meter } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { createEventferry } from "eventferry";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { metricsPlugin, metricsPluginDefaults } from "./metrics-plugin.js";
import { createOtelRecorder, type OtelMeterLike } from "./otel-recorder.js";

const Paid = defineEvent("payment.received", z.object({ amount: z.number() }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function otel() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  cleanup.push(() => provider.shutdown());
  return { exporter, reader, meter: provider.getMeter("eventferry-test") };
}

async function collect(reader: PeriodicExportingMetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics)
    for (const m of scope.metrics) byName.set(m.descriptor.name, m);
  return byName;
}

describe("createOtelRecorder with a real MeterProvider", () => {
  it("takes an @opentelemetry/api Meter structurally", () => {
    expectTypeOf<Meter>().toMatchTypeOf<OtelMeterLike>();
  });

  it("forwards counters, histograms (with the plugin's buckets) and gauges through the pipeline", async () => {
    const { reader, exporter, meter } = otel();
    const metrics = metricsPlugin({ recorder: createOtelRecorder(meter), statsInterval: false });
    const store = createMemoryStore();
    const ferry = await createEventferry({
      store,
      transport: "memory:",
      logger: silentLogger,
      pollInterval: 10,
      retry: { attempts: 2, backoff: "fixed", delay: 5 },
      plugins: [metrics],
    });
    cleanup.push(async () => {
      await ferry.stop();
      await store.close();
    });
    ferry.on(
      Paid,
      async (event) => {
        if (event.data.amount < 0) throw new Error("negative");
      },
      { name: "ledger" },
    );
    await ferry.start();
    await ferry.publish(Paid, { amount: 5 });
    await ferry.publish(Paid, { amount: 7 });
    await ferry.publish(Paid, { amount: -1 });
    await ferry.whenIdle();
    await expect.poll(() => metrics.getMetrics().deadLettered, { timeout: 2_000, interval: 10 }).toBe(1);
    await metrics.refresh();

    const byName = await collect(reader);
    const attrs = { type: "payment.received", handler: "ledger", transport: "memory" };
    const sumOf = (name: string) => {
      const m = byName.get(name);
      expect(m?.dataPointType, name).toBe(DataPointType.SUM);
      return m?.dataPoints.find((p) => JSON.stringify(p.attributes) === JSON.stringify(attrs))?.value;
    };
    // counters lose the `_total` suffix (OpenTelemetry's Prometheus exporter adds it back)
    expect(sumOf("eventferry_events_processed")).toBe(2);
    expect(sumOf("eventferry_events_received")).toBe(4);
    expect(sumOf("eventferry_events_failed")).toBe(2);
    expect(sumOf("eventferry_events_retried")).toBe(1);
    expect(sumOf("eventferry_events_dead_lettered")).toBe(1);
    expect(byName.get("eventferry_events_processed")?.descriptor).toMatchObject({
      description: "Handler attempts that succeeded and committed.",
      unit: "{event}",
    });
    expect(byName.get("eventferry_events_published")?.dataPoints.map((p) => [p.attributes, p.value])).toEqual(
      [[{ type: "payment.received", transport: "memory" }, 3]],
    );

    const duration = byName.get("eventferry_handler_duration_seconds");
    expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(duration?.descriptor.unit).toBe("s");
    const point = duration?.dataPoints[0];
    expect(point?.attributes).toEqual(attrs);
    const value = point?.value as {
      count: number;
      sum?: number;
      buckets: { boundaries: number[]; counts: number[] };
    };
    expect(value.count).toBe(4);
    expect(value.buckets.boundaries).toEqual([...metricsPluginDefaults.handlerDurationBuckets]);
    expect(value.buckets.counts.reduce((a, b) => a + b, 0)).toBe(4);
    const lag = byName.get("eventferry_event_lag_seconds")?.dataPoints[0]?.value as { count: number };
    expect(lag.count).toBe(2);

    const inFlight = byName.get("eventferry_handlers_in_flight");
    expect(inFlight?.dataPointType).toBe(DataPointType.GAUGE);
    expect(inFlight?.dataPoints[0]).toMatchObject({
      attributes: { handler: "ledger", transport: "memory" },
      value: 0,
    });
    const entries = byName.get("eventferry_inbox_entries");
    const completed = entries?.dataPoints.find((p) => p.attributes.status === "completed");
    expect(completed?.value).toBe(2);

    // the plugin's own registry saw the same values
    expect(metrics.getMetrics()).toMatchObject({ processed: 2, failed: 2, deadLettered: 1, published: 3 });

    // and the periodic exporter path works too
    await reader.forceFlush();
    const exported = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    expect(exported.map((m) => m.descriptor.name)).toContain("eventferry_events_processed");
  });

  it("names instruments with instrumentName and builds each series' attributes once", async () => {
    const { reader, meter } = otel();
    const recorder = createOtelRecorder(meter, { instrumentName: (d) => d.name.replaceAll("_", ".") });
    const c = recorder.counter({ name: "shop_orders_total", help: "Orders.", labelNames: ["kind"] });
    expect(recorder.counter({ name: "shop_orders_total", help: "Orders.", labelNames: ["kind"] })).toBe(c);
    const s = c.series(["web"]);
    s.inc();
    s.inc(4);
    const byName = await collect(reader);
    expect(byName.get("shop.orders.total")?.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [{ kind: "web" }, 5],
    ]);
  });
});
