import { ConfigError } from "@eventferry/core";
import { formatPrometheus } from "./internal/prometheus-text.js";
import type {
  CounterSeries,
  GaugeSeries,
  HistogramDescriptor,
  HistogramSeries,
  Instrument,
  MetricDescriptor,
  MetricsRecorder,
} from "./recorder.js";

/** The kind of a metric family. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A counter or gauge value for one combination of labels. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One histogram bucket: how many observations were ≤ `le` (cumulative). The last `le` is `Infinity`. */
export interface HistogramBucket {
  readonly le: number;
  readonly count: number;
}

/** A histogram's state for one combination of labels. */
export interface HistogramSample {
  readonly labels: Readonly<Record<string, string>>;
  /** Cumulative buckets, ascending, ending with `le: Infinity` (= `count`). */
  readonly buckets: readonly HistogramBucket[];
  readonly sum: number;
  readonly count: number;
}

interface FamilyBase {
  readonly name: string;
  readonly help: string;
  readonly unit?: string | undefined;
  readonly labelNames: readonly string[];
}

/** A counter or gauge family as read by {@link MetricsRegistry.collect}. */
export interface ScalarFamilySnapshot extends FamilyBase {
  readonly type: "counter" | "gauge";
  readonly samples: readonly MetricSample[];
}

/** A histogram family as read by {@link MetricsRegistry.collect}. */
export interface HistogramFamilySnapshot extends FamilyBase {
  readonly type: "histogram";
  readonly samples: readonly HistogramSample[];
}

/** One metric family as read by {@link MetricsRegistry.collect}. */
export type MetricFamilySnapshot = ScalarFamilySnapshot | HistogramFamilySnapshot;

/**
 * An in-memory {@link MetricsRecorder} that reads back: {@link MetricsRegistry.collect} for plain
 * data, {@link MetricsRegistry.toPrometheus} for the Prometheus text exposition format. Share one
 * registry between several ferries (give each plugin the same `recorder`) to serve one `/metrics`.
 */
export interface MetricsRegistry extends MetricsRecorder {
  /** Every family and series, in registration order. */
  collect(): MetricFamilySnapshot[];
  /**
   * The Prometheus text exposition format (version 0.0.4): `# HELP`, `# TYPE`, escaped label
   * values, histograms as `_bucket{le=…}` (cumulative, ending with `+Inf`), `_sum` and `_count`.
   * Serve it with {@link PROMETHEUS_CONTENT_TYPE}.
   */
  toPrometheus(): string;
  /** Zeroes every series (families and series stay registered). */
  reset(): void;
}

/** The `Content-Type` of {@link MetricsRegistry.toPrometheus}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class ScalarSeries implements CounterSeries, GaugeSeries {
  value = 0;
  constructor(
    readonly labelValues: readonly string[],
    private readonly monotonic: boolean,
  ) {}
  inc(value = 1): void {
    // A counter never goes down; NaN would poison it for good.
    if (this.monotonic && !(value >= 0)) return;
    this.value += value;
  }
  set(value: number): void {
    this.value = value;
  }
}

class BucketSeries implements HistogramSeries {
  /** Non-cumulative counts; the last slot is the `+Inf` bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labelValues: readonly string[],
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > (bounds[i] as number)) i++;
    const counts = this.counts;
    counts[i] = (counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

interface Family {
  readonly type: MetricType;
  readonly descriptor: MetricDescriptor;
  readonly bounds?: Float64Array;
  readonly series: Map<string, ScalarSeries | BucketSeries>;
}

/**
 * Creates an in-memory metrics registry: the default recorder of `metricsPlugin()`.
 *
 * @example
 * const registry = createMetricsRegistry();
 * const ferry = await createEventferry({ plugins: [metricsPlugin({ recorder: registry })] });
 * http.createServer((req, res) => {
 *   res.setHeader("content-type", PROMETHEUS_CONTENT_TYPE);
 *   res.end(registry.toPrometheus());
 * });
 */
