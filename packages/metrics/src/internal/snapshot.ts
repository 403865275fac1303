import { histogramQuantile, mergeBuckets } from "../histogram-quantile.js";
import type { MetricNames } from "../metric-names.js";
import type { HistogramBucket, HistogramFamilySnapshot, MetricFamilySnapshot } from "../metrics-registry.js";
import type { HandlerMetrics, LatencySummary, MetricsSnapshot, SizeSummary } from "../metrics-snapshot.js";

interface Row {
  handler: string;
  type: string;
  transport: string;
  received: number;
  processed: number;
  failed: number;
  retried: number;
  deadLettered: number;
  duration: { buckets: HistogramBucket[][]; sum: number; count: number };
  lag: { buckets: HistogramBucket[][]; sum: number; count: number };
}

const round = (x: number | undefined, digits = 3): number | undefined =>
  x === undefined ? undefined : Math.round(x * 10 ** digits) / 10 ** digits;

function latency(h: { buckets: HistogramBucket[][]; sum: number; count: number }): LatencySummary {
  const merged = mergeBuckets(h.buckets);
  const q = (p: number) => {
    const v = histogramQuantile(p, merged);
    return v === undefined ? undefined : round(v * 1000);
  };
  return {
    count: h.count,
    meanMs: h.count === 0 ? undefined : round((h.sum / h.count) * 1000),
    p50Ms: q(0.5),
    p95Ms: q(0.95),
    p99Ms: q(0.99),
  };
}

const rate = (processed: number, failed: number): number | undefined =>
  processed + failed === 0 ? undefined : round(processed / (processed + failed), 4);

