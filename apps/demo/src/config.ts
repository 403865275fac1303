import { ConfigError, type LogLevel } from "eventferry";
import { z } from "zod";

/** The demo's configuration, mapped from the environment by {@link loadConfig}. */
export interface DemoConfig {
  /** Store URL (`sqlite:./path.db`, `memory:`, `postgres://…`). */
  readonly store: string;
  /** Transport URL (`store:`, `memory:`, `redis://…`, `nats://…`). */
  readonly transport: string;
  readonly port: number;
  readonly host: string;
  /** When set, `/admin/*` is on and requires `Authorization: Bearer <token>`; otherwise it is 404. */
  readonly adminToken: string | undefined;
  /** Handlers running at once. */
  readonly concurrency: number;
  readonly logLevel: LogLevel;
  /** Attempts of the notification handlers before an event is dead-lettered. */
  readonly retryAttempts: number;
  /** First retry delay (exponential backoff from there), in ms. */
  readonly retryDelayMs: number;
  /** Longest retry delay (the exponential backoff is capped here), in ms. */
  readonly retryMaxDelayMs: number;
  /** Share of webhook deliveries that fail at random (0..1), to show retries. */
  readonly webhookFailureRate: number;
  /** Delay of `subscription.renewal-due` after `POST /subscriptions`, in ms. */
  readonly renewalDelayMs: number;
  /** `payment.failed` above this amount raises an alert. */
  readonly alertThreshold: number;
  /** Largest accepted request body, in bytes (larger: 413). */
  readonly bodyLimitBytes: number;
  /** How long shutdown waits for in-flight handlers, in ms. */
  readonly shutdownTimeoutMs: number;
}

/** Defaults of {@link DemoConfig} (what an empty environment gives). */
export const demoDefaults: DemoConfig = Object.freeze({
  store: "sqlite:./.eventferry/demo.db",
  transport: "store:",
  port: 3000,
  host: "127.0.0.1",
  adminToken: undefined,
  concurrency: 10,
  logLevel: "info",
  retryAttempts: 4,
  retryDelayMs: 500,
  retryMaxDelayMs: 30_000,
  webhookFailureRate: 0.3,
  renewalDelayMs: 30_000,
  alertThreshold: 1000,
  bodyLimitBytes: 64 * 1024,
  shutdownTimeoutMs: 10_000,
});

/** One environment variable the demo reads: its name, what it sets, its default. */
export interface EnvVariable {
  readonly name: string;
  readonly description: string;
  readonly default: string;
}

/** The environment variables the demo reads (the README's table is written from this list). */
export const envVariables: readonly EnvVariable[] = [
  { name: "EVENTFERRY_STORE", description: "store URL", default: demoDefaults.store },
  { name: "EVENTFERRY_TRANSPORT", description: "transport URL", default: demoDefaults.transport },
  { name: "PORT", description: "HTTP port (0: any free port)", default: String(demoDefaults.port) },
  { name: "HOST", description: "HTTP interface", default: demoDefaults.host },
  { name: "EVENTFERRY_ADMIN_TOKEN", description: "enables /admin with this bearer token", default: "(off)" },
  { name: "EVENTFERRY_CONCURRENCY", description: "handlers running at once", default: "10" },
  { name: "EVENTFERRY_LOG_LEVEL", description: "debug, info, warn, error, silent", default: "info" },
  { name: "EVENTFERRY_RETRY_ATTEMPTS", description: "attempts of notification handlers", default: "4" },
  { name: "EVENTFERRY_RETRY_DELAY", description: "first retry delay (ms or 500ms, 2s)", default: "500ms" },
  {
    name: "EVENTFERRY_RETRY_MAX_DELAY",
    description: "longest retry delay (the backoff's cap)",
    default: "30s",
  },
  { name: "EVENTFERRY_WEBHOOK_FAILURE_RATE", description: "random webhook failures, 0..1", default: "0.3" },
  { name: "EVENTFERRY_RENEWAL_DELAY", description: "delay of renewal reminders", default: "30s" },
  { name: "EVENTFERRY_ALERT_THRESHOLD", description: "payment.failed amount that alerts", default: "1000" },
  { name: "EVENTFERRY_BODY_LIMIT", description: "largest request body in bytes", default: "65536" },
  { name: "EVENTFERRY_SHUTDOWN_TIMEOUT", description: "drain time on SIGTERM", default: "10s" },
];

