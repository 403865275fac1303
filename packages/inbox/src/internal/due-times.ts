/**
 * Times at which entries the inbox knows of become due (retries it scheduled, delayed events it
 * ingested), so an idle loop wakes for each of them instead of waiting for its next poll.
 *
 * A due time is forgotten only once a claim that *started* at or after it has run: a claim that
 * started a hair earlier (a timer may fire up to a millisecond early) does not consume it, and the
 * loop looks again a millisecond later. Several due times are kept (up to `capacity`, the earliest
 * ones), so a second retry is not left to the poll once the first has been claimed.
 */
export class DueTimes {
  readonly #capacity: number;
  /** Ascending. */
  readonly #times: number[] = [];

  constructor(capacity = 1_024) {
    this.#capacity = capacity;
  }

  /** Notes a due time; returns whether it is now the earliest known. */
  add(atMs: number): boolean {
    if (!Number.isFinite(atMs)) return false;
    const times = this.#times;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((times[mid] as number) <= atMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= this.#capacity) return false; // later than every kept one: the poll finds it
    times.splice(lo, 0, atMs);
    if (times.length > this.#capacity) times.pop();
    return lo === 0;
  }

  /** A claim that started at `startedAtMs` found every entry due by then: forget those times. */
  claimed(startedAtMs: number): void {
    const times = this.#times;
    let n = 0;
    while (n < times.length && (times[n] as number) <= startedAtMs) n++;
    if (n > 0) times.splice(0, n);
  }

  /** How long an idle loop waits from `nowMs`: until the earliest due time (at least 1 ms), at most `maxMs`. */
  waitMs(nowMs: number, maxMs: number): number {
    const first = this.#times[0];
    if (first === undefined) return maxMs;
    return Math.max(1, Math.min(maxMs, first - nowMs));
  }

  get size(): number {
    return this.#times.length;
  }
}