export function createMetricsRegistry(): MetricsRegistry {
  const families = new Map<string, Family>();

  const family = (type: MetricType, descriptor: MetricDescriptor, buckets?: readonly number[]): Family => {
    const existing = families.get(descriptor.name);
    if (existing) {
      if (
        existing.type !== type ||
        existing.descriptor.labelNames.join(",") !== descriptor.labelNames.join(",") ||
        (buckets !== undefined && existing.bounds?.join(",") !== buckets.join(","))
      ) {
        throw new ConfigError(
          `[eventferry:metrics] metric ${descriptor.name} is already registered as a ${existing.type} with labels (${existing.descriptor.labelNames.join(", ")})`,
        );
      }
      return existing;
    }
    const problems = checkDescriptor(type, descriptor, buckets);
    if (problems.length > 0) {
      throw new ConfigError(
        `[eventferry:metrics] invalid metric ${descriptor.name}: ${problems.join("; ")}`,
        {
          problems,
        },
      );
    }
    const created: Family = {
      type,
      descriptor: { ...descriptor, labelNames: [...descriptor.labelNames] },
      ...(buckets ? { bounds: Float64Array.from(buckets) } : {}),
      series: new Map(),
    };
    families.set(descriptor.name, created);
    return created;
  };

  const seriesOf = <S>(f: Family, make: (values: readonly string[]) => S) => ({
    series(labelValues: readonly string[]): S {
      if (labelValues.length !== f.descriptor.labelNames.length) {
        throw new ConfigError(
          `[eventferry:metrics] ${f.descriptor.name} takes ${f.descriptor.labelNames.length} label values (${f.descriptor.labelNames.join(", ")}), got ${labelValues.length}`,
        );
      }
      const key = labelValues.join("\u0000");
      let s = f.series.get(key);
      if (!s) {
        s = make([...labelValues].map(String)) as ScalarSeries | BucketSeries;
        f.series.set(key, s);
      }
      return s as S;
    },
  });

  return {
    counter(descriptor): Instrument<CounterSeries> {
      const f = family("counter", descriptor);
      return seriesOf(f, (values) => new ScalarSeries(values, true));
    },
    gauge(descriptor): Instrument<GaugeSeries> {
      const f = family("gauge", descriptor);
      return seriesOf(f, (values) => new ScalarSeries(values, false));
    },
    histogram(descriptor: HistogramDescriptor): Instrument<HistogramSeries> {
      const f = family("histogram", descriptor, descriptor.buckets);
      return seriesOf(f, (values) => new BucketSeries(values, f.bounds as Float64Array));
    },
    collect() {
      return [...families.values()].map(snapshotOf);
    },
    toPrometheus() {
      return formatPrometheus([...families.values()].map(snapshotOf));
    },
    reset() {
      for (const f of families.values()) {
        for (const s of f.series.values()) {
          if (s instanceof BucketSeries) {
            s.counts.fill(0);
            s.sum = 0;
            s.count = 0;
          } else s.value = 0;
        }
      }
    },
  };
}

function checkDescriptor(type: MetricType, d: MetricDescriptor, buckets?: readonly number[]): string[] {
  const problems: string[] = [];
  if (typeof d.name !== "string" || !METRIC_NAME.test(d.name))
    problems.push("name must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  const seen = new Set<string>();
  for (const label of d.labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__"))
      problems.push(`label ${label} must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __`);
    if (type === "histogram" && label === "le") problems.push("a histogram cannot have a label named le");
    if (seen.has(label)) problems.push(`label ${label} appears twice`);
    seen.add(label);
  }
  if (type === "histogram") {
    if (!buckets || buckets.length === 0) problems.push("a histogram needs at least one bucket");
    else {
      for (let i = 0; i < buckets.length; i++) {
        const b = buckets[i] as number;
        if (!Number.isFinite(b)) problems.push("bucket bounds must be finite (+Inf is implied)");
        if (i > 0 && !(b > (buckets[i - 1] as number)))
          problems.push("bucket bounds must be strictly ascending");
      }
    }
  }
  return [...new Set(problems)];
}

function labelsOf(names: readonly string[], values: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) labels[names[i] as string] = values[i] as string;
  return labels;
}

function snapshotOf(f: Family): MetricFamilySnapshot {
  const { name, help, unit, labelNames } = f.descriptor;
  const base = { name, help, labelNames, ...(unit !== undefined ? { unit } : {}) };
  if (f.type === "histogram") {
    const bounds = f.bounds as Float64Array;
    const samples: HistogramSample[] = [];
    for (const s of f.series.values()) {
      const b = s as BucketSeries;
      const buckets: HistogramBucket[] = [];
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += b.counts[i] as number;
        buckets.push({
          le: i < bounds.length ? (bounds[i] as number) : Number.POSITIVE_INFINITY,
          count: cumulative,
        });
      }
      samples.push({ labels: labelsOf(labelNames, b.labelValues), buckets, sum: b.sum, count: b.count });
    }
    return { ...base, type: "histogram", samples };
  }
  const samples: MetricSample[] = [];
  for (const s of f.series.values()) {
    const scalar = s as ScalarSeries;
    samples.push({ labels: labelsOf(labelNames, scalar.labelValues), value: scalar.value });
  }
  return { ...base, type: f.type, samples };
}
