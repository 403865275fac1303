import { type Duration, EventferryError } from "@eventferry/core";

/** How one handler finished an event. */
export interface HandlerOutcome {
  readonly status: "completed" | "dead-lettered";
}

/** What {@link Inbox.whenProcessed} resolves with. */
export interface ProcessedResult {
  readonly eventId: string;
  readonly type: string;
  /** One outcome per handler waited for, by handler name. */
  readonly handlers: Readonly<Record<string, HandlerOutcome>>;
  /** True when every handler completed (none dead-lettered). */
  readonly ok: boolean;
}

/** Options of {@link Inbox.whenProcessed}. */
export interface WhenProcessedOptions {
  /** @default "30s" */
  timeout?: Duration;
  /** Wait for this handler only (its name). @default every handler of the group matching the event */
  handler?: string;
}

/**
 * `whenProcessed` gave up: the event was not finished by every handler it waited for within the
 * timeout (code `ABORTED`). `details.finished` names the handlers that had finished.
 */
export class WhenProcessedTimeoutError extends EventferryError {
  readonly eventId: string;
  constructor(eventId: string, timeoutMs: number, finished: readonly string[]) {
    super("ABORTED", `[eventferry:inbox] event ${eventId} not processed within ${timeoutMs} ms`, {
      details: { eventId, timeoutMs, finished },
    });
    this.name = "WhenProcessedTimeoutError";
    this.eventId = eventId;
  }
}
