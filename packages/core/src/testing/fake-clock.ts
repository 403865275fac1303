import type { Clock, TimerHandle } from "../clock.js";

/**
 * A {@link Clock} that only moves when told to: deterministic tests of delays, leases and
 * retries without sleeping.
 */
export interface FakeClock extends Clock {
  /**
   * Moves time forward by `ms`, running every timer that falls due on the way, in due order
   * (ties in scheduling order), with `now()` set to each timer's due time while it runs. Timers
   * scheduled by those timers run too when they fall due within the window. Returns the number
   * of timers run. Throws after 100 000 timers in one call (a timer that keeps rescheduling
   * itself at 0 ms would otherwise never let it return).
   */
  advance(ms: number): number;
  /**
   * Like {@link FakeClock.advance}, but after each timer it yields to the event loop
   * (`setImmediate`), so promise chains started by a timer settle before the next one runs.
   */
  advanceAsync(ms: number): Promise<number>;
  /**
   * Sets the time. Moving forward behaves like {@link FakeClock.advance} (due timers run); moving
   * back only changes `now()` (timers keep their due instants).
   */
  set(time: Date | number): number;
  /** Number of timers scheduled and not yet run or cleared. */
  pending(): number;
  /** Due time (epoch ms) of the next timer, or `undefined` when none is scheduled. */
  nextDueAt(): number | undefined;
  /** Runs every scheduled timer (and those they schedule) by advancing to each due time. */
  runAll(): number;
  /** `new Date(now())`. */
  date(): Date;
}

interface FakeTimer {
  readonly id: number;
  readonly dueAt: number;
  readonly fn: () => void;
}

const MAX_TIMERS_PER_CALL = 100_000;

/** Default start: 2024-01-01T00:00:00.000Z, so timestamps in test output are readable. */
const DEFAULT_START = Date.UTC(2024, 0, 1);

/**
 * Creates a fake clock starting at `start` (a `Date` or epoch milliseconds).
 *
 * @default start 2024-01-01T00:00:00.000Z
 * @example
 * const clock = createFakeClock();
 * const transport = createMemoryTransport({ clock });
 * await delivery.nack({ delayMs: 5_000 });
 * clock.advance(4_999); // not yet redelivered
 * clock.advance(1);     // redeliverable now
 */
export function createFakeClock(start: Date | number = DEFAULT_START): FakeClock {
  let now = toEpoch(start, "start");
  let nextId = 1;
  // A binary min-heap on (dueAt, id); `live` holds the ids not cleared or run.
  const heap: FakeTimer[] = [];
  const live = new Set<number>();

  const less = (a: FakeTimer, b: FakeTimer): boolean =>
    a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.id < b.id);

  const push = (timer: FakeTimer): void => {
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };

  const pop = (): FakeTimer | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && less(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && less(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  };

  /** The next live timer due at or before `until`, removed from the heap. */
  const takeDue = (until: number): FakeTimer | undefined => {
    while (heap.length > 0) {
      const top = heap[0]!;
      if (!live.has(top.id)) {
        pop();
        continue;
      }
      if (top.dueAt > until) return undefined;
      pop();
      live.delete(top.id);
      return top;
    }
    return undefined;
  };

  const checkMs = (ms: number): void => {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`fake clock: advance(ms) needs a finite number >= 0, got ${String(ms)}`);
    }
  };

  const runUntil = (target: number): number => {
    let ran = 0;
    for (let timer = takeDue(target); timer !== undefined; timer = takeDue(target)) {
      if (++ran > MAX_TIMERS_PER_CALL) throw tooMany();
      if (timer.dueAt > now) now = timer.dueAt;
      timer.fn();
    }
    if (target > now) now = target;
    return ran;
  };

  const clock: FakeClock = {
    now: () => now,
    setTimeout(fn: () => void, ms: number): TimerHandle {
      if (typeof fn !== "function") throw new TypeError("fake clock: setTimeout needs a function");
      const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
      const timer: FakeTimer = { id: nextId++, dueAt: now + delay, fn };
      live.add(timer.id);
      push(timer);
      return timer.id;
    },
    clearTimeout(handle: TimerHandle): void {
      if (typeof handle === "number") live.delete(handle);
    },
    advance(ms: number): number {
      checkMs(ms);
      return runUntil(now + ms);
    },
    async advanceAsync(ms: number): Promise<number> {
      checkMs(ms);
      const target = now + ms;
      let ran = 0;
      await yieldToEventLoop();
      for (let timer = takeDue(target); timer !== undefined; timer = takeDue(target)) {
        if (++ran > MAX_TIMERS_PER_CALL) throw tooMany();
        if (timer.dueAt > now) now = timer.dueAt;
        timer.fn();
        await yieldToEventLoop();
      }
      if (target > now) now = target;
      return ran;
    },
    set(time: Date | number): number {
      const target = toEpoch(time, "time");
      if (target <= now) {
        now = target;
        return 0;
      }
      return runUntil(target);
    },
    pending: () => live.size,
    nextDueAt(): number | undefined {
      while (heap.length > 0 && !live.has(heap[0]!.id)) pop();
      return heap[0]?.dueAt;
    },
    runAll(): number {
      let ran = 0;
      for (let due = clock.nextDueAt(); due !== undefined; due = clock.nextDueAt()) {
        ran += runUntil(Math.max(due, now));
        if (ran > MAX_TIMERS_PER_CALL) throw tooMany();
      }
      return ran;
    },
    date: () => new Date(now),
  };
  return clock;
}

function toEpoch(value: Date | number, name: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== "number" || !Number.isFinite(ms)) {
    throw new RangeError(`fake clock: ${name} must be a valid Date or epoch milliseconds`);
  }
  return ms;
}

function tooMany(): Error {
  return new Error(
    `fake clock: more than ${MAX_TIMERS_PER_CALL} timers ran in one call; a timer probably reschedules itself forever`,
  );
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