const DURATION_RE = /^(\d+)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const duration = z
  .string()
  .trim()
  .regex(DURATION_RE, 'must be milliseconds or a number with ms, s, m or h, like "500ms" or "30s"')
  .transform((value) => {
    const [, amount, unit] = DURATION_RE.exec(value) as RegExpExecArray;
    return Number(amount) * (UNIT_MS[unit ?? "ms"] as number);
  });

const int = (min: number, max: number) =>
  z.coerce
    .number({ error: `must be an integer from ${min} to ${max}` })
    .int(`must be an integer from ${min} to ${max}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

const url = z
  .string()
  .trim()
  .regex(/^[a-z][a-z0-9+.-]*:/i, 'must be a URL with a scheme, like "sqlite:./data.db" or "memory:"');

const envSchema = z.object({
  EVENTFERRY_STORE: url.default(demoDefaults.store),
  EVENTFERRY_TRANSPORT: url.default(demoDefaults.transport),
  PORT: int(0, 65_535).default(demoDefaults.port),
  HOST: z.string().trim().min(1).default(demoDefaults.host),
  EVENTFERRY_ADMIN_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters (or unset, which turns /admin off)")
    .optional(),
  EVENTFERRY_CONCURRENCY: int(1, 1000).default(demoDefaults.concurrency),
  EVENTFERRY_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  EVENTFERRY_RETRY_ATTEMPTS: int(1, 100).default(demoDefaults.retryAttempts),
  EVENTFERRY_RETRY_DELAY: duration.default(demoDefaults.retryDelayMs),
  EVENTFERRY_RETRY_MAX_DELAY: duration.default(demoDefaults.retryMaxDelayMs),
  EVENTFERRY_WEBHOOK_FAILURE_RATE: z.coerce.number().min(0).max(1).default(demoDefaults.webhookFailureRate),
  EVENTFERRY_RENEWAL_DELAY: duration.default(demoDefaults.renewalDelayMs),
  EVENTFERRY_ALERT_THRESHOLD: z.coerce.number().positive().default(demoDefaults.alertThreshold),
  EVENTFERRY_BODY_LIMIT: int(256, 16 * 1024 * 1024).default(demoDefaults.bodyLimitBytes),
  EVENTFERRY_SHUTDOWN_TIMEOUT: duration.default(demoDefaults.shutdownTimeoutMs),
});

/**
 * Reads the demo's configuration from an environment (the only place the demo reads `process.env`).
 * Empty variables count as unset. Throws one `ConfigError` listing every invalid variable.
 *
 * @example
 * const config = loadConfig(process.env);
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): DemoConfig {
  const present: Record<string, string> = {};
  for (const { name } of envVariables) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") present[name] = value;
  }
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`[demo] invalid environment: ${problems.join("; ")}`, { problems });
  }
  const e = parsed.data;
  return {
    store: e.EVENTFERRY_STORE,
    transport: e.EVENTFERRY_TRANSPORT,
    port: e.PORT,
    host: e.HOST,
    adminToken: e.EVENTFERRY_ADMIN_TOKEN,
    concurrency: e.EVENTFERRY_CONCURRENCY,
    logLevel: e.EVENTFERRY_LOG_LEVEL,
    retryAttempts: e.EVENTFERRY_RETRY_ATTEMPTS,
    retryDelayMs: e.EVENTFERRY_RETRY_DELAY,
    retryMaxDelayMs: e.EVENTFERRY_RETRY_MAX_DELAY,
    webhookFailureRate: e.EVENTFERRY_WEBHOOK_FAILURE_RATE,
    renewalDelayMs: e.EVENTFERRY_RENEWAL_DELAY,
    alertThreshold: e.EVENTFERRY_ALERT_THRESHOLD,
    bodyLimitBytes: e.EVENTFERRY_BODY_LIMIT,
    shutdownTimeoutMs: e.EVENTFERRY_SHUTDOWN_TIMEOUT,
  };
}

/** Where `pnpm demo:load` sends its requests when `--url` is not given. */
export const loadDefaultUrl = "http://127.0.0.1:3000";

/**
 * The environment of `pnpm demo:load`: `EVENTFERRY_DEMO_URL`, the demo to drive (else
 * {@link loadDefaultUrl}). `--url` on the command line wins over it.
 *
 * @example
 * loadToolEnv(process.env).url // "http://127.0.0.1:3000"
 */
export function loadToolEnv(env: Readonly<Record<string, string | undefined>>): { url: string } {
  const url = env.EVENTFERRY_DEMO_URL?.trim();
  return { url: url ? url : loadDefaultUrl };
}
