import {
  ConfigError,
  type Duration,
  type HealthReport,
  type HealthStatus,
  type Logger,
  type Plugin,
  type PluginContext,
  type Publisher,
  type Subscriber,
  silentLogger,
  worstStatus,
} from "@eventferry/core";
import { durabilityWarnings } from "./internal/durability.js";
import { ageMs, durationOption } from "./internal/durations.js";
import { parseIsoMs } from "./internal/parse-iso.js";

/** A threshold pair: at or above `degraded` the check is degraded, at or above `unhealthy` unhealthy. */
export interface Threshold<T = number> {
  degraded?: T;
  unhealthy?: T;
}

/**
 * Thresholds of {@link healthPlugin}. An absent bound is not checked; a threshold you give
 * replaces its default entirely (`backlog: {}` turns the backlog check off).
 */
export interface HealthThresholds {
  /**
   * Inbox entries due and waiting (`pending − scheduled`) for this ferry's handlers.
   * @default { degraded: 10_000 }
   */
  backlog?: Threshold;
  /**
   * Age of the oldest pending inbox entry (by `occurredAt`; delayed events count too, so set it
   * above your longest delay). Read from the store's own stats. @default not checked
   */
  oldestPendingAge?: Threshold<Duration>;
  /**
   * Largest lag seen in the last interval from an event's due time (`deliverAt`, else
   * `occurredAt`) to its successful handling. @default not checked
   */
  lag?: Threshold<Duration>;
  /** Dead letters of this ferry's handlers. @default not checked */
  deadLetters?: Threshold;
  /**
   * Failed ÷ (processed + failed) handler attempts in the last interval, 0…1, judged once at least
   * `minAttempts` attempts ended. @default { degraded: 0.5, minAttempts: 20 }
   */
  failureRate?: Threshold & { minAttempts?: number };
}

/** Options of {@link healthPlugin}. */
export interface HealthPluginOptions {
  /**
   * While the ferry runs, the plugin evaluates every `interval` in the background (logging status
   * changes) and the ferry's `health()` answers from that result; before start and after stop it
   * evaluates on demand. @default "10s"
   */
  interval?: Duration;
  /** Bound of each read the plugin makes (inbox stats, the store's and transport's reports). @default "2s" */
  timeout?: Duration;
  thresholds?: HealthThresholds;
  /**
   * What a durability setting that loses acknowledged data (Redis without AOF, PostgreSQL with
   * `fsync` off, SQLite `synchronous=OFF`) does: `"degraded"` reports it (and logs it once),
   * `"log"` only logs it once, `"off"` does not look. @default "degraded"
   */
  durability?: "degraded" | "log" | "off";
}

/** Defaults of {@link healthPlugin}. */
export const healthPluginDefaults: {
  readonly intervalMs: 10000;
  readonly timeoutMs: 2000;
  readonly backlogDegraded: 10000;
  readonly failureRateDegraded: 0.5;
  readonly failureRateMinAttempts: 20;
  readonly durability: "degraded";
} = Object.freeze({
  intervalMs: 10_000,
  timeoutMs: 2_000,
  backlogDegraded: 10_000,
  failureRateDegraded: 0.5,
  failureRateMinAttempts: 20,
  durability: "degraded",
} as const);

/** The health plugin: a {@link Plugin} plus direct access to its evaluation. */
export interface HealthPlugin extends Plugin {
  readonly name: "health";
  /** Evaluates now (bounded by `timeout`) and returns the report; the ferry's `health()` includes it. */
  check(): Promise<HealthReport>;
  /** The last report, if one was made. */
  readonly lastReport: HealthReport | undefined;
}

interface HealthSource {
  health(): Promise<HealthReport>;
}
interface StoreStatsSource {
  inbox?: { stats?: () => Promise<{ oldestPendingAt?: string | undefined }> };
}

const COMPONENT = "health";

function hasHealth(x: unknown): x is HealthSource {
  return typeof (x as { health?: unknown } | null)?.health === "function";
}

