import { isEventferryError } from "@eventferry/core";
import type { AttemptError } from "./store.js";

/** For store adapters: the error name recorded for an attempt whose lease expired. */
export const LEASE_EXPIRED_ERROR_NAME = "LeaseExpiredError";
/** For store adapters: the dead-letter reason of an entry whose last attempt's lease expired. */
export const LEASE_EXPIRED_REASON = "lease expired after the last attempt";

/**
 * For store adapters: `text` with every U+0000 (NUL) replaced by U+FFFD. PostgreSQL refuses NUL in
 * `text` and `jsonb`; an error message or a raw payload that holds one (binary garbage, say) is
 * stored readable instead of failing the write.
 *
 * @example
 * withoutNul("bad\u0000byte") // "bad\ufffdbyte"
 */
export function withoutNul(text: string): string {
  return text.indexOf("\0") === -1 ? text : text.replaceAll("\0", "\ufffd");
}

/**
 * For store adapters: a copy of an attempt error with only the contract's fields, each a string
 * (whatever a caller passed in), U+0000 replaced by U+FFFD (see {@link withoutNul}).
 *
 * @example
 * JSON.stringify(copyAttemptError(params.error))
 */
export function copyAttemptError(error: AttemptError): AttemptError {
  if (typeof error !== "object" || error === null)
    return { name: "Error", message: withoutNul(String(error)) };
  return {
    name: withoutNul(String(error.name ?? "Error")),
    message: withoutNul(String(error.message ?? "")),
    ...(error.stack !== undefined ? { stack: withoutNul(String(error.stack)) } : {}),
    ...(error.code !== undefined ? { code: withoutNul(String(error.code)) } : {}),
  };
}

const MAX_MESSAGE = 4_000;
const MAX_STACK = 16_000;

/**
 * What a failed attempt or a dead letter records of a thrown value: name, message, stack and
 * code, bounded in size (message 4,000 characters, stack 16,000). A non-`Error` is recorded as
 * `NonError` with its JSON (or `String`) form. For the inbox, the relay and adapter authors.
 *
 * @example
 * await store.inbox.fail({ ...lease, error: toAttemptError(caught), retryInMs: 1_000 });
 */
export function toAttemptError(error: unknown): AttemptError {
  if (error instanceof Error) {
    const code = isEventferryError(error) ? error.code : (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: truncate(error.message, MAX_MESSAGE),
      ...(error.stack ? { stack: truncate(error.stack, MAX_STACK) } : {}),
      ...(typeof code === "string" ? { code } : {}),
    };
  }
  let message: string;
  try {
    message = typeof error === "string" ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    message = String(error);
  }
  return { name: "NonError", message: truncate(message, MAX_MESSAGE) };
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
