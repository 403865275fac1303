import { describe, expect, it } from "vitest";
import { parseIsoMs } from "./parse-iso.js";

describe("parseIsoMs", () => {
  it("agrees with Date.parse on toISOString() output across the years", () => {
    const start = Date.UTC(1970, 0, 1);
    const end = Date.UTC(2100, 0, 1);
    for (let i = 0; i < 20_000; i++) {
      const iso = new Date(start + Math.floor(((end - start) * i) / 20_000) + i * 7).toISOString();
      expect(parseIsoMs(iso)).toBe(Date.parse(iso));
    }
  });

  it.each([
    "2026-11-23T20:18:45.601Z",
    "2024-02-29T23:59:59.999Z",
    "2026-02-30T00:00:00.000Z", // V8 rolls it over into March
    "2026-04-31T12:00:00.000Z",
    "2026-11-23T20:18:45Z",
    "2026-11-23T20:18:45.601+02:00",
    "2026-11-23",
    "+020000-01-01T00:00:00.000Z",
  ])("answers like Date.parse for %s", (iso) => {
    expect(parseIsoMs(iso)).toBe(Date.parse(iso));
  });

  it.each([
    "2026-13-01T00:00:00.000Z",
    "2026-11-23T25:00:00.000Z",
    "2026-11-2xT20:18:45.601Z",
    "not a date at all, 24 ch",
    "",
  ])("gives NaN where Date.parse does: %s", (iso) => {
    expect(Number.isNaN(parseIsoMs(iso))).toBe(Number.isNaN(Date.parse(iso)));
    expect(Number.isNaN(parseIsoMs(iso))).toBe(true);
  });
});
