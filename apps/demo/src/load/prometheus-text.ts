import type { HistogramBucket } from "@eventferry/metrics";

/** One sample line of a Prometheus text exposition. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the sample lines of a Prometheus text exposition (comments and blank lines skipped). */
export function parsePrometheusText(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    const raw = m[3] as string;
    const value =
      raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: m[1] as string, labels, value });
  }
  return samples;
}

/** The figures `pnpm demo:load` follows, read from the demo's `/metrics`. */
export interface DemoFigures {
  /** Handler attempts that succeeded (all handlers, all types). */
  readonly processed: number;
  /** Failed attempts that were scheduled again. */
  readonly retried: number;
  /** Events dead-lettered. */
  readonly deadLettered: number;
  /** Events the transport accepted. */
  readonly published: number;
  /** Inbox entries by status (`pending`, `scheduled`, `inFlight`, `completed`, `dead`). */
  readonly inbox: Readonly<Record<string, number>>;
  /** The end-to-end lag histogram, all series added (cumulative, seconds). */
  readonly lagBuckets: readonly HistogramBucket[];
}

/** Sums the demo's metrics into {@link DemoFigures} (`prefix`: the metrics plugin's, `eventferry_`). */
export function demoFigures(samples: readonly PromSample[], prefix = "eventferry_"): DemoFigures {
  const sum = (name: string) =>
    samples.reduce((total, s) => (s.name === `${prefix}${name}` ? total + s.value : total), 0);
  const inbox: Record<string, number> = {};
  const lag = new Map<number, number>();
  for (const s of samples) {
    if (s.name === `${prefix}inbox_entries` && s.labels.status !== undefined)
      inbox[s.labels.status] = s.value;
    if (s.name === `${prefix}event_lag_seconds_bucket` && s.labels.le !== undefined) {
      const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      lag.set(le, (lag.get(le) ?? 0) + s.value);
    }
  }
  return {
    processed: sum("events_processed_total"),
    retried: sum("events_retried_total"),
    deadLettered: sum("events_dead_lettered_total"),
    published: sum("events_published_total"),
    inbox,
    lagBuckets: [...lag.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count })),
  };
}

/** `after − before` of cumulative buckets with the same bounds (a window of the histogram). */
export function bucketDelta(
  after: readonly HistogramBucket[],
  before: readonly HistogramBucket[],
): HistogramBucket[] {
  const earlier = new Map(before.map((b) => [b.le, b.count]));
  return after.map((b) => ({ le: b.le, count: Math.max(0, b.count - (earlier.get(b.le) ?? 0)) }));
}
