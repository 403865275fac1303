import { type Duration, tryParseDuration } from "./duration.js";
import { ConfigError } from "./errors.js";

/** The backoff strategies of a {@link RetryPolicy}. */
export type Backoff = "exponential" | "fixed" | "linear";

/**
 * How a failing handler is retried.
 *
 * @example
 * { attempts: 5, backoff: "exponential", delay: "1s", maxDelay: "15m" }  // ~1s, 2s, 4s, 8s (jittered)
 * { attempts: 10, backoff: "linear", delay: "5s", step: "10s", maxDelay: "1m" } // 5s, 15s, 25s, …, 1m
 * { attempts: 3, backoff: "fixed", delay: "30s" }                        // 30s, 30s
 */
export interface RetryOptions {
  /** Maximum attempts INCLUDING the first (1 = never retry). @default 5 */
  attempts?: number;
  /** @default "exponential" */
  backoff?: Backoff;
  /** exponential: the base delay; fixed: the delay; linear: the first delay. @default 1000 (1s) */
  delay?: Duration;
  /** linear only: added per further attempt. @default the same as `delay` */
  step?: Duration;
  /** Upper bound of every delay. @default "15m" */
  maxDelay?: Duration;
  /**
   * exponential: "full jitter" — a random delay in `[0, computed)`, which spreads the retries of
   * many failing consumers. @default true for exponential, false otherwise
   */
  jitter?: boolean;
}

/** A validated retry policy. */
export interface RetryPolicy {
  /** Maximum attempts including the first. */
  readonly maxAttempts: number;
  /**
   * Milliseconds to wait before the attempt that follows failed attempt `attempt` (1-based: the
   * delay before the second attempt is `delayAfter(1)`). `random` (returning `[0, 1)`) is used for
   * jitter. @default random = Math.random
   */
  delayAfter(attempt: number, random?: () => number): number;
  /** The resolved options, durations in milliseconds. */
  readonly options: Required<Omit<RetryOptions, "step" | "delay" | "maxDelay">> & {
    delayMs: number;
    stepMs: number;
    maxDelayMs: number;
  };
}

/** Defaults of {@link retryPolicy}: 5 attempts, exponential from 1 s, capped at 15 min. */
export const retryPolicyDefaults: {
  readonly attempts: 5;
  readonly backoff: "exponential";
  readonly delayMs: 1000;
  readonly maxDelayMs: 900000;
} = Object.freeze({ attempts: 5, backoff: "exponential", delayMs: 1000, maxDelayMs: 900000 } as const);

const BACKOFFS: ReadonlySet<string> = new Set<Backoff>(["exponential", "fixed", "linear"]);

/**
 * Builds a {@link RetryPolicy}, validating the options synchronously. MUST throw one
 * {@link ConfigError} listing every problem (attempts not an integer >= 1, unknown backoff,
 * invalid durations, non-boolean jitter).
 *
 * Delays after failed attempt `n` (1-based):
 * - exponential: `min(maxDelay, delay * 2^(n-1))`; with jitter `floor(random() * that)`;
 * - linear: `min(maxDelay, delay + step * (n-1))` (pg-boss/pg's interval start/step/max);
 * - fixed: `min(delay, maxDelay)`.
 *
 * @example
 * const policy = retryPolicy({ attempts: 5, backoff: "exponential", maxDelay: "15m" });
 * policy.delayAfter(3, () => 0.5); // 2000 (half of 4000, full jitter)
 */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  const problems: string[] = [];
  const attempts = options.attempts ?? retryPolicyDefaults.attempts;
  if (typeof attempts !== "number" || !Number.isInteger(attempts) || attempts < 1) {
    problems.push(`attempts must be an integer >= 1, got ${String(attempts)}`);
  }
  const backoff = options.backoff ?? retryPolicyDefaults.backoff;
  if (!BACKOFFS.has(backoff)) {
    problems.push(`backoff must be "exponential", "fixed" or "linear", got ${JSON.stringify(backoff)}`);
  }
  const delayMs = duration(options.delay, retryPolicyDefaults.delayMs, "delay", problems);
  const stepMs = duration(options.step, delayMs, "step", problems);
  const maxDelayMs = duration(options.maxDelay, retryPolicyDefaults.maxDelayMs, "maxDelay", problems);
  const jitter = options.jitter ?? backoff === "exponential";
  if (typeof jitter !== "boolean") problems.push(`jitter must be a boolean, got ${String(jitter)}`);

  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:core] invalid retry options: ${problems.join("; ")}`, { problems });
  }

  const resolved = Object.freeze({ attempts, backoff, jitter, delayMs, stepMs, maxDelayMs });

  let computeDelay: (n: number) => number;
  if (backoff === "exponential") {
    computeDelay = (n) => {
      if (delayMs === 0) return 0;
      // 2^1024 is Infinity; past ~60 doublings every realistic delay is over the cap anyway.
      if (n > 60) return maxDelayMs;
      return Math.min(maxDelayMs, delayMs * 2 ** (n - 1));
    };
  } else if (backoff === "linear") {
    computeDelay = (n) => Math.min(maxDelayMs, delayMs + stepMs * (n - 1));
  } else {
    const fixed = Math.min(delayMs, maxDelayMs);
    computeDelay = () => fixed;
  }

  return Object.freeze({
    maxAttempts: attempts,
    options: resolved,
    delayAfter(attempt: number, random: () => number = Math.random): number {
      const n = Number.isFinite(attempt) && attempt >= 1 ? Math.floor(attempt) : 1;
      const delay = computeDelay(n);
      if (!jitter) return delay;
      const r = random();
      const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
      return Math.floor(unit * delay);
    },
  });
}

function duration(value: Duration | undefined, fallback: number, name: string, problems: string[]): number {
  if (value === undefined) return fallback;
  const ms = tryParseDuration(value);
  if (ms === undefined) {
    problems.push(
      `${name} must be a non-negative duration (milliseconds or a string like "10s"), got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    );
    return fallback;
  }
  return ms;
}
