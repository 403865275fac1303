import { describe, expect, it } from "vitest";
import { parseDuration, tryParseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";

describe("parseDuration", () => {
  it.each([
    [0, 0],
    [250, 250],
    [1.5, 1.5],
    ["250", 250],
    ["0", 0],
    ["250ms", 250],
    ["10s", 10_000],
    ["1.5s", 1500],
    [".5s", 500],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["15 min", 900_000],
    ["2 hours", 7_200_000],
    ["1 second", 1000],
    ["1h30m", 5_400_000],
    ["1m 30s", 90_000],
    ["  10S  ", 10_000],
    ["1.1s", 1100],
    ["0.0005s", 1],
  ] as const)("%j is %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    "",
    "   ",
    "soon",
    "10 parsecs",
    "-5s",
    "5 s s",
    "1.s",
    "s10",
    "1e3",
    "10s-",
    "NaN",
    "Infinity",
    "x".repeat(200),
  ])("rejects %j", (input) => {
    expect(() => parseDuration(input, "maxDelay")).toThrow(ConfigError);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    "rejects the number %d",
    (input) => {
      expect(() => parseDuration(input)).toThrow(ConfigError);
    },
  );

  it("rejects non-durations from untyped callers", () => {
    for (const value of [null, undefined, {}, [], true]) {
      expect(() => parseDuration(value as never)).toThrow(ConfigError);
    }
  });

  it("names the option in the error", () => {
    try {
      parseDuration("soon", "maxDelay");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const error = e as ConfigError;
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.message).toContain("maxDelay");
      expect(error.message).toContain('"soon"');
      expect(error.problems).toHaveLength(1);
    }
  });

  it("tryParseDuration returns undefined instead of throwing", () => {
    expect(tryParseDuration("5m")).toBe(300_000);
    expect(tryParseDuration("five minutes")).toBeUndefined();
    expect(tryParseDuration(-1)).toBeUndefined();
    expect(tryParseDuration(Symbol("x"))).toBeUndefined();
  });
});
