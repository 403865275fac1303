/**
 * One place that says what a NATS client error means to the transport: every error the client
 * throws goes through {@link classifyNatsError} and {@link toTransportError}.
 */
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

/** What a NATS (or JetStream) error means to the transport. */
export type NatsErrorKind =
  /** The server is unreachable, the connection closed or dropped, a request timed out. Retryable. */
  | "connection"
  /** JetStream does not answer (not enabled, restarting, no responders). Retryable. */
  | "unavailable"
  /** Wrong credentials, expired user. Not retryable until the configuration changes. */
  | "auth"
  /** The account may not publish or subscribe where it tried. */
  | "permission"
  /** The stream or consumer does not exist. */
  | "not-found"
  /** A message larger than the server's max_payload. */
  | "too-large"
  /** The server or the client refused a request as invalid (bad option, name, subject). */
  | "invalid"
  | "other";

interface Rule {
  readonly kind: NatsErrorKind;
  readonly test: (error: ErrorFacts) => boolean;
}

interface ErrorFacts {
  readonly name: string;
  readonly message: string;
  /** `code` of the error: a JetStream API error code, a Node socket code, … */
  readonly code: string;
  readonly apiCode: number;
}

/** Node socket error codes that mean the connection is gone. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** First match wins. */
const rules: readonly Rule[] = [
  {
    kind: "auth",
    test: (e) =>
      e.name === "AuthorizationError" ||
      e.name === "UserAuthenticationExpiredError" ||
      /authorization violation|authentication (?:timeout|expired)|user authentication/i.test(e.message),
  },
  {
    kind: "permission",
    test: (e) => e.name === "PermissionViolationError" || /permissions violation/i.test(e.message),
  },
  {
    kind: "too-large",
    test: (e) => /max(?:imum)?[ _]payload|payload exceeded|message size exceeds/i.test(e.message),
  },
  {
    kind: "not-found",
    test: (e) =>
      e.name === "StreamNotFoundError" ||
      e.name === "ConsumerNotFoundError" ||
      e.apiCode === 10059 ||
      e.apiCode === 10014 ||
      /stream not found|consumer not found/i.test(e.message),
  },
  {
    kind: "unavailable",
    test: (e) =>
      e.name === "JetStreamNotEnabled" ||
      e.name === "NoResponders" ||
      e.name === "NoRespondersError" ||
      e.apiCode === 10039 ||
      e.apiCode === 10008 ||
      /no responders|jetstream (?:is )?not (?:enabled|available)|jetstream system temporarily unavailable/i.test(
        e.message,
      ),
  },
  {
    kind: "connection",
    test: (e) =>
      SOCKET_CODES.has(e.code) ||
      e.name === "ConnectionError" ||
      e.name === "ClosedConnectionError" ||
      e.name === "DrainingConnectionError" ||
      e.name === "TimeoutError" ||
      /connection (?:refused|closed|draining|reset|lost)|closed connection|disconnect|timeout|heartbeats missed|socket/i.test(
        e.message,
      ),
  },
  {
    kind: "invalid",
    test: (e) =>
      e.name === "InvalidArgumentError" ||
      e.name === "InvalidSubjectError" ||
      e.name === "InvalidNameError" ||
      e.name === "InvalidOperationError" ||
      (e.name === "JetStreamApiError" && e.apiCode !== 0),
  },
];

function facts(error: unknown): ErrorFacts {
  const record = (typeof error === "object" && error !== null ? error : {}) as Record<string, unknown>;
  const name = typeof record.name === "string" ? record.name : "";
  const message = error instanceof Error ? error.message : String(error);
  const rawCode = record.code;
  let apiCode = 0;
  const apiError = typeof record.apiError === "function" ? (record.apiError as () => unknown) : undefined;
  if (apiError !== undefined) {
    try {
      const api = apiError.call(error) as { err_code?: unknown } | undefined;
      if (typeof api?.err_code === "number") apiCode = api.err_code;
    } catch {
      // not a JetStreamApiError after all
    }
  }
  const cause = record.cause as { code?: unknown } | undefined;
  const code =
    typeof rawCode === "string"
      ? rawCode
      : typeof cause?.code === "string"
        ? cause.code
        : typeof rawCode === "number"
          ? String(rawCode)
          : "";
  return { name, message, code, apiCode };
}

/**
 * Classifies an error thrown by `@nats-io/transport-node` or `@nats-io/jetstream` (by its class
 * name, its JetStream API code, its socket code, and as a last resort its message).
 *
 * @example
 * classifyNatsError(new Error("CONNECTION_REFUSED")); // "connection"
 */
export function classifyNatsError(error: unknown): NatsErrorKind {
  const f = facts(error);
  for (const rule of rules) if (rule.test(f)) return rule.kind;
  // The cause of a wrapped error can still say more.
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (cause !== undefined && cause !== error && cause instanceof Error) return classifyNatsError(cause);
  return "other";
}

/**
 * Turns any error into the {@link EventferryError} the transport reports: connection problems
 * (and JetStream being unavailable) become a retryable {@link ConnectionError}; wrong credentials a
 * {@link ConnectionError} that is not retryable; a message over the server's limit a
 * {@link ValidationError} `PAYLOAD_TOO_LARGE`; invalid requests a {@link ConfigError}; anything
 * else an `EventferryError` `TRANSPORT_FAILED`. An `EventferryError` passes through unchanged.
 * The message names the adapter and the operation and is redacted.
 *
 * @example
 * try { await nc.flush() } catch (e) { throw toTransportError(e, "flush") }
 */
export function toTransportError(error: unknown, operation: string): EventferryError {
  if (isEventferryError(error)) return error;
  const kind = classifyNatsError(error);
  const message = componentMessage(
    COMPONENT,
    `${redact(operation)} failed: ${redact(error instanceof Error ? error.message : String(error))}`,
  );
  const details = { kind };
  switch (kind) {
    case "connection":
    case "unavailable":
      return new ConnectionError(message, { cause: error, retryable: true, details });
    case "auth":
      return new ConnectionError(message, { cause: error, retryable: false, details });
    case "too-large":
      return new ValidationError(message, { cause: error, code: "PAYLOAD_TOO_LARGE", details });
    case "invalid":
      return new ConfigError(message, { cause: error, details });
    case "not-found":
    case "permission":
    case "other":
      return new EventferryError("TRANSPORT_FAILED", message, { cause: error, details });
  }
}
