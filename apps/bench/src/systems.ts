/** Which systems each scenario runs, and the scaling plan. */
import type { System } from "./scenarios/scenario.js";

/** Scenarios that run the peers beside Eventferry and the raw baseline. */
const WITH_PEERS = new Set(["e2e.redis-postgres", "latency.redis-postgres"]);

/**
 * The systems of a scenario, in the order of the first run (later runs rotate it).
 *
 * @example
 * systemsOf("e2e.redis-postgres"); // ["eventferry", "raw", "bullmq", "pg-boss", "graphile-worker"]
 */
export function systemsOf(scenario: string): readonly System[] {
  if (scenario.startsWith("scale.")) return ["eventferry"];
  if (WITH_PEERS.has(scenario)) return ["eventferry", "raw", "bullmq", "pg-boss", "graphile-worker"];
  if (scenario === "postgres.inbox") return ["eventferry", "raw", "raw-lease"];
  return ["eventferry", "raw"];
}

/** Events per second of the latency scenarios. */
export const RATE = 2_000;
/** Length of the latency scenarios' fixed-rate window, seconds. */
export const SECONDS = 10;

/** Latency scenarios run a fixed rate for a fixed time; N does not apply. */
export function isLatency(scenario: string): boolean {
  return scenario.startsWith("latency.");
}

/** The scaling plan: `[worker scenario, N]`, one run each. */
export const SCALING_PLAN: readonly (readonly [string, number])[] = [
  ["scale.redis-postgres", 10_000],
  ["scale.redis-postgres", 100_000],
  ["scale.redis-postgres", 1_000_000],
  ["scale.redis-postgres.backlog", 1_000_000],
];
