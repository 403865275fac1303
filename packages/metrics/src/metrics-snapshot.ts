/** Percentiles estimated from a histogram's buckets (linear interpolation, like PromQL). */
export interface LatencySummary {
  /** Observations. */
  readonly count: number;
  /** Exact mean (sum ÷ count), milliseconds; `undefined` without observations. */
  readonly meanMs: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** Figures of one (handler, event type, transport). */
export interface HandlerMetrics {
  readonly handler: string;
  readonly type: string;
  readonly transport: string;
  readonly received: number;
  readonly processed: number;
  readonly failed: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** processed ÷ (processed + failed) attempts; `undefined` before any outcome. */
  readonly successRate: number | undefined;
  readonly duration: LatencySummary;
  readonly lag: LatencySummary;
}

/** What `getMetrics()` returns: a point-in-time summary of the plugin's registry. */
export interface MetricsSnapshot {
  /** When the snapshot was taken, ISO-8601. */
  readonly at: string;
  readonly published: number;
  readonly received: number;
  readonly processed: number;
  readonly failed: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** processed ÷ (processed + failed) attempts; `undefined` before any outcome. */
  readonly successRate: number | undefined;
  /** Handler attempts running now. */
  readonly inFlight: number;
  /** Every handler attempt (successful or not). */
  readonly duration: LatencySummary;
  /** occurredAt → successful handling. */
  readonly lag: LatencySummary;
  /** Events per transport publish and per fetched batch. */
  readonly batchSize: { readonly publish: SizeSummary; readonly receive: SizeSummary };
  /** Inbox entries by status at the last refresh (`undefined` before the first). */
  readonly inbox: Readonly<Record<string, number>> | undefined;
  /** Age of the oldest pending inbox entry at the last refresh, when the store reports it. */
  readonly oldestPendingAgeMs: number | undefined;
  /** Per (handler, type, transport), sorted by handler then type. */
  readonly handlers: readonly HandlerMetrics[];
}

/** Batch sizes: count of batches, mean and median size. */
export interface SizeSummary {
  readonly batches: number;
  readonly mean: number | undefined;
  readonly p50: number | undefined;
}
