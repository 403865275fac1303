/**
 * Time as a dependency: components that wait (delayed nacks, leases, retries) take a
 * {@link Clock} so tests can drive them with `createFakeClock()` from `@eventferry/core/testing`
 * instead of sleeping.
 */

/** An opaque timer handle: whatever the clock's `setTimeout` returned. */
export type TimerHandle = unknown;

/**
 * The time source and timer facility of a component.
 *
 * MUST rules for implementations: `now()` never goes backwards on its own (only an explicit
 * test control such as a fake clock's `set()` may move it back); `setTimeout(fn, ms)` calls `fn`
 * once, no earlier than `ms` milliseconds from now, unless `clearTimeout(handle)` was called
 * first; `clearTimeout` of an unknown or already-fired handle is a no-op.
 *
 * @example
 * const clock: Clock = systemClock;
 * const handle = clock.setTimeout(() => console.log("later"), 1_000);
 * clock.clearTimeout(handle);
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, like `Date.now()`. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds (negative or non-finite counts as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired yet. */
  clearTimeout(handle: TimerHandle): void;
}

/** Largest delay Node's timers take; longer delays are chained so they never fire early. */
const MAX_TIMER_MS = 2_147_483_647;

interface SystemTimer {
  timer: ReturnType<typeof globalThis.setTimeout>;
}

function scheduleSystemTimer(handle: SystemTimer, fn: () => void, dueAt: number): void {
  const remaining = dueAt - Date.now();
  if (remaining > MAX_TIMER_MS) {
    handle.timer = globalThis.setTimeout(() => scheduleSystemTimer(handle, fn, dueAt), MAX_TIMER_MS);
  } else {
    handle.timer = globalThis.setTimeout(fn, Math.max(remaining, 0));
  }
}

/**
 * The real clock: `Date.now()` and the global timers (delays beyond Node's 24.8-day timer limit
 * are chained, so they never fire early).
 *
 * @example
 * createMemoryTransport({ clock: systemClock }); // the default
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    if (delay <= MAX_TIMER_MS) return globalThis.setTimeout(fn, delay);
    const handle = {} as SystemTimer;
    scheduleSystemTimer(handle, fn, Date.now() + delay);
    return handle;
  },
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "object" && handle !== null && "timer" in handle) {
      globalThis.clearTimeout((handle as SystemTimer).timer);
    } else {
      globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
    }
  },
});
