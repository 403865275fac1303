import type { HealthReport, Plugin } from "@eventferry/core";
import type { Meter } from "@opentelemetry/api";
import type { EventferryOptions } from "eventferry";
import { describe, expectTypeOf, it } from "vitest";
import { healthPlugin } from "./health-plugin.js";
import { metricsPlugin } from "./metrics-plugin.js";
import type { MetricsSnapshot } from "./metrics-snapshot.js";
import { createOtelRecorder, type OtelMeterLike } from "./otel-recorder.js";
import type { MetricsRecorder } from "./recorder.js";

describe("plugin types", () => {
  it("are Plugins a ferry takes", () => {
    expectTypeOf(metricsPlugin()).toMatchTypeOf<Plugin>();
    expectTypeOf(healthPlugin()).toMatchTypeOf<Plugin>();
    expectTypeOf([metricsPlugin(), healthPlugin()]).toMatchTypeOf<
      NonNullable<EventferryOptions["plugins"]>
    >();
  });

  it("read back typed figures", () => {
    const metrics = metricsPlugin();
    expectTypeOf(metrics.getMetrics()).toEqualTypeOf<MetricsSnapshot>();
    expectTypeOf(metrics.getMetrics().successRate).toEqualTypeOf<number | undefined>();
    expectTypeOf(metrics.toPrometheus()).toEqualTypeOf<Promise<string>>();
    expectTypeOf(metrics.getReport()).toEqualTypeOf<string>();
    expectTypeOf(healthPlugin().check()).toEqualTypeOf<Promise<HealthReport>>();
  });

  it("bridge an @opentelemetry/api Meter without importing it at runtime", () => {
    expectTypeOf<Meter>().toMatchTypeOf<OtelMeterLike>();
    expectTypeOf(createOtelRecorder).parameter(0).toEqualTypeOf<OtelMeterLike>();
    expectTypeOf(createOtelRecorder({} as Meter)).toEqualTypeOf<MetricsRecorder>();
  });

  it("reject options of the wrong shape", () => {
    // @ts-expect-error prefix is a string
    metricsPlugin({ prefix: 1 });
    // @ts-expect-error durability is "degraded" | "log" | "off"
    healthPlugin({ durability: "loud" });
  });
});
