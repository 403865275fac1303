import {
  ConfigError,
  ConnectionError,
  componentMessage,
  EventferryError,
  isEventferryError,
  redact,
  ValidationError,
} from "@eventferry/core";
import { COMPONENT } from "./internal/names.js";

/** What a PostgreSQL error means to the store. */
export type PostgresErrorKind =
  | "unique-violation"
  | "retryable"
  | "connection"
  | "config"
  | "invalid-input"
  | "other";

interface Rule {
  readonly test: (code: string) => boolean;
  readonly kind: PostgresErrorKind;
}

/** SQLSTATE → kind, first match wins. */
const rules: readonly Rule[] = [
  { test: (c) => c === "23505", kind: "unique-violation" },
  { test: (c) => c === "40001" || c === "40P01" || c === "55P03", kind: "retryable" },
  { test: (c) => c.startsWith("08") || c === "57P01" || c === "57P02" || c === "57P03", kind: "connection" },
  // The server ended the session: idle in a transaction, or a transaction, past its timeout.
  { test: (c) => c === "25P03" || c === "25P04", kind: "connection" },
  { test: (c) => c === "53300", kind: "connection" },
  {
    test: (c) => c === "3D000" || c === "28P01" || c === "28000" || c === "3F000" || c === "42501",
    kind: "config",
  },
  { test: (c) => c.startsWith("22") || c.startsWith("23"), kind: "invalid-input" },
];

/** Node socket error codes that mean the connection is gone. */
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

/** Classifies a `pg` error (SQLSTATE in `code`) or a socket error. */
export function classifyPostgresError(error: unknown): PostgresErrorKind {
  const code =
    typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "";
  if (socketCodes.has(code)) return "connection";
  for (const rule of rules) if (code !== "" && rule.test(code)) return rule.kind;
  const message = error instanceof Error ? error.message : String(error);
  if (
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|Query read timeout|timeout exceeded when trying to connect/i.test(
      message,
    )
  ) {
    return "connection";
  }
  return "other";
}

/**
 * Wraps a driver error in the matching Eventferry error, with a message prefixed
 * `[eventferry:store-postgres]` and passwords redacted: connection loss and serialization
 * failures or deadlocks are retryable; a missing database or bad credentials is a
 * `ConfigError`/`ConnectionError` that is not retryable. Eventferry errors pass through.
 *
 * @example
 * try { await pool.query(sql) } catch (e) { throw toStoreError(e, "claim") }
 */
export function toStoreError(error: unknown, operation: string): EventferryError {
  if (isEventferryError(error)) return error;
  const kind = classifyPostgresError(error);
  const code = (error as { code?: unknown })?.code;
  const detail = redact(error instanceof Error ? error.message : String(error));
  const message = componentMessage(
    COMPONENT,
    `${operation} failed: ${detail}${typeof code === "string" ? ` (${code})` : ""}`,
  );
  const details = typeof code === "string" ? { sqlstate: code } : undefined;
  switch (kind) {
    case "connection":
      return new ConnectionError(message, { cause: error, retryable: true, ...(details ? { details } : {}) });
    case "config":
      return code === "3D000" || code === "3F000"
        ? new ConfigError(message, { cause: error, ...(details ? { details } : {}) })
        : new ConnectionError(message, { cause: error, retryable: false, ...(details ? { details } : {}) });
    case "retryable":
      return new EventferryError("STORE_FAILED", message, {
        cause: error,
        retryable: true,
        ...(details ? { details } : {}),
      });
    case "invalid-input":
    case "unique-violation":
      return new ValidationError(message, { cause: error, ...(details ? { details } : {}) });
    default:
      return new EventferryError("STORE_FAILED", message, { cause: error, ...(details ? { details } : {}) });
  }
}
