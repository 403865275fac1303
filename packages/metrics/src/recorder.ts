/**
 * The tiny recorder interface the metrics plugin writes to. The built-in {@link MetricsRegistry}
 * implements it (and reads back: snapshots, Prometheus text); {@link createOtelRecorder} forwards
 * to an OpenTelemetry `Meter`. Implement it to send the figures anywhere else.
 *
 * Instruments hand out one {@link CounterSeries} / {@link HistogramSeries} / {@link GaugeSeries}
 * per combination of label values; callers keep the series, so recording a value allocates
 * nothing and looks nothing up.
 */

/** What describes a metric family. Names follow Prometheus rules: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export interface MetricDescriptor {
  /** Full name, prefix included, e.g. `eventferry_events_processed_total`. */
  readonly name: string;
  /** One line of help text. */
  readonly help: string;
  /** Label names, in the order `series()` takes their values. */
  readonly labelNames: readonly string[];
  /** Unit, for recorders that keep one (OpenTelemetry): `s`, `1`, `{event}`. */
  readonly unit?: string | undefined;
}

/** A histogram's descriptor: its bucket upper bounds, ascending (`+Inf` is implied). */
export interface HistogramDescriptor extends MetricDescriptor {
  readonly buckets: readonly number[];
}

/** One counter series (one combination of label values). */
export interface CounterSeries {
  /** Adds `value` (≥ 0). @default 1 */
  inc(value?: number): void;
}

/** One histogram series. */
export interface HistogramSeries {
  observe(value: number): void;
}

/** One gauge series. */
export interface GaugeSeries {
  set(value: number): void;
}

/** A metric family; `series(labelValues)` is called once per combination and the result kept. */
export interface Instrument<S> {
  /** The series of these label values, in {@link MetricDescriptor.labelNames} order. */
  series(labelValues: readonly string[]): S;
}

/**
 * Where the metrics plugin records. Asking twice for the same name with the same label names
 * returns the same family.
 *
 * @example
 * const recorder: MetricsRecorder = {
 *   counter: (d) => ({ series: (labels) => ({ inc: (n = 1) => statsd.increment(d.name, n, labels) }) }),
 *   histogram: (d) => ({ series: (labels) => ({ observe: (v) => statsd.histogram(d.name, v, labels) }) }),
 *   gauge: (d) => ({ series: (labels) => ({ set: (v) => statsd.gauge(d.name, v, labels) }) }),
 * };
 */
export interface MetricsRecorder {
  counter(descriptor: MetricDescriptor): Instrument<CounterSeries>;
  histogram(descriptor: HistogramDescriptor): Instrument<HistogramSeries>;
  gauge(descriptor: MetricDescriptor): Instrument<GaugeSeries>;
}
