import { isEventferryError } from "@eventferry/core";
import type { AttemptError } from "@eventferry/store";

const MAX_MESSAGE = 4_000;
const MAX_STACK = 16_000;

/** What a failed attempt records: name, message, stack and code, bounded in size. */
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
