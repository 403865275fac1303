import {
  ConfigError,
  type Delivery,
  type Duration,
  type EncodedEvent,
  type EventEnvelope,
  type HandlerContext,
  type HealthReport,
  type Logger,
  type Middleware,
  type Plugin,
  type PluginContext,
  type Publisher,
  type Subscriber,
  type Subscription,
  silentLogger,
} from "@eventferry/core";
import { ageMs, durationOption } from "./internal/durations.js";
import { parseIsoMs } from "./internal/parse-iso.js";
import { buildSnapshot, formatReport } from "./internal/snapshot.js";
import { teeRecorder } from "./internal/tee-recorder.js";
import { type MetricNames, metricNames } from "./metric-names.js";
import { createMetricsRegistry, type MetricsRegistry } from "./metrics-registry.js";
import type { MetricsSnapshot } from "./metrics-snapshot.js";
import type { CounterSeries, GaugeSeries, HistogramSeries, MetricsRecorder } from "./recorder.js";

/** Defaults of {@link metricsPlugin}. */
export const metricsPluginDefaults: {
  readonly prefix: "eventferry_";
  readonly statsIntervalMs: 15000;
  /** Seconds. */
  readonly handlerDurationBuckets: readonly number[];
  /** Seconds. */
  readonly lagBuckets: readonly number[];
  readonly batchSizeBuckets: readonly number[];
} = Object.freeze({
  prefix: "eventferry_",
  statsIntervalMs: 15_000,
  handlerDurationBuckets: Object.freeze([
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
  ]),
  lagBuckets: Object.freeze([
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400,
  ]),
  batchSizeBuckets: Object.freeze([1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]),
} as const);

/** Options of {@link metricsPlugin}. */
export interface MetricsPluginOptions {
  /**
   * Where to record. A {@link MetricsRegistry} (from `createMetricsRegistry()`) is used as the
   * plugin's registry, so several ferries can share one. Any other recorder (e.g.
   * `createOtelRecorder(meter)`) receives every value too, beside the plugin's own registry that
   * `getMetrics()` and `toPrometheus()` read. @default a new registry
   */
  recorder?: MetricsRecorder;
  /** Prefix of every metric name; must match `[a-zA-Z_:][a-zA-Z0-9_:]*` (or be empty). @default "eventferry_" */
  prefix?: string;
  /**
   * How often the inbox gauges (entries by status, oldest pending age) are refreshed from the
   * store while the ferry runs; `false` refreshes them only on `refresh()` / `toPrometheus()`.
   * @default "15s"
   */
  statsInterval?: Duration | false;
  /** Bucket upper bounds, ascending (`+Inf` is implied). */
  buckets?: {
    /** Seconds. @default metricsPluginDefaults.handlerDurationBuckets */
    handlerDuration?: readonly number[];
    /** Seconds. @default metricsPluginDefaults.lagBuckets */
    lag?: readonly number[];
    /** Events. @default metricsPluginDefaults.batchSizeBuckets */
    batchSize?: readonly number[];
  };
}

/** The metrics plugin: a {@link Plugin} plus ways to read what it recorded. */
export interface MetricsPlugin extends Plugin {
  readonly name: "metrics";
  /** The registry the plugin records to (the `recorder` option when it is a registry). */
  readonly registry: MetricsRegistry;
  /** The metric names in use (with the prefix). */
  readonly names: MetricNames;
  /** Re-reads the inbox gauges from the store now (a no-op before the ferry started). */
  refresh(): Promise<void>;
  /** Totals, success rate, p50/p95/p99 of handler duration and lag, inbox depth, per handler and type. */
  getMetrics(): MetricsSnapshot;
  /** {@link MetricsPlugin.getMetrics} as a short text for logs and terminals. */
  getReport(): string;
  /** Refreshes the inbox gauges, then returns the registry's Prometheus text exposition. */
  toPrometheus(): Promise<string>;
}

interface HandlerSeries {
  readonly received: CounterSeries;
  readonly processed: CounterSeries;
  readonly failed: CounterSeries;
  readonly retried: CounterSeries;
  readonly deadLettered: CounterSeries;
  readonly duration: HistogramSeries;
  readonly lag: HistogramSeries;
  readonly flight: Flight;
}

interface Flight {
  n: number;
  readonly gauge: GaugeSeries;
}

