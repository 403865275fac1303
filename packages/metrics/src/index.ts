// @eventferry/metrics — the public API. An explicit barrel: every export is named here.

export {
  type HealthPlugin,
  type HealthPluginOptions,
  type HealthThresholds,
  healthPlugin,
  healthPluginDefaults,
  type Threshold,
} from "./health-plugin.js";
export { histogramQuantile, mergeBuckets } from "./histogram-quantile.js";
export { type MetricNames, metricNames } from "./metric-names.js";
export {
  type MetricsPlugin,
  type MetricsPluginOptions,
  metricsPlugin,
  metricsPluginDefaults,
} from "./metrics-plugin.js";
export {
  createMetricsRegistry,
  type HistogramBucket,
  type HistogramFamilySnapshot,
  type HistogramSample,
  type MetricFamilySnapshot,
  type MetricSample,
  type MetricsRegistry,
  type MetricType,
  PROMETHEUS_CONTENT_TYPE,
  type ScalarFamilySnapshot,
} from "./metrics-registry.js";
export type { HandlerMetrics, LatencySummary, MetricsSnapshot, SizeSummary } from "./metrics-snapshot.js";
export {
  createOtelRecorder,
  type OtelAttributes,
  type OtelInstrumentOptions,
  type OtelMeterLike,
  type OtelRecorderOptions,
} from "./otel-recorder.js";
export type {
  CounterSeries,
  GaugeSeries,
  HistogramDescriptor,
  HistogramSeries,
  Instrument,
  MetricDescriptor,
  MetricsRecorder,
} from "./recorder.js";
