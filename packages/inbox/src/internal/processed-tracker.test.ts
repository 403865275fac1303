import { describe, expect, it } from "vitest";
import { ProcessedTracker } from "./processed-tracker.js";

const tracker = (capacity: number) => new ProcessedTracker({ capacity, expected: () => ["h"] });

describe("ProcessedTracker", () => {
  it("remembers at least the last capacity / 2 events and at most capacity", () => {
    const t = tracker(100);
    for (let i = 0; i < 1_000; i++) t.note(`e${i}`, "tick", "h", "completed");
    for (let i = 950; i < 1_000; i++) expect(t.result(`e${i}`, undefined)?.ok, `e${i}`).toBe(true);
    let remembered = 0;
    for (let i = 0; i < 1_000; i++) if (t.result(`e${i}`, undefined)) remembered++;
    expect(remembered).toBeGreaterThanOrEqual(50);
    expect(remembered).toBeLessThanOrEqual(100);
    expect(t.result("e0", undefined)).toBeUndefined();
  });

  it("an event noted again after its generation turned keeps one record with every handler's outcome", () => {
    const t = new ProcessedTracker({ capacity: 4, expected: () => ["a", "b"] });
    t.note("x", "tick", "a", "completed");
    t.note("y", "tick", "a", "completed");
    t.note("z", "tick", "a", "completed"); // the generation (2) was full: x and y are the previous one now
    expect(t.result("x", undefined)).toBeUndefined(); // b has not finished x
    t.note("x", "tick", "b", "dead-lettered");
    expect(t.result("x", undefined)).toEqual({
      eventId: "x",
      type: "tick",
      handlers: { a: { status: "completed" }, b: { status: "dead-lettered" } },
      ok: false,
    });
    expect(t.finished("x")).toEqual(["a", "b"]);
  });

  it("wakes a waiter once every awaited handler finished", () => {
    const t = new ProcessedTracker({ capacity: 10, expected: () => ["a", "b"] });
    const seen: unknown[] = [];
    t.wait("x", undefined, (r) => seen.push(r.handlers));
    t.note("x", "tick", "a", "completed");
    expect(seen).toEqual([]);
    t.note("x", "tick", "b", "completed");
    expect(seen).toEqual([{ a: { status: "completed" }, b: { status: "completed" } }]);
  });
});
