/**
 * One measured run in a fresh process: `node dist/worker.js <scenario> <system> <n>`.
 * Prints one JSON line `{eventsPerSec, ms, maxRssMB, cpuUsPerEvent}` on stdout; setup and teardown are not timed.
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { postgresAppend, postgresInbox } from "./scenarios/postgres.js";
import { postgresEngine } from "./scenarios/postgres-engine.js";
import type { RunFactory, System } from "./scenarios/scenario.js";
import { sqliteAppend, sqliteInbox } from "./scenarios/sqlite.js";

/** Every scenario the worker can run, by name. */
export const scenarios: Readonly<Record<string, RunFactory>> = {
  "sqlite.append": sqliteAppend,
  "sqlite.inbox": sqliteInbox,
  "postgres.append": postgresAppend,
  "postgres.inbox": postgresInbox,
  "postgres.engine": postgresEngine,
};

/** What a worker reports for one measured run. */
export interface RunResult {
  readonly eventsPerSec: number;
  readonly ms: number;
  readonly maxRssMB: number;
  readonly cpuUsPerEvent: number;
  /** The machine's 1-minute load average at the end of the measured work (other processes share the cores). */
  readonly load1: number;
}

async function main(argv: readonly string[]): Promise<void> {
  const [name = "", system = "", nArg = ""] = argv;
  const factory = scenarios[name];
  const n = Number(nArg);
  if (!factory || (system !== "eventferry" && system !== "raw") || !Number.isInteger(n) || n <= 0) {
    throw new Error(`usage: worker.js <${Object.keys(scenarios).join("|")}> <eventferry|raw> <n>`);
  }
  const run = factory(system as System, n);
  await run.setup();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run.run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  const load1 = loadavg()[0] ?? 0;
  await run.teardown();
  const result: RunResult = {
    eventsPerSec: n / (ms / 1000),
    ms,
    maxRssMB,
    cpuUsPerEvent: (cpu.user + cpu.system) / n,
    load1,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
