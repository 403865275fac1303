import { ConfigError } from "@eventferry/core";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { histogramQuantile } from "./histogram-quantile.js";
import { createMetricsRegistry } from "./metrics-registry.js";

describe("createMetricsRegistry", () => {
  it("escapes label values and help text so a real parser reads them back", () => {
    const registry = createMetricsRegistry();
    const c = registry.counter({
      name: "test_weird_total",
      help: 'Help with a backslash \\ and a\nnewline and "quotes"',
      labelNames: ["path", "type"],
    });
    const nasty = 'C:\\DIR\\FILE.TXT "quoted"\nsecond line';
    c.series([nasty, "order.created"]).inc(3);
    c.series(["plain", "x"]).inc();
    const text = registry.toPrometheus();
    expect(text).toContain('path="C:\\\\DIR\\\\FILE.TXT \\"quoted\\"\\nsecond line"');
    expect(text).toContain("# HELP test_weird_total Help with a backslash \\\\ and a\\nnewline");
    const [family] = parsePrometheusTextFormat(text);
    expect(family?.name).toBe("test_weird_total");
    expect(family?.type).toBe("COUNTER");
    expect(family?.metrics).toEqual([
      { labels: { path: nasty, type: "order.created" }, value: "3" },
      { labels: { path: "plain", type: "x" }, value: "1" },
    ]);
  });

  it("writes an unlabelled histogram as cumulative _bucket lines ending in +Inf, _sum and _count", () => {
    const registry = createMetricsRegistry();
    const h = registry.histogram({ name: "test_size", help: "Sizes.", labelNames: [], buckets: [1, 5, 10] });
    const s = h.series([]);
    for (const v of [0.5, 1, 3, 5, 7, 100, Number.NaN]) s.observe(v);
    const text = registry.toPrometheus();
    expect(text).toBe(
      [
        "# HELP test_size Sizes.",
        "# TYPE test_size histogram",
        'test_size_bucket{le="1"} 2',
        'test_size_bucket{le="5"} 4',
        'test_size_bucket{le="10"} 5',
        'test_size_bucket{le="+Inf"} 6',
        "test_size_sum 116.5",
        "test_size_count 6",
        "",
      ].join("\n"),
    );
    expect(parsePrometheusTextFormat(text)).toEqual([
      {
        name: "test_size",
        help: "Sizes.",
        type: "HISTOGRAM",
        metrics: [{ buckets: { "1": "2", "5": "4", "10": "5", "+Inf": "6" }, sum: "116.5", count: "6" }],
      },
    ]);
  });

  it("keeps labelled histogram series apart and reads them back with collect()", () => {
    const registry = createMetricsRegistry();
    const h = registry.histogram({
      name: "t_seconds",
      help: "T.",
      labelNames: ["handler"],
      buckets: [0.1, 1],
    });
    h.series(["a"]).observe(0.05);
    h.series(["b"]).observe(2);
    h.series(["a"]).observe(0.5);
    const [f] = registry.collect();
    expect(f).toMatchObject({ type: "histogram", name: "t_seconds" });
    expect(f?.samples).toEqual([
      {
        labels: { handler: "a" },
        buckets: [
          { le: 0.1, count: 1 },
          { le: 1, count: 2 },
          { le: Number.POSITIVE_INFINITY, count: 2 },
        ],
        sum: 0.55,
        count: 2,
      },
      {
        labels: { handler: "b" },
        buckets: [
          { le: 0.1, count: 0 },
          { le: 1, count: 0 },
          { le: Number.POSITIVE_INFINITY, count: 1 },
        ],
        sum: 2,
        count: 1,
      },
    ]);
    const text = registry.toPrometheus();
    expect(text).toContain('t_seconds_bucket{handler="b",le="+Inf"} 1\n');
    expect(text).toContain('t_seconds_count{handler="a"} 2\n');
    expect(() => parsePrometheusTextFormat(text)).not.toThrow();
  });

  it("returns the same family for the same descriptor and refuses a conflicting one", () => {
    const registry = createMetricsRegistry();
    const a = registry.counter({ name: "x_total", help: "X.", labelNames: ["k"] });
    const b = registry.counter({ name: "x_total", help: "X.", labelNames: ["k"] });
    a.series(["1"]).inc();
    b.series(["1"]).inc();
    expect(registry.collect()[0]?.samples).toEqual([{ labels: { k: "1" }, value: 2 }]);
    expect(() => registry.gauge({ name: "x_total", help: "X.", labelNames: ["k"] })).toThrow(ConfigError);
    expect(() => registry.counter({ name: "x_total", help: "X.", labelNames: ["other"] })).toThrow(
      /already registered as a counter with labels \(k\)/,
    );
  });

  it("rejects invalid names, labels and buckets with a ConfigError", () => {
    const registry = createMetricsRegistry();
    expect(() => registry.counter({ name: "bad-name", help: "", labelNames: [] })).toThrow(ConfigError);
    expect(() => registry.counter({ name: "ok", help: "", labelNames: ["__reserved"] })).toThrow(
      /not start with __/,
    );
    expect(() => registry.histogram({ name: "h", help: "", labelNames: ["le"], buckets: [1] })).toThrow(
      /label named le/,
    );
    expect(() => registry.histogram({ name: "h", help: "", labelNames: [], buckets: [2, 1] })).toThrow(
      /ascending/,
    );
    expect(() => registry.histogram({ name: "h", help: "", labelNames: [], buckets: [] })).toThrow(
      /at least one bucket/,
    );
    const c = registry.counter({ name: "ok", help: "", labelNames: ["a", "b"] });
    expect(() => c.series(["only-one"])).toThrow(/takes 2 label values/);
  });

  it("never lets a counter go down; gauges set; reset() zeroes every series", () => {
    const registry = createMetricsRegistry();
    const c = registry.counter({ name: "c_total", help: "C.", labelNames: [] }).series([]);
    const g = registry.gauge({ name: "g", help: "G.", labelNames: [] }).series([]);
    c.inc(2);
    c.inc(-5);
    c.inc(Number.NaN);
    g.set(7);
    g.set(-1);
    expect(registry.collect().map((f) => (f.type === "histogram" ? undefined : f.samples[0]?.value))).toEqual(
      [2, -1],
    );
    registry.reset();
    expect(registry.collect().map((f) => (f.type === "histogram" ? undefined : f.samples[0]?.value))).toEqual(
      [0, 0],
    );
    expect(createMetricsRegistry().toPrometheus()).toBe("");
  });
});

describe("histogramQuantile", () => {
  const buckets = [
    { le: 1, count: 10 },
    { le: 2, count: 30 },
    { le: 4, count: 40 },
    { le: Number.POSITIVE_INFINITY, count: 42 },
  ];
  it("interpolates inside the bucket the rank falls in, like PromQL", () => {
    expect(histogramQuantile(0.1, buckets)).toBeCloseTo(0.42, 2); // rank 4.2 in [0,1]
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(1 + (21 - 10) / 20, 5);
    expect(histogramQuantile(0.9, buckets)).toBeCloseTo(2 + (2 * (37.8 - 30)) / 10, 5);
  });
  it("answers the largest finite bound for a rank in +Inf, and undefined without observations", () => {
    expect(histogramQuantile(0.99, buckets)).toBe(4);
    expect(
      histogramQuantile(0.5, [
        { le: 1, count: 0 },
        { le: Number.POSITIVE_INFINITY, count: 0 },
      ]),
    ).toBeUndefined();
  });
});