function within<T>(work: () => Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    Promise.resolve().then(work),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Health as a plugin. The ferry's `health()` already reports the store's and the transport's own
 * checks; this plugin adds one check, `health`, that judges what those do not: the inbox backlog
 * and dead letters, the age of the oldest pending entry, the handling lag and failure rate of the
 * last interval (against `thresholds`), and durability settings of the store and transport that
 * lose acknowledged data (read from their reports' `details`). Each read is bounded by `timeout`.
 *
 * Put it first in `plugins`: it reads the transport's report through `decoratePublisher`, which
 * sees the transport itself only when no earlier plugin wrapped it.
 *
 * @example
 * const ferry = await createEventferry({
 *   plugins: [healthPlugin({ interval: "15s", thresholds: { backlog: { degraded: 5_000, unhealthy: 50_000 }, lag: { degraded: "30s" } } })],
 * });
 * const report = await ferry.health(); // { status: "degraded", reasons: ["health: backlog 7200 ≥ 5000"], … }
 */
export function healthPlugin(options: HealthPluginOptions = {}): HealthPlugin {
  const problems: string[] = [];
  const intervalMs = durationOption(
    options.interval,
    healthPluginDefaults.intervalMs,
    "interval",
    problems,
  ) as number;
  const timeoutMs = durationOption(
    options.timeout,
    healthPluginDefaults.timeoutMs,
    "timeout",
    problems,
  ) as number;
  const t = options.thresholds ?? {};
  const count = (name: string, th: Threshold | undefined): Threshold => {
    const out: Threshold = {};
    for (const level of ["degraded", "unhealthy"] as const) {
      const v = th?.[level];
      if (v === undefined) continue;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
        problems.push(`thresholds.${name}.${level} must be a non-negative number`);
      else out[level] = v;
    }
    return out;
  };
  const duration = (name: string, th: Threshold<Duration> | undefined): Threshold => {
    const out: Threshold = {};
    for (const level of ["degraded", "unhealthy"] as const) {
      const v = th?.[level];
      if (v === undefined) continue;
      const ms = durationOption(v, 0, `thresholds.${name}.${level}`, problems);
      if (ms !== false) out[level] = ms;
    }
    return out;
  };
  const backlog = count("backlog", t.backlog ?? { degraded: healthPluginDefaults.backlogDegraded });
  const deadLetters = count("deadLetters", t.deadLetters);
  const oldest = duration("oldestPendingAge", t.oldestPendingAge);
  const lag = duration("lag", t.lag);
  const failureRate = count(
    "failureRate",
    t.failureRate ?? { degraded: healthPluginDefaults.failureRateDegraded },
  );
  for (const level of ["degraded", "unhealthy"] as const) {
    const v = failureRate[level];
    if (v !== undefined && v > 1) problems.push(`thresholds.failureRate.${level} must be within 0…1`);
  }
  const minAttempts = t.failureRate?.minAttempts ?? healthPluginDefaults.failureRateMinAttempts;
  if (!Number.isInteger(minAttempts) || minAttempts < 1)
    problems.push("thresholds.failureRate.minAttempts must be a positive integer");
  const durability = options.durability ?? healthPluginDefaults.durability;
  if (!["degraded", "log", "off"].includes(durability))
    problems.push('durability must be "degraded", "log" or "off"');
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:health] invalid options: ${problems.join("; ")}`, { problems });
  }

  let context: PluginContext | undefined;
  let logger: Logger = silentLogger;
  let storeRef: unknown;
  let transportRef: HealthSource | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let evaluating: Promise<HealthReport> | undefined;
  let last: { report: HealthReport; at: number } | undefined;
  const loggedDurability = new Set<string>();
  // The current window (since the last evaluation).
  let windowProcessed = 0;
  let windowFailed = 0;
  let windowMaxLagMs = 0;

  const judge = (
    value: number,
    th: Threshold,
    describe: (bound: number) => string,
    out: { statuses: HealthStatus[]; reasons: string[] },
  ): void => {
    if (th.unhealthy !== undefined && value >= th.unhealthy) {
      out.statuses.push("unhealthy");
      out.reasons.push(describe(th.unhealthy));
    } else if (th.degraded !== undefined && value >= th.degraded) {
      out.statuses.push("degraded");
      out.reasons.push(describe(th.degraded));
    }
  };

  async function evaluateNow(): Promise<HealthReport> {
    const started = performance.now();
    const out = { statuses: [] as HealthStatus[], reasons: [] as string[] };
    const details: Record<string, unknown> = {};
    const processed = windowProcessed;
    const failed = windowFailed;
    const maxLagMs = windowMaxLagMs;
    windowProcessed = 0;
    windowFailed = 0;
    windowMaxLagMs = 0;

    const ctx = context;
    const reads: Promise<void>[] = [];
    const needOldest = oldest.degraded !== undefined || oldest.unhealthy !== undefined;
    const statsSource = storeRef as StoreStatsSource | undefined;
    const judgeOldest = (age: number) => {
      details.oldestPendingAgeMs = age;
      judge(age, oldest, (b) => `oldest pending entry is ${fmtMs(age)} old ≥ ${fmtMs(b)}`, out);
    };
    if (ctx) {
      reads.push(
        within(() => ctx.inboxStats(), timeoutMs, "inbox stats").then(
          async (stats) => {
            const pending = stats.pending ?? 0;
            const due = Math.max(0, pending - (stats.scheduled ?? 0));
            details.inbox = stats;
            details.backlog = due;
            judge(due, backlog, (b) => `backlog ${due} ≥ ${b} entries due and waiting`, out);
            if (stats.dead !== undefined) {
              const dead = stats.dead;
              judge(dead, deadLetters, (b) => `${dead} dead letters ≥ ${b}`, out);
            }
            if (typeof stats.oldestPendingAgeMs === "number") judgeOldest(stats.oldestPendingAgeMs);
            else if (needOldest && typeof statsSource?.inbox?.stats === "function") {
              // PluginContext.inboxStats() keeps numbers only; the store's own stats carry
              // oldestPendingAt (a whole-store figure: every consumer group).
              const inbox = statsSource.inbox;
              try {
                const s = await within(
                  () => (inbox.stats as () => Promise<{ oldestPendingAt?: string }>).call(inbox),
                  timeoutMs,
                  "store inbox stats",
                );
                judgeOldest(ageMs(s.oldestPendingAt, Date.now()) ?? 0);
              } catch (error) {
                out.statuses.push("degraded");
                out.reasons.push(`store inbox stats: ${messageOf(error)}`);
              }
            }
          },
          (error: unknown) => {
            out.statuses.push("degraded");
            out.reasons.push(`inbox stats: ${messageOf(error)}`);
          },
        ),
      );
    }
    if (durability !== "off") {
      const sources: Array<[string, HealthSource | undefined]> = [
        ["store", hasHealth(storeRef) ? storeRef : undefined],
        ["transport", transportRef],
      ];
      const found: Record<string, string[]> = {};
      for (const [part, source] of sources) {
        if (!source) continue;
        reads.push(
          within(() => source.health(), timeoutMs, `${part} health`).then(
            (report) => {
              const warnings = durabilityWarnings(report);
              if (warnings.length === 0) return;
              const name = report.component || part;
              found[name] = warnings;
              for (const w of warnings) {
                const key = `${name}: ${w}`;
                if (!loggedDurability.has(key)) {
                  loggedDurability.add(key);
                  logger.warn(`[eventferry:health] ${key}`);
                }
                if (durability === "degraded") {
                  out.statuses.push("degraded");
                  out.reasons.push(key);
                }
              }
            },
            // The ferry's own store/transport checks report failures; here only durability matters.
            () => {},
          ),
        );
      }
      details.durability = found;
    }
    await Promise.all(reads);

    const attempts = processed + failed;
    details.window = { processed, failed, maxLagMs: Math.round(maxLagMs) };
    if (attempts >= minAttempts) {
      const r = failed / attempts;
      judge(
        r,
        failureRate,
        (b) => `failure rate ${(r * 100).toFixed(1)} % ≥ ${(b * 100).toFixed(1)} % of ${attempts} attempts`,
        out,
      );
    }
    if (processed > 0)
      judge(maxLagMs, lag, (b) => `handling lag reached ${fmtMs(maxLagMs)} ≥ ${fmtMs(b)}`, out);

    const report: HealthReport = {
      status: worstStatus(out.statuses),
      component: COMPONENT,
      reasons: out.reasons,
      latencyMs: Math.round((performance.now() - started) * 100) / 100,
      details: { ...details, checkedAt: new Date().toISOString() },
    };
    if (last && last.report.status !== report.status) {
      const log = report.status === "healthy" ? logger.info : logger.warn;
      log.call(logger, `[eventferry:health] ${last.report.status} → ${report.status}`, {
        reasons: report.reasons,
      });
    }
    last = { report, at: Date.now() };
    return report;
  }

  function evaluate(): Promise<HealthReport> {
    evaluating ??= evaluateNow().finally(() => {
      evaluating = undefined;
    });
    return evaluating;
  }

  const plugin: HealthPlugin = {
    name: "health",
    setup(ctx) {
      context = ctx;
      logger = ctx.logger;
      ctx.addHealthCheck(COMPONENT, () => {
        if (running && last && Date.now() - last.at < intervalMs) return Promise.resolve(last.report);
        return evaluate();
      });
    },
    decoratePublisher(publisher: Publisher): Publisher {
      if (hasHealth(publisher)) transportRef = publisher;
      return publisher;
    },
    decorateSubscriber(subscriber: Subscriber): Subscriber {
      if (!transportRef && hasHealth(subscriber)) transportRef = subscriber;
      return subscriber;
    },
    decorateStore<S>(store: S): S {
      storeRef = store;
      return store;
    },
    hooks: {
      onProcessed(event) {
        windowProcessed++;
        const due = parseIsoMs(event.deliverAt ?? event.occurredAt);
        if (!Number.isNaN(due)) {
          const lagMs = Date.now() - due;
          if (lagMs > windowMaxLagMs) windowMaxLagMs = lagMs;
        }
      },
      onRetry() {
        windowFailed++;
      },
      onDeadLetter(_event, _error, info) {
        if (info.attempt > 0) windowFailed++;
      },
      async onStart() {
        running = true;
        if (!timer) {
          timer = setInterval(() => {
            evaluate().catch((error: unknown) =>
              logger.warn("[eventferry:health] evaluation failed", { error }),
            );
          }, intervalMs);
          timer.unref();
        }
        await evaluate();
      },
      onStop() {
        running = false;
        if (timer) clearInterval(timer);
        timer = undefined;
      },
    },
    check: evaluate,
    get lastReport() {
      return last?.report;
    },
  };
  return plugin;
}

function fmtMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