/** What the plugin reads from the store it captures in `decorateStore` (structurally). */
interface StatsSource {
  inbox?: { stats?: () => Promise<{ oldestPendingAt?: string | undefined; pending?: number }> };
}

/** What a decorator passes through from a transport, so later plugins still see it. */
interface Transparent {
  readonly name: string;
  health(): Promise<HealthReport>;
}

function transparent(inner: object): Partial<Transparent> {
  const t = inner as Partial<Transparent>;
  return {
    ...(typeof t.name === "string" ? { name: t.name } : {}),
    ...(typeof t.health === "function"
      ? { health: () => (t.health as () => Promise<HealthReport>).call(inner) }
      : {}),
  };
}

const PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

function isRegistry(r: MetricsRecorder | undefined): r is MetricsRegistry {
  const candidate = r as Partial<MetricsRegistry> | undefined;
  return (
    typeof candidate?.collect === "function" &&
    typeof candidate.toPrometheus === "function" &&
    typeof candidate.reset === "function"
  );
}

function checkBuckets(name: string, buckets: readonly number[] | undefined, problems: string[]): void {
  if (buckets === undefined) return;
  if (!Array.isArray(buckets) || buckets.length === 0) {
    problems.push(`buckets.${name} must be a non-empty array`);
    return;
  }
  buckets.forEach((b, i) => {
    if (typeof b !== "number" || !Number.isFinite(b))
      problems.push(`buckets.${name}[${i}] must be a finite number`);
    else if (i > 0 && !(b > (buckets[i - 1] as number)))
      problems.push(`buckets.${name} must be strictly ascending`);
  });
}

/**
 * Metrics as a plugin: counters (published, received, processed, failed, retried, dead-lettered),
 * histograms (handler duration, end-to-end lag, batch sizes) and gauges (inbox entries by status,
 * oldest pending age, handlers in flight), written against the public Plugin interface only.
 * Labels are the event type, the handler name and the transport name — never event ids — so the
 * number of series stays bounded by your handlers and types.
 *
 * Use one plugin per ferry; share a registry between ferries with `recorder`.
 *
 * @example
 * const metrics = metricsPlugin();
 * const ferry = await createEventferry({ store: "memory:", transport: "memory:", plugins: [metrics] });
 * // GET /metrics
 * res.setHeader("content-type", PROMETHEUS_CONTENT_TYPE);
 * res.end(await metrics.toPrometheus());
 */
