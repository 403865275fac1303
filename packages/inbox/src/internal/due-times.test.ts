import { describe, expect, it } from "vitest";
import { DueTimes } from "./due-times.js";

describe("DueTimes", () => {
  it("waits until the earliest due time, at least 1 ms, at most the poll interval", () => {
    const due = new DueTimes();
    expect(due.waitMs(1_000, 500)).toBe(500);
    expect(due.add(1_300)).toBe(true);
    expect(due.add(1_100)).toBe(true);
    expect(due.add(1_200)).toBe(false);
    expect(due.waitMs(1_000, 500)).toBe(100);
    expect(due.waitMs(1_000, 50)).toBe(50);
    expect(due.waitMs(1_150, 500)).toBe(1);
  });

  it("keeps a due time that a claim started before it could not have seen", () => {
    const due = new DueTimes();
    due.add(1_000);
    due.claimed(999); // the timer fired a millisecond early
    expect(due.size).toBe(1);
    expect(due.waitMs(999, 500)).toBe(1);
    due.claimed(1_000);
    expect(due.size).toBe(0);
    expect(due.waitMs(1_000, 500)).toBe(500);
  });

  it("after the first due time is claimed, waits for the next one rather than the poll", () => {
    const due = new DueTimes();
    due.add(1_005);
    due.add(1_100);
    due.claimed(1_006);
    expect(due.waitMs(1_006, 1_000)).toBe(94);
  });

  it("keeps the earliest `capacity` times and ignores what is not a time", () => {
    const due = new DueTimes(3);
    for (const t of [50, 40, 30, 20, 10]) due.add(t);
    expect(due.size).toBe(3);
    expect(due.add(60)).toBe(false);
    expect(due.add(Number.NaN)).toBe(false);
    expect(due.add(Number.POSITIVE_INFINITY)).toBe(false);
    due.claimed(30);
    expect(due.size).toBe(0);
  });
});
