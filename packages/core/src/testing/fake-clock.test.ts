import { describe, expect, it } from "vitest";
import { createFakeClock } from "./fake-clock.js";

describe("createFakeClock", () => {
  it("starts at the given instant, or 2024-01-01 by default", () => {
    expect(createFakeClock().now()).toBe(Date.UTC(2024, 0, 1));
    expect(createFakeClock(1_000).now()).toBe(1_000);
    expect(createFakeClock(new Date("2030-05-06T07:08:09.000Z")).date().toISOString()).toBe(
      "2030-05-06T07:08:09.000Z",
    );
    expect(() => createFakeClock(new Date("nonsense"))).toThrow(RangeError);
  });

  it("runs due timers in due order, ties in scheduling order, with now() at each due time", () => {
    const clock = createFakeClock(0);
    const log: string[] = [];
    clock.setTimeout(() => log.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => log.push(`b1@${clock.now()}`), 20);
    clock.setTimeout(() => log.push(`b2@${clock.now()}`), 20);
    expect(clock.pending()).toBe(4);
    expect(clock.advance(19)).toBe(1);
    expect(log).toEqual(["a@10"]);
    expect(clock.now()).toBe(19);
    expect(clock.advance(11)).toBe(3);
    expect(log).toEqual(["a@10", "b1@20", "b2@20", "c@30"]);
    expect(clock.pending()).toBe(0);
    expect(clock.now()).toBe(30);
  });

  it("does not run a timer before its time, and runs it exactly at it", () => {
    const clock = createFakeClock(0);
    let fired = false;
    clock.setTimeout(() => {
      fired = true;
    }, 5_000);
    clock.advance(4_999);
    expect(fired).toBe(false);
    clock.advance(1);
    expect(fired).toBe(true);
  });

  it("runs timers scheduled by timers when they fall due within the window", () => {
    const clock = createFakeClock(0);
    const log: number[] = [];
    const tick = (): void => {
      log.push(clock.now());
      if (log.length < 5) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.advance(35);
    expect(log).toEqual([10, 20, 30]);
    expect(clock.pending()).toBe(1);
    expect(clock.nextDueAt()).toBe(40);
    clock.advance(100);
    expect(log).toEqual([10, 20, 30, 40, 50]);
    expect(clock.pending()).toBe(0);
  });

  it("zero and negative delays run on the next advance, even advance(0)", () => {
    const clock = createFakeClock(0);
    const log: string[] = [];
    clock.setTimeout(() => log.push("zero"), 0);
    clock.setTimeout(() => log.push("negative"), -5);
    clock.setTimeout(() => log.push("nan"), Number.NaN);
    expect(log).toEqual([]);
    expect(clock.advance(0)).toBe(3);
    expect(log).toEqual(["zero", "negative", "nan"]);
  });

  it("clearTimeout cancels, and is a no-op for unknown or fired handles", () => {
    const clock = createFakeClock(0);
    const log: string[] = [];
    const a = clock.setTimeout(() => log.push("a"), 10);
    clock.setTimeout(() => log.push("b"), 10);
    clock.clearTimeout(a);
    clock.clearTimeout(a);
    clock.clearTimeout(12345);
    clock.clearTimeout(undefined);
    expect(clock.pending()).toBe(1);
    clock.advance(10);
    expect(log).toEqual(["b"]);
  });

  it("a timer can clear a later timer that is due in the same advance", () => {
    const clock = createFakeClock(0);
    const log: string[] = [];
    let later: unknown;
    clock.setTimeout(() => {
      log.push("first");
      clock.clearTimeout(later);
    }, 5);
    later = clock.setTimeout(() => log.push("later"), 6);
    clock.advance(10);
    expect(log).toEqual(["first"]);
  });

  it("set() moves forward like advance() and back without running anything", () => {
    const clock = createFakeClock(new Date("2024-01-01T00:00:00.000Z"));
    const log: string[] = [];
    clock.setTimeout(() => log.push(clock.date().toISOString()), 60_000);
    expect(clock.set(new Date("2024-01-01T00:05:00.000Z"))).toBe(1);
    expect(log).toEqual(["2024-01-01T00:01:00.000Z"]);
    expect(clock.date().toISOString()).toBe("2024-01-01T00:05:00.000Z");
    clock.setTimeout(() => log.push("due at 00:06"), 60_000);
    clock.set(new Date("2024-01-01T00:00:00.000Z"));
    expect(clock.now()).toBe(Date.UTC(2024, 0, 1));
    clock.advance(5 * 60_000);
    expect(log).toEqual(["2024-01-01T00:01:00.000Z"]);
    clock.advance(60_000);
    expect(log).toEqual(["2024-01-01T00:01:00.000Z", "due at 00:06"]);
  });

  it("runAll() runs everything, including timers scheduled along the way", () => {
    const clock = createFakeClock(0);
    const log: number[] = [];
    clock.setTimeout(() => {
      log.push(clock.now());
      clock.setTimeout(() => log.push(clock.now()), 1_000);
    }, 500);
    expect(clock.runAll()).toBe(2);
    expect(log).toEqual([500, 1_500]);
    expect(clock.now()).toBe(1_500);
  });

  it("refuses a runaway timer instead of looping forever", () => {
    const clock = createFakeClock(0);
    const again = (): void => {
      clock.setTimeout(again, 0);
    };
    clock.setTimeout(again, 0);
    expect(() => clock.advance(1)).toThrow(/reschedules itself/);
  });

  it("rejects a negative or non-finite advance", () => {
    const clock = createFakeClock(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it("advanceAsync() lets promise chains started by a timer settle before the next timer", async () => {
    const clock = createFakeClock(0);
    const log: string[] = [];
    clock.setTimeout(() => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => log.push("chain of first"));
    }, 10);
    clock.setTimeout(() => log.push("second"), 20);
    expect(await clock.advanceAsync(20)).toBe(2);
    expect(log).toEqual(["chain of first", "second"]);
  });
});
