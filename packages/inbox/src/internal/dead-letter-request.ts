/**
 * An error asks the engine to dead-letter its entry at once (no more attempts) when it carries
 * `deadLetter: true` — what `deadLetter()` middleware throws; any error may carry the marker.
 */
export function wantsDeadLetter(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && (error as { deadLetter?: unknown }).deadLetter === true
  );
}

/** The dead-letter reason for an error that asked for it. */
export function deadLetterReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `dead-lettered by the handler: ${message.slice(0, 500)}`;
}
