import { componentMessage, EventferryError } from "@eventferry/core";
import { ChangeSignal } from "./change-signal.js";

/** The component name in messages and health reports. */
export const MEMORY_COMPONENT = "store-memory";

/**
 * The time source of a memory store: `now()` is required; `setTimeout`/`clearTimeout` (as on
 * core's `Clock`) are used for `waitForChange` timers when present, global timers otherwise.
 */
export interface MemoryStoreClock {
  now(): number;
  setTimeout?(fn: () => void, ms: number): unknown;
  clearTimeout?(handle: unknown): void;
}

/** State shared by the parts of one memory store: its clock, its open/closed flag, its signal. */
export class MemoryContext {
  closed = false;
  readonly clock: MemoryStoreClock;
  readonly changes: ChangeSignal;

  constructor(clock: MemoryStoreClock) {
    this.clock = clock;
    this.changes = new ChangeSignal(clock);
  }

  now(): number {
    return this.clock.now();
  }

  /** Throws the `CLOSED` error once the store is closed. */
  ensureOpen(): void {
    if (this.closed) throw closedError();
  }
}

export function closedError(): EventferryError {
  return new EventferryError("CLOSED", componentMessage(MEMORY_COMPONENT, "the store is closed"));
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
