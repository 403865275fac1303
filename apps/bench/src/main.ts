/**
 * `pnpm bench [scenario…] [--n 100000] [--runs 3] [--json]`: runs every scenario beside its raw-driver
 * baseline, alternating the two, each measured run in a fresh Node process (`dist/worker.js`).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { System } from "./scenarios/scenario.js";
import type { RunResult } from "./worker.js";

/** The scenarios of this harness, in the order they run by default. */
export const SCENARIOS = [
  "sqlite.append",
  "sqlite.inbox",
  "postgres.append",
  "postgres.inbox",
  "postgres.engine",
] as const;

/** Summary of the runs of one scenario for one system. */
export interface Summary {
  readonly scenario: string;
  readonly system: System;
  readonly runs: readonly RunResult[];
  readonly medianEventsPerSec: number;
  readonly minEventsPerSec: number;
  readonly maxEventsPerSec: number;
  /** Median events/s over the raw baseline's median events/s (1 for the baseline itself). */
  readonly ratioToRaw: number;
  /** Largest peak RSS of the runs. */
  readonly maxRssMB: number;
  /** Median CPU µs per event of the measured process. */
  readonly cpuUsPerEvent: number;
  /** Median 1-minute load average of the machine at the end of the runs. */
  readonly load1: number;
}

interface Options {
  scenarios: string[];
  n: number;
  runs: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { scenarios: [], n: 100_000, runs: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") continue;
    if (arg === "--json") options.json = true;
    else if (arg === "--n" || arg === "--runs") {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) throw new Error(`${arg} needs a positive integer`);
      if (arg === "--n") options.n = value;
      else options.runs = value;
    } else if ((SCENARIOS as readonly string[]).includes(arg)) options.scenarios.push(arg);
    else throw new Error(`unknown argument ${arg}; scenarios: ${SCENARIOS.join(", ")}`);
  }
  if (options.scenarios.length === 0) options.scenarios = [...SCENARIOS];
  return options;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function runWorker(scenario: string, system: System, n: number): RunResult {
  const worker = fileURLToPath(new URL("./worker.js", import.meta.url));
  const stdout = execFileSync(process.execPath, [worker, scenario, system, String(n)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as RunResult;
}

function summarize(scenario: string, system: System, runs: RunResult[], rawMedian: number): Summary {
  const eps = runs.map((r) => r.eventsPerSec);
  const med = median(eps);
  return {
    scenario,
    system,
    runs,
    medianEventsPerSec: med,
    minEventsPerSec: Math.min(...eps),
    maxEventsPerSec: Math.max(...eps),
    ratioToRaw: med / rawMedian,
    maxRssMB: Math.max(...runs.map((r) => r.maxRssMB)),
    cpuUsPerEvent: median(runs.map((r) => r.cpuUsPerEvent)),
    load1: median(runs.map((r) => r.load1)),
  };
}

const int = (x: number): string => Math.round(x).toLocaleString("en-US");

function table(rows: readonly Summary[]): string {
  const head =
    "| Scenario | System | events/s (median) | min–max | ratio to raw | peak RSS (MB) | CPU µs/event | load (1 min) |";
  const lines = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.system} | ${int(r.medianEventsPerSec)} | ${int(r.minEventsPerSec)}–${int(r.maxEventsPerSec)} | ${r.ratioToRaw.toFixed(2)} | ${int(r.maxRssMB)} | ${r.cpuUsPerEvent.toFixed(1)} | ${r.load1.toFixed(1)} |`,
  );
  return [head, "|---|---|---:|---:|---:|---:|---:|---:|", ...lines].join("\n");
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const summaries: Summary[] = [];
  for (const scenario of options.scenarios) {
    const results: Record<System, RunResult[]> = { eventferry: [], raw: [] };
    for (let run = 0; run < options.runs; run++) {
      const order: System[] = run % 2 === 0 ? ["eventferry", "raw"] : ["raw", "eventferry"];
      for (const system of order) {
        const r = runWorker(scenario, system, options.n);
        results[system].push(r);
        process.stderr.write(
          `${scenario} ${system} run ${run + 1}/${options.runs}: ${int(r.eventsPerSec)} events/s (${int(r.ms)} ms, load ${r.load1.toFixed(1)})\n`,
        );
      }
    }
    const rawMedian = median(results.raw.map((r) => r.eventsPerSec));
    summaries.push(summarize(scenario, "eventferry", results.eventferry, rawMedian));
    summaries.push(summarize(scenario, "raw", results.raw, rawMedian));
  }
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ n: options.n, runs: options.runs, results: summaries }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `N = ${int(options.n)} events, ${options.runs} run(s) per system\n\n${table(summaries)}\n`,
    );
  }
}

main();
