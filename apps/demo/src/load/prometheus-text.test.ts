import { describe, expect, it } from "vitest";
import { bucketDelta, demoFigures, parsePrometheusText } from "./prometheus-text.js";

const text = `# HELP eventferry_events_processed_total Handler attempts that succeeded and committed.
# TYPE eventferry_events_processed_total counter
eventferry_events_processed_total{type="order.created",handler="audit",transport="memory"} 7
eventferry_events_processed_total{type="user.created",handler="welcome-email",transport="memory"} 3
eventferry_events_retried_total{type="order.created",handler="notify-webhook",transport="memory"} 2
eventferry_events_dead_lettered_total{type="order.created",handler="notify-webhook",transport="memory"} 1
eventferry_events_published_total{type="order.created",transport="memory"} 7
eventferry_inbox_entries{status="pending"} 4
eventferry_inbox_entries{status="scheduled"} 1
eventferry_event_lag_seconds_bucket{type="a",handler="h",transport="memory",le="0.01"} 2
eventferry_event_lag_seconds_bucket{type="a",handler="h",transport="memory",le="+Inf"} 3
eventferry_event_lag_seconds_bucket{type="b",handler="h",transport="memory",le="0.01"} 1
eventferry_event_lag_seconds_bucket{type="b",handler="h",transport="memory",le="+Inf"} 1
weird{msg="a \\"quoted\\" \\\\ value"} 1.5e3
`;

describe("the /metrics reader of demo:load", () => {
  it("parses samples with labels, escapes and exponents", () => {
    const samples = parsePrometheusText(text);
    expect(samples).toHaveLength(12);
    expect(samples.at(-1)).toEqual({ name: "weird", labels: { msg: 'a "quoted" \\ value' }, value: 1500 });
  });

  it("sums the figures it follows over handlers and types", () => {
    const figures = demoFigures(parsePrometheusText(text));
    expect(figures).toMatchObject({ processed: 10, retried: 2, deadLettered: 1, published: 7 });
    expect(figures.inbox).toEqual({ pending: 4, scheduled: 1 });
    expect(figures.lagBuckets).toEqual([
      { le: 0.01, count: 3 },
      { le: Number.POSITIVE_INFINITY, count: 4 },
    ]);
    expect(bucketDelta(figures.lagBuckets, [{ le: 0.01, count: 1 }])).toEqual([
      { le: 0.01, count: 2 },
      { le: Number.POSITIVE_INFINITY, count: 4 },
    ]);
  });
});
