import type { Logger } from "./contracts/handler.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/**
 * A {@link Logger} that writes to `console` at or above `level`, one line per message with its
 * fields as JSON.
 *
 * @default level "warn"
 * @example
 * createEventferry({ store: "memory:", transport: "memory:", logger: createConsoleLogger("info") })
 */
export function createConsoleLogger(level: LogLevel = "warn", prefix = "eventferry"): Logger {
  const min = order[level];
  const write =
    (l: Exclude<LogLevel, "silent">, sink: (line: string) => void) =>
    (message: string, fields?: Record<string, unknown>) => {
      if (order[l] < min) return;
      sink(`[${prefix}] ${l} ${message}${fields ? ` ${safeJson(fields)}` : ""}`);
    };
  return {
    debug: write("debug", (s) => console.debug(s)),
    info: write("info", (s) => console.info(s)),
    warn: write("warn", (s) => console.warn(s)),
    error: write("error", (s) => console.error(s)),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function safeJson(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields, (_k, v) =>
      v instanceof Error ? { name: v.name, message: v.message } : typeof v === "bigint" ? String(v) : v,
    );
  } catch {
    return "[unserializable fields]";
  }
}
