/**
 * The error hierarchy. Every error Eventferry throws or reports is an {@link EventferryError}
 * with a stable `code`, a `retryable` flag and the original `cause`.
 *
 * Messages name the component (`[eventferry:store-postgres] claim failed: …`) and never contain
 * secrets: pass URLs through {@link redact} before they reach a message.
 */

const BRAND = Symbol.for("eventferry.error");

/** Stable machine-readable error codes. */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "ADAPTER_MISSING"
  | "VALIDATION_FAILED"
  | "DECODE_FAILED"
  | "PAYLOAD_TOO_LARGE"
  | "UNKNOWN_EVENT_TYPE"
  | "PUBLISH_FAILED"
  | "HANDLER_FAILED"
  | "HANDLER_TIMEOUT"
  | "CONNECTION_FAILED"
  | "STORE_FAILED"
  | "TRANSPORT_FAILED"
  | "LEASE_LOST"
  | "CLOSED"
  | "ABORTED";

export interface EventferryErrorOptions {
  /** @default false */
  retryable?: boolean;
  cause?: unknown;
  /** Structured extra facts (never secrets). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Base class of every Eventferry error.
 *
 * @example
 * try { await ferry.publish(OrderCreated, data) }
 * catch (e) { if (isEventferryError(e) && e.retryable) retryLater() }
 */
export class EventferryError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  declare readonly [BRAND]: true;

  constructor(code: ErrorCode, message: string, options: EventferryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  /** A plain JSON-safe object: name, code, message, retryable, details, cause's message. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
      ...(this.cause instanceof Error ? { cause: this.cause.message } : {}),
    };
  }
}

/** Bad configuration: thrown synchronously by factories, listing every problem at once. */
export class ConfigError extends EventferryError {
  readonly problems: readonly string[];
  constructor(
    message: string,
    options: EventferryErrorOptions & { problems?: readonly string[]; code?: ErrorCode } = {},
  ) {
    super(options.code ?? "CONFIG_INVALID", message, options);
    this.problems = options.problems ?? [message];
  }
}

/** Data that does not fit: a schema failure, an undecodable message, an oversize payload. */
export class ValidationError extends EventferryError {
  /** Where in the data the problems are, e.g. `["total: expected number"]`. */
  readonly issues: readonly string[];
  constructor(
    message: string,
    options: EventferryErrorOptions & { code?: ErrorCode; issues?: readonly string[] } = {},
  ) {
    super(options.code ?? "VALIDATION_FAILED", message, options);
    this.issues = options.issues ?? [];
  }
}

/** A publish that did not reach the store or the transport. */
export class PublishError extends EventferryError {
  /** Ids of the events that were not published (all of them when unknown). */
  readonly failedIds: readonly string[];
  constructor(message: string, options: EventferryErrorOptions & { failedIds?: readonly string[] } = {}) {
    super("PUBLISH_FAILED", message, { retryable: true, ...options });
    this.failedIds = options.failedIds ?? [];
  }
}

/** A handler threw or timed out. `cause` is what it threw. */
export class HandlerError extends EventferryError {
  constructor(message: string, options: EventferryErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "HANDLER_FAILED", message, { retryable: true, ...options });
  }
}

/** A server could not be reached or dropped the connection. Retryable by default. */
export class ConnectionError extends EventferryError {
  constructor(message: string, options: EventferryErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "CONNECTION_FAILED", message, { retryable: true, ...options });
  }
}

/**
 * Brand check that survives duplicate installs of `@eventferry/core` (it does not use `instanceof`).
 */
export function isEventferryError(e: unknown): e is EventferryError {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** Builds a message that names its component: `[eventferry:store-postgres] claim failed: …`. */
export function componentMessage(component: string, message: string): string {
  return `[eventferry:${component}] ${message}`;
}
