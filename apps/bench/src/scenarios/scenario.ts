/** A peer measured beside Eventferry on the same workload (installed by `src/peers.ts`). */
export type Peer = "bullmq" | "pg-boss" | "graphile-worker";

/**
 * A second hand-written baseline where `raw` does less than Eventferry's contract: `raw-lease`
 * (`postgres.inbox`) leases claimed rows and commits, then completes them — the work of a queue
 * whose handlers run outside the claiming transaction — where `raw` completes inside it.
 */
export type AltBaseline = "raw-lease";

/** Which implementation a measured run exercises. */
export type System = "eventferry" | "raw" | AltBaseline | Peer;

/** Every system, in the order they are shown. */
export const SYSTEMS: readonly System[] = [
  "eventferry",
  "raw",
  "raw-lease",
  "bullmq",
  "pg-boss",
  "graphile-worker",
];

/** Whether `system` is shown as a comparison beside the peers (a peer or an alternative baseline). */
export function isComparison(system: string): system is Peer | AltBaseline {
  return isPeer(system) || system === "raw-lease";
}

/** Whether `system` is a peer. */
export function isPeer(system: string): system is Peer {
  return system === "bullmq" || system === "pg-boss" || system === "graphile-worker";
}

/** What a timed `run` may report beyond "done" (latency scenarios). */
export interface RunOutcome {
  /** Events the measured work handled (default: the `n` of the run). */
  readonly events?: number;
  /** Publish → handler latency of the counted events, milliseconds. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** Publish calls not yet acknowledged when the fixed-rate window ended (a growing send queue). */
  readonly backlogAtEnd?: number;
}

/**
 * One measured run inside a worker process. `setup` and `teardown` are not timed; `run` is.
 * `run` MUST do all the work for the `n` events given to `setup` and throw if anything is left undone.
 */
export interface Run {
  /** Untimed: create tables, pre-load, warm up. */
  setup(): Promise<void>;
  /** Timed: the measured work. */
  run(): Promise<RunOutcome> | Promise<void>;
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
