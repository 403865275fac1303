/** Which implementation a measured run exercises. */
export type System = "eventferry" | "raw";

/**
 * One measured run inside a worker process. `setup` and `teardown` are not timed; `run` is.
 * `run` MUST do all the work for the `n` events given to `setup` and throw if anything is left undone.
 */
export interface Run {
  /** Untimed: create tables, pre-load, warm up. */
  setup(): Promise<void>;
  /** Timed: the measured work. */
  run(): Promise<void>;
  /** Untimed: verify and drop what setup created. */
  teardown(): Promise<void>;
}

/** Makes a run of one scenario for one system and `n` events. */
export type RunFactory = (system: System, n: number) => Run;

/** Events per store call or per transaction in every scenario. */
export const BATCH = 1_000;
/** Warm-up events, run through the same code path before timing (in separate tables or rows). */
export const WARMUP = 2_000;
/** The inbox consumer name used by every inbox scenario. */
export const CONSUMER = "bench/order-created";
