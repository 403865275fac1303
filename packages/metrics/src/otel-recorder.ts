import type {
  CounterSeries,
  GaugeSeries,
  HistogramDescriptor,
  HistogramSeries,
  Instrument,
  MetricDescriptor,
  MetricsRecorder,
} from "./recorder.js";

/** Attributes as the recorder passes them: one frozen object per series, made once. */
export type OtelAttributes = Readonly<Record<string, string>>;

/** Instrument options as OpenTelemetry's `MetricOptions` takes them. */
export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api` ≥ 1.9) the bridge uses, typed
 * structurally so this package never imports `@opentelemetry/api`: pass
 * `metrics.getMeter("eventferry")` or `meterProvider.getMeter(…)`.
 */
export interface OtelMeterLike {
  createCounter(
    name: string,
    options?: OtelInstrumentOptions,
  ): { add(value: number, attributes?: OtelAttributes): void };
  createHistogram(
    name: string,
    options?: OtelInstrumentOptions,
  ): { record(value: number, attributes?: OtelAttributes): void };
  createGauge(
    name: string,
    options?: OtelInstrumentOptions,
  ): { record(value: number, attributes?: OtelAttributes): void };
}

/** Options of {@link createOtelRecorder}. */
export interface OtelRecorderOptions {
  /**
   * Maps a metric's Prometheus-style name to the OpenTelemetry instrument name.
   * @default drops a counter's `_total` suffix (OpenTelemetry's Prometheus exporter adds it back)
   */
  instrumentName?: (descriptor: MetricDescriptor, kind: "counter" | "histogram" | "gauge") => string;
}

const defaultName = (d: MetricDescriptor, kind: "counter" | "histogram" | "gauge"): string =>
  kind === "counter" && d.name.endsWith("_total") ? d.name.slice(0, -"_total".length) : d.name;

function attributesOf(d: MetricDescriptor, values: readonly string[]): OtelAttributes {
  const attributes: Record<string, string> = {};
  for (let i = 0; i < d.labelNames.length; i++) attributes[d.labelNames[i] as string] = String(values[i]);
  return Object.freeze(attributes);
}

function options(d: MetricDescriptor, buckets?: readonly number[]): OtelInstrumentOptions {
  return {
    description: d.help,
    ...(d.unit !== undefined ? { unit: d.unit } : {}),
    ...(buckets ? { advice: { explicitBucketBoundaries: [...buckets] } } : {}),
  };
}

/**
 * A {@link MetricsRecorder} that forwards to an OpenTelemetry `Meter`: counters to `Counter.add`,
 * histograms to `Histogram.record` (with the plugin's bucket bounds as
 * `advice.explicitBucketBoundaries`), gauges to the synchronous `Gauge.record`. Labels become
 * attributes; each series' attribute object is built once. `@opentelemetry/api` stays an optional
 * peer: this function only calls the meter you pass.
 *
 * @example
 * import { metrics } from "@opentelemetry/api";
 * const plugin = metricsPlugin({ recorder: createOtelRecorder(metrics.getMeter("eventferry")) });
 */
export function createOtelRecorder(
  meter: OtelMeterLike,
  recorderOptions: OtelRecorderOptions = {},
): MetricsRecorder {
  const nameOf = recorderOptions.instrumentName ?? defaultName;
  const cache = new Map<string, Instrument<unknown>>();
  const once = <S>(
    kind: "counter" | "histogram" | "gauge",
    d: MetricDescriptor,
    make: () => Instrument<S>,
  ) => {
    const key = `${kind}:${d.name}`;
    let instrument = cache.get(key) as Instrument<S> | undefined;
    if (!instrument) {
      instrument = make();
      cache.set(key, instrument as Instrument<unknown>);
    }
    return instrument;
  };
  return {
    counter(d: MetricDescriptor): Instrument<CounterSeries> {
      return once("counter", d, () => {
        const counter = meter.createCounter(nameOf(d, "counter"), options(d));
        return {
          series(values) {
            const attributes = attributesOf(d, values);
            return { inc: (value = 1) => counter.add(value, attributes) };
          },
        };
      });
    },
    histogram(d: HistogramDescriptor): Instrument<HistogramSeries> {
      return once("histogram", d, () => {
        const histogram = meter.createHistogram(nameOf(d, "histogram"), options(d, d.buckets));
        return {
          series(values) {
            const attributes = attributesOf(d, values);
            return { observe: (value) => histogram.record(value, attributes) };
          },
        };
      });
    },
    gauge(d: MetricDescriptor): Instrument<GaugeSeries> {
      return once("gauge", d, () => {
        const gauge = meter.createGauge(nameOf(d, "gauge"), options(d));
        return {
          series(values) {
            const attributes = attributesOf(d, values);
            return { set: (value) => gauge.record(value, attributes) };
          },
        };
      });
    },
  };
}
