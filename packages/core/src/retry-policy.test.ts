import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { retryPolicy, retryPolicyDefaults } from "./retry-policy.js";

const noJitter = () => 1 - Number.EPSILON;

describe("retryPolicy", () => {
  it("defaults to 5 attempts, exponential from 1s with full jitter, capped at 15m", () => {
    const policy = retryPolicy();
    expect(policy.maxAttempts).toBe(5);
    expect(policy.options).toEqual({
      attempts: 5,
      backoff: "exponential",
      jitter: true,
      delayMs: 1000,
      stepMs: 1000,
      maxDelayMs: 900_000,
    });
    expect(retryPolicyDefaults).toEqual({
      attempts: 5,
      backoff: "exponential",
      delayMs: 1000,
      maxDelayMs: 900_000,
    });
    expect(Object.isFrozen(retryPolicyDefaults)).toBe(true);
  });

  describe("exponential", () => {
    const policy = retryPolicy({ jitter: false });

    it.each([
      [1, 1000],
      [2, 2000],
      [3, 4000],
      [4, 8000],
      [10, 512_000],
      [11, 900_000], // 1 024 000 capped at the 15m default
      [20, 900_000],
      [1000, 900_000],
      [Number.MAX_SAFE_INTEGER, 900_000],
    ])("after attempt %d waits %d ms", (attempt, ms) => {
      expect(policy.delayAfter(attempt)).toBe(ms);
    });

    it("uses the configured base and cap", () => {
      const p = retryPolicy({ delay: "200ms", maxDelay: "1s", jitter: false });
      expect([1, 2, 3, 4, 5].map((n) => p.delayAfter(n))).toEqual([200, 400, 800, 1000, 1000]);
    });

    it("applies full jitter within [0, computed) using the injected random", () => {
      const p = retryPolicy({ delay: "1s" });
      expect(p.options.jitter).toBe(true);
      expect(p.delayAfter(3, () => 0)).toBe(0);
      expect(p.delayAfter(3, () => 0.5)).toBe(2000);
      expect(p.delayAfter(3, noJitter)).toBe(3999);
      expect(p.delayAfter(30, () => 0.5)).toBe(450_000);
      for (let i = 0; i < 1000; i++) {
        const d = p.delayAfter(4);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(8000);
        expect(Number.isInteger(d)).toBe(true);
      }
    });

    it("clamps a misbehaving random source into range", () => {
      const p = retryPolicy();
      expect(p.delayAfter(2, () => 7)).toBe(2000);
      expect(p.delayAfter(2, () => -1)).toBe(0);
      expect(p.delayAfter(2, () => Number.NaN)).toBe(0);
    });

    it("a zero delay stays zero at any attempt", () => {
      const p = retryPolicy({ delay: 0, jitter: false });
      expect(p.delayAfter(1)).toBe(0);
      expect(p.delayAfter(5000)).toBe(0);
    });
  });

  describe("linear", () => {
    it("waits start + step * (attempt - 1), capped", () => {
      const p = retryPolicy({ backoff: "linear", attempts: 10, delay: "5s", step: "10s", maxDelay: "1m" });
      expect(p.options.jitter).toBe(false);
      expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => p.delayAfter(n))).toEqual([
        5000, 15_000, 25_000, 35_000, 45_000, 55_000, 60_000, 60_000,
      ]);
    });

    it("step defaults to the delay", () => {
      const p = retryPolicy({ backoff: "linear", delay: 1000 });
      expect(p.options.stepMs).toBe(1000);
      expect([1, 2, 3].map((n) => p.delayAfter(n))).toEqual([1000, 2000, 3000]);
    });

    it("can be jittered when asked", () => {
      const p = retryPolicy({ backoff: "linear", delay: 1000, jitter: true });
      expect(p.delayAfter(2, () => 0.25)).toBe(500);
    });
  });

  describe("fixed", () => {
    it("always waits the delay", () => {
      const p = retryPolicy({ backoff: "fixed", delay: "30s" });
      expect([1, 2, 3, 50].map((n) => p.delayAfter(n, () => 0))).toEqual([30_000, 30_000, 30_000, 30_000]);
    });

    it("is capped by maxDelay", () => {
      expect(retryPolicy({ backoff: "fixed", delay: "1h", maxDelay: "10m" }).delayAfter(1)).toBe(600_000);
    });
  });

  it("treats attempts below 1 or non-finite as the first", () => {
    const p = retryPolicy({ jitter: false });
    expect(p.delayAfter(0)).toBe(1000);
    expect(p.delayAfter(-3)).toBe(1000);
    expect(p.delayAfter(Number.NaN)).toBe(1000);
    expect(p.delayAfter(2.7)).toBe(2000);
  });

  it("attempts: 1 means no retries", () => {
    expect(retryPolicy({ attempts: 1 }).maxAttempts).toBe(1);
  });

  it.each([
    [{ attempts: 0 }, ["attempts"]],
    [{ attempts: 1.5 }, ["attempts"]],
    [{ attempts: Number.POSITIVE_INFINITY }, ["attempts"]],
    [{ attempts: "3" }, ["attempts"]],
    [{ backoff: "quadratic" }, ["backoff"]],
    [{ delay: "soon" }, ["delay"]],
    [{ delay: -1 }, ["delay"]],
    [{ step: "x" }, ["step"]],
    [{ maxDelay: Number.NaN }, ["maxDelay"]],
    [{ jitter: "yes" }, ["jitter"]],
    [
      { attempts: -1, backoff: "random", delay: "1 fortnight", step: -5, maxDelay: "forever", jitter: 1 },
      ["attempts", "backoff", "delay", "step", "maxDelay", "jitter"],
    ],
  ])("rejects %j, listing every problem", (options, fields) => {
    try {
      retryPolicy(options as never);
      expect.unreachable("should have thrown");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const error = e as ConfigError;
      expect(error.code).toBe("CONFIG_INVALID");
      expect(error.problems).toHaveLength(fields.length);
      fields.forEach((field, i) => {
        expect(error.problems[i]).toMatch(new RegExp(`^${field} `));
        expect(error.message).toContain(field);
      });
    }
  });

  it("returns frozen policies", () => {
    const p = retryPolicy();
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.options)).toBe(true);
  });
});
