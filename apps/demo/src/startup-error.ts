import { isEventferryError, redact } from "eventferry";

/**
 * The line printed when the demo cannot start. Eventferry errors (bad configuration, a missing
 * adapter package, an unreachable server) are the user's to fix and their message says how, so
 * they print as one line without a stack; anything else is a bug and keeps its stack.
 *
 * @example
 * describeStartupError(error) // "error: [eventferry] store "postgres://…" needs the package @eventferry/store-postgres, …"
 */
export function describeStartupError(error: unknown): string {
  if (isEventferryError(error)) return `error: ${redact(error.message)}`;
  if (error instanceof Error) return `error: ${redact(error.stack ?? error.message)}`;
  return `error: ${redact(String(error))}`;
}