export function metricsPlugin(options: MetricsPluginOptions = {}): MetricsPlugin {
  const problems: string[] = [];
  const prefix = options.prefix ?? metricsPluginDefaults.prefix;
  if (typeof prefix !== "string" || !PREFIX.test(prefix))
    problems.push("prefix must match [a-zA-Z_:][a-zA-Z0-9_:]* or be empty");
  const recorderOption = options.recorder;
  if (
    recorderOption !== undefined &&
    (typeof recorderOption !== "object" ||
      recorderOption === null ||
      typeof recorderOption.counter !== "function" ||
      typeof recorderOption.histogram !== "function" ||
      typeof recorderOption.gauge !== "function")
  ) {
    problems.push("recorder must have counter(), histogram() and gauge()");
  }
  checkBuckets("handlerDuration", options.buckets?.handlerDuration, problems);
  checkBuckets("lag", options.buckets?.lag, problems);
  checkBuckets("batchSize", options.buckets?.batchSize, problems);
  const statsIntervalMs = durationOption(
    options.statsInterval,
    metricsPluginDefaults.statsIntervalMs,
    "statsInterval",
    problems,
  );
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:metrics] invalid options: ${problems.join("; ")}`, { problems });
  }

  let logger: Logger = silentLogger;
  let recorderFailureLogged = false;
  const recorderFailed = (error: unknown): void => {
    if (recorderFailureLogged) return;
    recorderFailureLogged = true;
    logger.error("[eventferry:metrics] the metrics recorder threw; values are being lost", { error });
  };
  const registry = isRegistry(recorderOption) ? recorderOption : createMetricsRegistry();
  const recorder =
    recorderOption && recorderOption !== registry
      ? teeRecorder(registry, recorderOption, recorderFailed)
      : registry;
  const names = metricNames(prefix);
  const perHandler = ["type", "handler", "transport"];
  const instruments = {
    published: recorder.counter({
      name: names.published,
      help: "Events the transport accepted.",
      labelNames: ["type", "transport"],
      unit: "{event}",
    }),
    received: recorder.counter({
      name: names.received,
      help: "Handler attempts started.",
      labelNames: perHandler,
      unit: "{event}",
    }),
    processed: recorder.counter({
      name: names.processed,
      help: "Handler attempts that succeeded and committed.",
      labelNames: perHandler,
      unit: "{event}",
    }),
    failed: recorder.counter({
      name: names.failed,
      help: "Handler attempts that failed (then retried or dead-lettered).",
      labelNames: perHandler,
      unit: "{event}",
    }),
    retried: recorder.counter({
      name: names.retried,
      help: "Failed attempts scheduled for another attempt.",
      labelNames: perHandler,
      unit: "{event}",
    }),
    deadLettered: recorder.counter({
      name: names.deadLettered,
      help: "Events dead-lettered: after the last attempt, or rejected on arrival (handler = consumer group).",
      labelNames: perHandler,
      unit: "{event}",
    }),
    duration: recorder.histogram({
      name: names.handlerDuration,
      help: "Duration of handler attempts (successful or not), in seconds.",
      labelNames: perHandler,
      unit: "s",
      buckets: options.buckets?.handlerDuration ?? metricsPluginDefaults.handlerDurationBuckets,
    }),
    lag: recorder.histogram({
      name: names.lag,
      help: "End-to-end lag from the event's occurredAt to its successful handling, in seconds.",
      labelNames: perHandler,
      unit: "s",
      buckets: options.buckets?.lag ?? metricsPluginDefaults.lagBuckets,
    }),
    batchSize: recorder.histogram({
      name: names.batchSize,
      help: "Events per transport publish (operation=publish) and per fetched batch (operation=receive).",
      labelNames: ["operation", "transport"],
      unit: "{event}",
      buckets: options.buckets?.batchSize ?? metricsPluginDefaults.batchSizeBuckets,
    }),
    inboxEntries: recorder.gauge({
      name: names.inboxEntries,
      help: "Inbox entries of this ferry's handlers by status.",
      labelNames: ["status"],
      unit: "{entry}",
    }),
    oldestPendingAge: recorder.gauge({
      name: names.oldestPendingAge,
      help: "Age of the oldest pending inbox entry (by occurredAt), in seconds; 0 when none is pending.",
      labelNames: [],
      unit: "s",
    }),
    inFlight: recorder.gauge({
      name: names.inFlight,
      help: "Handler attempts running now.",
      labelNames: ["handler", "transport"],
      unit: "{attempt}",
    }),
  };

  let transport = "unknown";
  let transportFixed = false;
  let context: PluginContext | undefined;
  let storeRef: StatsSource | undefined;
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> | undefined;
  let lastInbox: Readonly<Record<string, number>> | undefined;
  let lastOldestMs: number | undefined;

  // Series caches: handler → type → series. Two Map lookups per event, no string built.
  let byHandler = new Map<string, Map<string, HandlerSeries>>();
  let flights = new Map<string, Flight>();
  let publishedByType = new Map<string, CounterSeries>();
  let publishBatch: HistogramSeries | undefined;
  let receiveBatch: HistogramSeries | undefined;
  const depthByStatus = new Map<string, GaugeSeries>();
  let oldestSeries: GaugeSeries | undefined;

  const useTransport = (name: string, fixed: boolean): void => {
    if (transportFixed && !fixed) return;
    if (fixed) transportFixed = true;
    if (name === transport) return;
    transport = name;
    byHandler = new Map();
    flights = new Map();
    publishedByType = new Map();
    publishBatch = undefined;
    receiveBatch = undefined;
  };

  /** Runs a recording step; a recorder that throws is logged once and never breaks processing. */
  const safely = <A, B>(fn: (a: A, b: B) => void, a: A, b: B): void => {
    try {
      fn(a, b);
    } catch (error) {
      recorderFailed(error);
    }
  };

  const flightOf = (handler: string): Flight => {
    let f = flights.get(handler);
    if (!f) {
      f = { n: 0, gauge: instruments.inFlight.series([handler, transport]) };
      flights.set(handler, f);
    }
    return f;
  };

  const seriesOf = (handler: string, type: string): HandlerSeries => {
    let byType = byHandler.get(handler);
    if (!byType) {
      byType = new Map();
      byHandler.set(handler, byType);
    }
    let s = byType.get(type);
    if (!s) {
      const labels = [type, handler, transport];
      s = {
        received: instruments.received.series(labels),
        processed: instruments.processed.series(labels),
        failed: instruments.failed.series(labels),
        retried: instruments.retried.series(labels),
        deadLettered: instruments.deadLettered.series(labels),
        duration: instruments.duration.series(labels),
        lag: instruments.lag.series(labels),
        flight: flightOf(handler),
      };
      byType.set(type, s);
    }
    return s;
  };

  const countPublished = (events: readonly EncodedEvent[], failed?: ReadonlySet<string>): void => {
    let lastType: string | undefined;
    let lastSeries: CounterSeries | undefined;
    let run = 0;
    let accepted = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as EncodedEvent;
      if (failed?.has(e.id)) continue;
      accepted++;
      const type = e.type || "unknown";
      if (type !== lastType) {
        if (lastSeries && run > 0) lastSeries.inc(run);
        lastType = type;
        lastSeries = publishedByType.get(type);
        if (!lastSeries) {
          lastSeries = instruments.published.series([type, transport]);
          publishedByType.set(type, lastSeries);
        }
        run = 0;
      }
      run++;
    }
    if (lastSeries && run > 0) lastSeries.inc(run);
    if (accepted > 0) {
      publishBatch ??= instruments.batchSize.series(["publish", transport]);
      publishBatch.observe(accepted);
    }
  };

  async function refreshNow(): Promise<void> {
    syncFlights();
    const ctx = context;
    if (!ctx) return;
    const stats = await ctx.inboxStats();
    const counts: Record<string, number> = {};
    for (const [status, value] of Object.entries(stats)) {
      if (status === "oldestPendingAgeMs" || typeof value !== "number") continue;
      counts[status] = value;
      let g = depthByStatus.get(status);
      if (!g) {
        g = instruments.inboxEntries.series([status]);
        depthByStatus.set(status, g);
      }
      g.set(value);
    }
    lastInbox = counts;
    let oldestMs: number | undefined;
    if (typeof stats.oldestPendingAgeMs === "number") oldestMs = stats.oldestPendingAgeMs;
    else if (typeof storeRef?.inbox?.stats === "function") {
      // PluginContext.inboxStats() keeps numbers only; the store's own stats carry oldestPendingAt
      // (read across the whole store, every consumer group).
      const all = await storeRef.inbox.stats();
      oldestMs =
        ageMs(all.oldestPendingAt, Date.now()) ?? (all.oldestPendingAt === undefined ? 0 : undefined);
    }
    lastOldestMs = oldestMs;
    if (oldestMs !== undefined) {
      oldestSeries ??= instruments.oldestPendingAge.series([]);
      oldestSeries.set(oldestMs / 1000);
    }
  }

  function refresh(): Promise<void> {
    refreshing ??= refreshNow().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  // In-flight counts are plain numbers on the hot path; the gauges are set from them when read
  // (refresh, getMetrics, toPrometheus), so a handler run costs no gauge write.
  const syncFlights = (): void => {
    try {
      for (const f of flights.values()) f.gauge.set(f.n);
    } catch (error) {
      recorderFailed(error);
    }
  };

  const middleware: Middleware = (next) =>
    async function metered(event: EventEnvelope, ctx: HandlerContext): Promise<void> {
      let s: HandlerSeries | undefined;
      try {
        s = seriesOf(ctx.handlerName, event.type);
        s.flight.n++;
      } catch (error) {
        recorderFailed(error);
      }
      const started = performance.now();
      try {
        await next(event, ctx);
      } finally {
        if (s) {
          s.flight.n--;
          try {
            s.duration.observe((performance.now() - started) / 1000);
          } catch (error) {
            recorderFailed(error);
          }
        }
      }
    };

  const plugin: MetricsPlugin = {
    name: "metrics",
    registry,
    names,
    middleware: [middleware],

    setup(ctx) {
      if (context && context !== ctx) {
        ctx.logger.warn(
          "[eventferry:metrics] this metricsPlugin() is set up by a second ferry; create one plugin per ferry and share a registry through `recorder`",
        );
      }
      context = ctx;
      logger = ctx.logger;
      useTransport(ctx.transportName, true);
    },

    decoratePublisher(publisher: Publisher): Publisher {
      const own = (publisher as { name?: unknown }).name;
      if (typeof own === "string" && own.length > 0) useTransport(own, false);
      const decorated: Publisher & Partial<Transparent> = {
        ...transparent(publisher),
        async publish(topic, events, publishOptions) {
          try {
            await publisher.publish(topic, events, publishOptions);
          } catch (error) {
            const failedIds = (error as { failedIds?: unknown } | undefined)?.failedIds;
            if (Array.isArray(failedIds) && failedIds.length > 0 && failedIds.length < events.length) {
              safely(countPublished, events, new Set(failedIds as string[]));
            }
            throw error;
          }
          safely(countPublished, events, undefined);
        },
        close: () => publisher.close(),
      };
      return decorated;
    },

    decorateSubscriber(subscriber: Subscriber): Subscriber {
      const own = (subscriber as { name?: unknown }).name;
      if (typeof own === "string" && own.length > 0) useTransport(own, false);
      const decorated: Subscriber & Partial<Transparent> = {
        ...transparent(subscriber),
        async subscribe(topic, subscribeOptions): Promise<Subscription> {
          const subscription = await subscriber.subscribe(topic, subscribeOptions);
          return {
            [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
            batches: () => observeBatches(subscription.batches()),
            ackMany: (deliveries) => subscription.ackMany(deliveries),
            close: () => subscription.close(),
          };
        },
        close: () => subscriber.close(),
      };
      return decorated;
    },

    decorateStore<S>(store: S): S {
      storeRef = store as StatsSource;
      return store;
    },

    hooks: {
      onReceive(event, info) {
        try {
          seriesOf(info.handler, event.type).received.inc();
        } catch (error) {
          recorderFailed(error);
        }
      },
      onProcessed(event, info) {
        try {
          const s = seriesOf(info.handler, event.type);
          s.processed.inc();
          const at = parseIsoMs(event.occurredAt);
          if (!Number.isNaN(at)) s.lag.observe(Math.max(0, Date.now() - at) / 1000);
        } catch (error) {
          recorderFailed(error);
        }
      },
      onRetry(event, _error, _nextAt, info) {
        try {
          const s = seriesOf(info.handler, event.type);
          s.failed.inc();
          s.retried.inc();
        } catch (error) {
          recorderFailed(error);
        }
      },
      onDeadLetter(event, _error, info) {
        try {
          const s = seriesOf(info.handler, event?.type || "unknown");
          if (info.attempt > 0) s.failed.inc();
          s.deadLettered.inc();
        } catch (error) {
          recorderFailed(error);
        }
      },
      async onStart() {
        if (statsIntervalMs !== false && !timer) {
          timer = setInterval(() => {
            refresh().catch((error: unknown) =>
              logger.debug("[eventferry:metrics] refreshing inbox gauges failed", { error }),
            );
          }, statsIntervalMs);
          timer.unref();
        }
        await refresh().catch((error: unknown) =>
          logger.debug("[eventferry:metrics] refreshing inbox gauges failed", { error }),
        );
      },
      onStop() {
        if (timer) clearInterval(timer);
        timer = undefined;
      },
    },

    refresh,

    getMetrics() {
      syncFlights();
      return buildSnapshot({
        families: registry.collect(),
        names,
        inbox: lastInbox,
        oldestPendingAgeMs: lastOldestMs,
      });
    },

    getReport() {
      return formatReport(plugin.getMetrics(), { transport, store: context?.storeName });
    },

    async toPrometheus() {
      await refresh().catch((error: unknown) =>
        logger.warn("[eventferry:metrics] refreshing inbox gauges failed; serving the last values", {
          error,
        }),
      );
      return registry.toPrometheus();
    },
  };

  async function* observeBatches(
    source: AsyncIterable<readonly Delivery[]>,
  ): AsyncGenerator<readonly Delivery[]> {
    for await (const batch of source) {
      try {
        receiveBatch ??= instruments.batchSize.series(["receive", transport]);
        receiveBatch.observe(batch.length);
      } catch (error) {
        recorderFailed(error);
      }
      yield batch;
    }
  }

  return plugin;
}
