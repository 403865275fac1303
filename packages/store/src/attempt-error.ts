import type { AttemptError } from "./store.js";

/** For store adapters: the error name recorded for an attempt whose lease expired. */
export const LEASE_EXPIRED_ERROR_NAME = "LeaseExpiredError";
/** For store adapters: the dead-letter reason of an entry whose last attempt's lease expired. */
export const LEASE_EXPIRED_REASON = "lease expired after the last attempt";

/**
 * For store adapters: a copy of an attempt error with only the contract's fields, each a string
 * (whatever a caller passed in).
 *
 * @example
 * JSON.stringify(copyAttemptError(params.error))
 */
export function copyAttemptError(error: AttemptError): AttemptError {
  if (typeof error !== "object" || error === null) return { name: "Error", message: String(error) };
  return {
    name: String(error.name ?? "Error"),
    message: String(error.message ?? ""),
    ...(error.stack !== undefined ? { stack: String(error.stack) } : {}),
    ...(error.code !== undefined ? { code: String(error.code) } : {}),
  };
}
