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

/** What a Redis (or ioredis) error means to the transport. */
export type RedisErrorKind =
  /** The connection is gone or could not be made (socket errors, `Connection is closed.`, retries exhausted, timeouts). */
  | "connection"
  /** The server is not ready for writes: `LOADING`, `READONLY` (a replica after failover), `MASTERDOWN`, `TRYAGAIN`, `CLUSTERDOWN`, `BUSY`. */
  | "unavailable"
  /** Bad credentials or missing permissions: `WRONGPASS`, `NOAUTH`, `NOPERM`. */
  | "auth"
  /** The consumer group or its stream does not exist (e.g. after a restart without persistence). */
  | "no-group"
  /** The consumer group already exists (`XGROUP CREATE` of an existing group). */
  | "group-exists"
  /** The server is out of memory (`OOM`, `maxmemory` reached with `noeviction`). */
  | "out-of-memory"
  /** The key holds another type (`WRONGTYPE`) or the command was refused as invalid. */
  | "invalid-input"
  | "other";

/** Node socket error codes that mean the connection is gone. */
const socketCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

interface Rule {
  readonly test: RegExp;
  readonly kind: RedisErrorKind;
}

/** Reply-error prefixes and ioredis messages → kind; first match wins. */
const rules: readonly Rule[] = [
  { test: /\bNOGROUP\b|^UNBLOCKED the (?:stream key|consumer group)/, kind: "no-group" },
  { test: /^BUSYGROUP\b|\bBUSYGROUP\b/, kind: "group-exists" },
  { test: /\b(?:WRONGPASS|NOAUTH|NOPERM)\b|invalid password|without any password configured/i, kind: "auth" },
  { test: /^(?:LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|BUSY)\b/, kind: "unavailable" },
  { test: /^OOM\b/, kind: "out-of-memory" },
  {
    test: /Connection is closed|Reached the max retries per request|Command timed out|Stream isn't writeable|None of startup nodes is available|Failed to refresh slots cache|connect ETIMEDOUT|Socket closed unexpectedly|read ECONNRESET/i,
    kind: "connection",
  },
  { test: /^WRONGTYPE\b|^ERR Invalid stream ID|^ERR The ID specified in XADD/, kind: "invalid-input" },
];

/**
 * Classifies an error of ioredis or of the Redis server.
 *
 * @example
 * classifyRedisError(new Error("NOGROUP No such key 'ef:{orders}'")); // "no-group"
 */
export function classifyRedisError(error: unknown): RedisErrorKind {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && socketCodes.has(code)) return "connection";
  const name = (error as { name?: unknown } | null)?.name;
  if (name === "MaxRetriesPerRequestError") return "connection";
  const message = error instanceof Error ? error.message : String(error);
  for (const rule of rules) if (rule.test.test(message)) return rule.kind;
  return "other";
}

/**
 * Wraps an ioredis/Redis error in the matching Eventferry error, with a message prefixed
 * `[eventferry:transport-redis]`, naming the operation and the (redacted) server, and never a
 * password: connection loss and an unavailable server are a retryable `ConnectionError`; bad
 * credentials a `ConnectionError` that is not retryable; `WRONGTYPE` a `ValidationError`;
 * anything else an `EventferryError` of code `TRANSPORT_FAILED`. Eventferry errors pass through.
 *
 * @param target Where the server is, e.g. `redis://app:***@cache:6379` (redacted again here).
 * @param context Extra words for the message (redacted too).
 * @example
 * try { await client.xack(key, group, id) } catch (e) { throw toTransportError(e, "ack", "redis://cache:6379") }
 */
export function toTransportError(
  error: unknown,
  operation: string,
  target?: string,
  /** Appended to the message, e.g. the last connection error behind a "max retries" error. */
  context?: string,
): EventferryError {
  if (isEventferryError(error)) return error;
  const kind = classifyRedisError(error);
  const detail =
    redact(error instanceof Error ? error.message : String(error)) +
    (context === undefined ? "" : `; ${redact(context)}`);
  const where = target === undefined ? "" : ` (${redact(target)})`;
  const message = componentMessage(COMPONENT, `${operation} failed${where}: ${detail}`);
  const details = { kind };
  error = safeCause(error);
  switch (kind) {
    case "connection":
    case "unavailable":
      return new ConnectionError(message, { cause: error, retryable: true, details });
    case "auth":
      return new ConnectionError(message, { cause: error, retryable: false, details });
    case "out-of-memory":
      return new EventferryError("TRANSPORT_FAILED", message, { cause: error, retryable: true, details });
    case "invalid-input":
      return new ValidationError(message, { cause: error, details });
    default:
      return new EventferryError("TRANSPORT_FAILED", message, { cause: error, details });
  }
}

/**
 * The cause to keep: the error itself, or — when its message would reveal a secret — a copy with
 * the message redacted (same name and code), so `toJSON()` and a logged `cause` stay clean.
 */
function safeCause(error: unknown): unknown {
  if (!(error instanceof Error)) return typeof error === "string" ? redact(error) : error;
  const clean = redact(error.message);
  if (clean === error.message) return error;
  const copy = new Error(clean);
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (code !== undefined) Object.assign(copy, { code });
  copy.stack = `${error.name}: ${clean}`;
  return copy;
}

/** A `ConfigError` with the component prefix, listing every problem. */
export function configError(what: string, problems: readonly string[]): ConfigError {
  return new ConfigError(componentMessage(COMPONENT, `${what}: ${problems.join("; ")}`), { problems });
}
