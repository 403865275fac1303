/** The metric names of `metricsPlugin()` for a prefix (default `eventferry_`). */
export interface MetricNames {
  /** Counter `{type, transport}`: events the transport accepted (direct publishes and relayed ones). */
  readonly published: string;
  /** Counter `{type, handler, transport}`: handler attempts started. */
  readonly received: string;
  /** Counter `{type, handler, transport}`: attempts that succeeded and committed. */
  readonly processed: string;
  /** Counter `{type, handler, transport}`: attempts that failed (then retried or dead-lettered). */
  readonly failed: string;
  /** Counter `{type, handler, transport}`: failures scheduled for another attempt. */
  readonly retried: string;
  /** Counter `{type, handler, transport}`: events dead-lettered (after the last attempt, or rejected on arrival). */
  readonly deadLettered: string;
  /** Histogram `{type, handler, transport}`, seconds: duration of every handler attempt. */
  readonly handlerDuration: string;
  /** Histogram `{type, handler, transport}`, seconds: from `occurredAt` to the handler's success. */
  readonly lag: string;
  /** Histogram `{operation, transport}`: events per transport publish (`publish`) and per fetched batch (`receive`). */
  readonly batchSize: string;
  /** Gauge `{status}`: inbox entries by status (`pending`, `scheduled`, `inFlight`, `completed`, `dead`). */
  readonly inboxEntries: string;
  /** Gauge, seconds: age of the oldest pending inbox entry (0 when none is pending). */
  readonly oldestPendingAge: string;
  /** Gauge `{handler, transport}`: handler attempts running (set when the gauges are read or refreshed). */
  readonly inFlight: string;
}

/**
 * The metric names for `prefix`.
 *
 * @example
 * metricNames().processed;        // "eventferry_events_processed_total"
 * metricNames("shop_").lag;       // "shop_event_lag_seconds"
 */
export function metricNames(prefix = "eventferry_"): MetricNames {
  return Object.freeze({
    published: `${prefix}events_published_total`,
    received: `${prefix}events_received_total`,
    processed: `${prefix}events_processed_total`,
    failed: `${prefix}events_failed_total`,
    retried: `${prefix}events_retried_total`,
    deadLettered: `${prefix}events_dead_lettered_total`,
    handlerDuration: `${prefix}handler_duration_seconds`,
    lag: `${prefix}event_lag_seconds`,
    batchSize: `${prefix}batch_size`,
    inboxEntries: `${prefix}inbox_entries`,
    oldestPendingAge: `${prefix}inbox_oldest_pending_age_seconds`,
    inFlight: `${prefix}handlers_in_flight`,
  });
}