/** Builds a {@link MetricsSnapshot} from a registry's families. */
export function buildSnapshot(params: {
  families: readonly MetricFamilySnapshot[];
  names: MetricNames;
  inbox: Readonly<Record<string, number>> | undefined;
  oldestPendingAgeMs: number | undefined;
}): MetricsSnapshot {
  const { names } = params;
  const byName = new Map(params.families.map((f) => [f.name, f]));
  const rows = new Map<string, Row>();
  const rowOf = (labels: Readonly<Record<string, string>>): Row => {
    const handler = labels.handler ?? "";
    const type = labels.type ?? "";
    const transport = labels.transport ?? "";
    const key = `${handler}\u0000${type}\u0000${transport}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        handler,
        type,
        transport,
        received: 0,
        processed: 0,
        failed: 0,
        retried: 0,
        deadLettered: 0,
        duration: { buckets: [], sum: 0, count: 0 },
        lag: { buckets: [], sum: 0, count: 0 },
      };
      rows.set(key, row);
    }
    return row;
  };
  const counters = ["received", "processed", "failed", "retried", "deadLettered"] as const;
  for (const field of counters) {
    const f = byName.get(names[field]);
    if (f && f.type !== "histogram") for (const s of f.samples) rowOf(s.labels)[field] += s.value;
  }
  for (const field of ["duration", "lag"] as const) {
    const f = byName.get(field === "duration" ? names.handlerDuration : names.lag);
    if (f?.type !== "histogram") continue;
    for (const s of f.samples) {
      const h = rowOf(s.labels)[field];
      h.buckets.push([...s.buckets]);
      h.sum += s.sum;
      h.count += s.count;
    }
  }
  const sumScalar = (name: string): number => {
    const f = byName.get(name);
    if (!f || f.type === "histogram") return 0;
    return f.samples.reduce((sum, s) => sum + s.value, 0);
  };
  const handlers: HandlerMetrics[] = [...rows.values()]
    .sort(
      (a, b) =>
        a.handler.localeCompare(b.handler) ||
        a.type.localeCompare(b.type) ||
        a.transport.localeCompare(b.transport),
    )
    .map((r) => ({
      handler: r.handler,
      type: r.type,
      transport: r.transport,
      received: r.received,
      processed: r.processed,
      failed: r.failed,
      retried: r.retried,
      deadLettered: r.deadLettered,
      successRate: rate(r.processed, r.failed),
      duration: latency(r.duration),
      lag: latency(r.lag),
    }));
  const all = (field: "duration" | "lag") => {
    const parts = [...rows.values()].map((r) => r[field]);
    return latency({
      buckets: parts.flatMap((p) => p.buckets),
      sum: parts.reduce((s, p) => s + p.sum, 0),
      count: parts.reduce((s, p) => s + p.count, 0),
    });
  };
  const batch = (operation: string): SizeSummary => {
    const f = byName.get(names.batchSize) as HistogramFamilySnapshot | undefined;
    const samples = f?.type === "histogram" ? f.samples.filter((s) => s.labels.operation === operation) : [];
    const count = samples.reduce((s, x) => s + x.count, 0);
    const sum = samples.reduce((s, x) => s + x.sum, 0);
    return {
      batches: count,
      mean: count === 0 ? undefined : round(sum / count, 1),
      p50: round(histogramQuantile(0.5, mergeBuckets(samples.map((s) => s.buckets))), 1),
    };
  };
  const processed = sumScalar(names.processed);
  const failed = sumScalar(names.failed);
  return {
    at: new Date().toISOString(),
    published: sumScalar(names.published),
    received: sumScalar(names.received),
    processed,
    failed,
    retried: sumScalar(names.retried),
    deadLettered: sumScalar(names.deadLettered),
    successRate: rate(processed, failed),
    inFlight: sumScalar(names.inFlight),
    duration: all("duration"),
    lag: all("lag"),
    batchSize: { publish: batch("publish"), receive: batch("receive") },
    inbox: params.inbox,
    oldestPendingAgeMs: params.oldestPendingAgeMs,
    handlers,
  };
}

const ms = (v: number | undefined): string => {
  if (v === undefined) return "–";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
};
const pct = (v: number | undefined): string => (v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);
const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length));
const padLeft = (s: string, n: number): string => (s.length >= n ? s : " ".repeat(n - s.length) + s);

/** Formats a snapshot as a few lines of text and a per-handler table. */
export function formatReport(
  m: MetricsSnapshot,
  names: { transport: string; store: string | undefined },
): string {
  const lines: string[] = [];
  lines.push(`eventferry metrics at ${m.at} (store ${names.store ?? "?"}, transport ${names.transport})`);
  lines.push(
    `published ${m.published} · received ${m.received} · processed ${m.processed} · failed ${m.failed} (retried ${m.retried}, dead-lettered ${m.deadLettered}) · success ${pct(m.successRate)} · in flight ${m.inFlight}`,
  );
  const inbox = m.inbox
    ? Object.entries(m.inbox)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")
    : "not read yet";
  lines.push(`inbox: ${inbox} · oldest pending ${ms(m.oldestPendingAgeMs)}`);
  lines.push(
    `handler duration: p50 ${ms(m.duration.p50Ms)} · p95 ${ms(m.duration.p95Ms)} · p99 ${ms(m.duration.p99Ms)} · mean ${ms(m.duration.meanMs)} (${m.duration.count} attempts)`,
  );
  lines.push(
    `end-to-end lag:   p50 ${ms(m.lag.p50Ms)} · p95 ${ms(m.lag.p95Ms)} · p99 ${ms(m.lag.p99Ms)} · mean ${ms(m.lag.meanMs)} (${m.lag.count} events)`,
  );
  lines.push(
    `batch sizes: publish mean ${m.batchSize.publish.mean ?? "–"} (${m.batchSize.publish.batches} batches) · receive mean ${m.batchSize.receive.mean ?? "–"} (${m.batchSize.receive.batches} batches)`,
  );
  if (m.handlers.length > 0) {
    const header = [
      "handler",
      "type",
      "processed",
      "failed",
      "retried",
      "dead",
      "success",
      "p50",
      "p95",
      "p99",
    ];
    const table = m.handlers.map((h) => [
      h.handler,
      h.type,
      String(h.processed),
      String(h.failed),
      String(h.retried),
      String(h.deadLettered),
      pct(h.successRate),
      ms(h.duration.p50Ms),
      ms(h.duration.p95Ms),
      ms(h.duration.p99Ms),
    ]);
    const widths = header.map((title, i) =>
      Math.max(title.length, ...table.map((row) => (row[i] as string).length)),
    );
    const fmt = (row: string[]) =>
      row
        .map((cell, i) => (i < 2 ? pad(cell, widths[i] as number) : padLeft(cell, widths[i] as number)))
        .join("  ");
    lines.push("");
    lines.push(fmt(header));
    for (const row of table) lines.push(fmt(row));
  }
  return `${lines.join("\n")}\n`;
}
