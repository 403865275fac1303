import { parseArgs } from "node:util";

/** How `pnpm demo:load` drives the demo. */
export interface LoadOptions {
  /** The demo's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** `steady`: `rate` requests per second for `durationMs`; `burst`: `count` requests at once. */
  readonly mode:
    | { readonly kind: "steady"; readonly rate: number; readonly durationMs: number }
    | { readonly kind: "burst"; readonly count: number };
  /** Requests in flight at most. */
  readonly concurrency: number;
  /** After the last request, how long to wait for the demo to work off its backlog. */
  readonly drainMs: number;
  /** Milliseconds between progress lines. */
  readonly intervalMs: number;
}

/** A command line `pnpm demo:load` cannot run with; the message says what to change. */
export class LoadUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LoadUsageError";
  }
}

/** Defaults of {@link LoadOptions} (but `url`). */
export const loadOptionDefaults = Object.freeze({
  rate: 100,
  durationMs: 30_000,
  concurrency: 64,
  drainMs: 30_000,
  intervalMs: 1_000,
});

/** The `--help` text. */
export const loadUsage = `Usage: pnpm demo:load [--url URL] [--rate N --duration D | --burst N] [--concurrency N] [--drain D]

Drives a running demo (start it with \`pnpm demo\`) with orders, some failed payments (half of them
over $1,000, which raise alerts), some new users and a few orders of the customer whose webhook
always fails (dead letters). Prints a progress line every second and a summary at the end.

  --url URL          the demo (default: EVENTFERRY_DEMO_URL, else http://127.0.0.1:3000)
  --rate N           steady load: N requests per second (default 100)
  --duration D       how long the steady load runs: 30s, 2m, 500ms (default 30s)
  --burst N          N requests at once (as fast as --concurrency allows) instead of a steady rate
  --concurrency N    requests in flight at most (default 64)
  --drain D          after the last request, wait up to D for the backlog to be handled (default 30s)
  -h, --help         this text

Exit code: 0 when the run completed, 1 when the demo did not answer or went away, 2 for bad arguments.`;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;

function duration(name: string, value: string): number {
  const m = DURATION.exec(value.trim());
  if (!m) throw new LoadUsageError(`--${name} must be a duration like 500ms, 30s or 2m (got "${value}")`);
  const factor = { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? "s") as "ms" | "s" | "m"];
  return Math.round(Number(m[1]) * factor);
}

function positiveInt(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new LoadUsageError(`--${name} must be an integer from 1 to ${max} (got "${value}")`);
  }
  return n;
}

/**
 * Parses the command line of `pnpm demo:load` (`argv` without `node` and the script). Returns
 * `"help"` for `--help`; throws {@link LoadUsageError} naming the bad argument.
 *
 * @example
 * parseLoadArgs(["--rate", "200", "--duration", "30s"], "http://127.0.0.1:3000");
 */
export function parseLoadArgs(argv: readonly string[], defaultUrl: string): LoadOptions | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv].filter((a) => a !== "--"),
      options: {
        url: { type: "string" },
        rate: { type: "string" },
        duration: { type: "string" },
        burst: { type: "string" },
        concurrency: { type: "string" },
        drain: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new LoadUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return "help";
  const str = (name: string) => values[name] as string | undefined;
  const url = (str("url") ?? defaultUrl).replace(/\/+$/, "");
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new LoadUsageError(`--url must be an http:// URL like http://127.0.0.1:3000 (got "${url}")`);
  }
  if (parsedUrl.protocol !== "http:" && parsedUrl.protocol !== "https:") {
    throw new LoadUsageError(`--url must be an http:// URL like http://127.0.0.1:3000 (got "${url}")`);
  }
  const burst = str("burst");
  if (burst !== undefined && (str("rate") !== undefined || str("duration") !== undefined)) {
    throw new LoadUsageError("give either --burst N or --rate N [--duration D], not both");
  }
  const mode: LoadOptions["mode"] =
    burst !== undefined
      ? { kind: "burst", count: positiveInt("burst", burst, 10_000_000) }
      : {
          kind: "steady",
          rate:
            str("rate") === undefined
              ? loadOptionDefaults.rate
              : positiveInt("rate", str("rate") as string, 100_000),
          durationMs:
            str("duration") === undefined
              ? loadOptionDefaults.durationMs
              : duration("duration", str("duration") as string),
        };
  if (mode.kind === "steady" && mode.durationMs < 1)
    throw new LoadUsageError("--duration must be more than 0");
  return {
    url,
    mode,
    concurrency:
      str("concurrency") === undefined
        ? loadOptionDefaults.concurrency
        : positiveInt("concurrency", str("concurrency") as string, 10_000),
    drainMs:
      str("drain") === undefined ? loadOptionDefaults.drainMs : duration("drain", str("drain") as string),
    intervalMs: loadOptionDefaults.intervalMs,
  };
}
