/**
 * `pnpm bench [scenario…] [scaling] [--n 100000] [--runs 3] [--json] [--profile]`: runs every scenario
 * beside its raw-driver baseline and, where they apply, the peers (BullMQ, pg-boss, graphile-worker),
 * alternating the systems run by run, each measured run in a fresh Node process (`dist/worker.js`);
 * then the latency scenarios and the scaling runs.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { environment } from "./environment.js";
import { ensurePeers } from "./peers.js";
import { type AltBaseline, isComparison, isPeer, type Peer, type System } from "./scenarios/scenario.js";
import { isLatency, RATE, SCALING_PLAN, SECONDS, systemsOf } from "./systems.js";
import type { RunResult } from "./worker.js";

/** The scenarios of this harness, in the order they run by default. */
export const SCENARIOS = [
  "sqlite.append",
  "sqlite.inbox",
  "postgres.append",
  "postgres.inbox",
  "postgres.engine",
  "nats.publish",
  "nats.consume",
  "redis.publish",
  "redis.consume",
  "metrics.overhead",
  "e2e.sqlite",
  "e2e.redis-postgres",
  "e2e.nats-postgres",
  "outbox.redis",
  "outbox.nats",
  "latency.redis-postgres",
  "latency.sqlite",
] as const;

/** `scaling`: the Eventferry inbox end to end at N = 10k, 100k, 1M (see `src/scenarios/scaling.ts`). */
const SCALING = "scaling";

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
  /** Median events/s over each peer's median events/s in the same scenario. */
  /** To the peers and to an alternative baseline (`raw-lease`), where the scenario runs them. */
  readonly ratioToPeers: Partial<Record<Peer | AltBaseline, number>>;
  /** Largest peak RSS of the runs. */
  readonly maxRssMB: number;
  /** Median CPU µs per event of the measured process. */
  readonly cpuUsPerEvent: number;
  /** Median 1-minute load average of the machine at the end of the runs. */
  readonly load1: number;
  /** Latency scenarios: median p50 / p99 of the runs (ms) and the largest send queue at the end of the window. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly backlogAtEnd?: number;
}

/** One scaling run. */
export interface ScalingRow {
  readonly scenario: string;
  readonly n: number;
  readonly result: RunResult;
}

interface Options {
  scenarios: string[];
  scaling: boolean;
  n: number;
  runs: number;
  json: boolean;
  profile: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = {
    scenarios: [],
    scaling: false,
    n: 100_000,
    runs: 3,
    json: false,
    profile: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") continue;
    if (arg === "--json") options.json = true;
    else if (arg === "--profile") options.profile = true;
    else if (arg === "--n" || arg === "--runs") {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) throw new Error(`${arg} needs a positive integer`);
      if (arg === "--n") options.n = value;
      else options.runs = value;
    } else if (arg === SCALING) options.scaling = true;
    else if ((SCENARIOS as readonly string[]).includes(arg)) options.scenarios.push(arg);
    else throw new Error(`unknown argument ${arg}; scenarios: ${[...SCENARIOS, SCALING].join(", ")}`);
  }
  if (options.scenarios.length === 0 && !options.scaling) {
    options.scenarios = [...SCENARIOS];
    options.scaling = !options.profile;
  }
  return options;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
/** `apps/bench/profiles/` (gitignored). */
const PROFILES_DIR = fileURLToPath(new URL("../profiles/", import.meta.url));

function runWorker(scenario: string, system: System, n: number, nodeArgs: readonly string[] = []): RunResult {
  const stdout = execFileSync(process.execPath, [...nodeArgs, WORKER, scenario, system, String(n)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as RunResult;
}

function summarize(
  scenario: string,
  system: System,
  runs: RunResult[],
  medians: Map<System, number>,
): Summary {
  const eps = runs.map((r) => r.eventsPerSec);
  const med = median(eps);
  const ratioToPeers: Partial<Record<Peer | AltBaseline, number>> = {};
  for (const [other, otherMedian] of medians)
    if (isComparison(other) && other !== system) ratioToPeers[other] = med / otherMedian;
  const p50 = runs.map((r) => r.p50Ms).filter((x): x is number => x !== undefined);
  const p99 = runs.map((r) => r.p99Ms).filter((x): x is number => x !== undefined);
  const backlog = runs.map((r) => r.backlogAtEnd).filter((x): x is number => x !== undefined);
  return {
    scenario,
    system,
    runs,
    medianEventsPerSec: med,
    minEventsPerSec: Math.min(...eps),
    maxEventsPerSec: Math.max(...eps),
    ratioToRaw: med / (medians.get("raw") ?? Number.NaN),
    ratioToPeers,
    maxRssMB: Math.max(...runs.map((r) => r.maxRssMB)),
    cpuUsPerEvent: median(runs.map((r) => r.cpuUsPerEvent)),
    load1: median(runs.map((r) => r.load1)),
    ...(p50.length > 0 ? { p50Ms: median(p50), p99Ms: median(p99) } : {}),
    ...(backlog.length > 0 ? { backlogAtEnd: Math.max(...backlog) } : {}),
  };
}

/** Runs that failed (the worker exited non-zero); the bench goes on and lists them under the tables. */
const failures: string[] = [];

/** {@link runWorker}, but a failed run is recorded in {@link failures} and yields `undefined`. */
function tryRunWorker(
  scenario: string,
  system: System,
  n: number,
  nodeArgs: readonly string[] = [],
): RunResult | undefined {
  try {
    return runWorker(scenario, system, n, nodeArgs);
  } catch (error) {
    const status = (error as { status?: number }).status;
    failures.push(`${scenario} ${system} N=${n} (exit ${status ?? "?"})`);
    process.stderr.write(`${scenario} ${system}: run FAILED (exit ${status ?? "?"})\n`);
    return undefined;
  }
}

/** Runs every system of a scenario `runs` times, alternating (run r starts r places further on). */
function measure(scenario: string, n: number, runs: number): Summary[] {
  const systems = systemsOf(scenario);
  const results = new Map<System, RunResult[]>(systems.map((s) => [s, []]));
  for (let run = 0; run < runs; run++) {
    const order = systems.map((_, i) => systems[(i + run) % systems.length] as System);
    for (const system of order) {
      const r = tryRunWorker(scenario, system, n);
      if (!r) continue;
      results.get(system)?.push(r);
      const lat = r.p50Ms !== undefined ? `, p50 ${fmtMs(r.p50Ms)} ms p99 ${fmtMs(r.p99Ms ?? 0)} ms` : "";
      process.stderr.write(
        `${scenario} ${system} run ${run + 1}/${runs}: ${int(r.eventsPerSec)} events/s (${int(r.ms)} ms${lat}, load ${r.load1.toFixed(1)})\n`,
      );
    }
  }
  const medians = new Map<System, number>();
  for (const [system, list] of results)
    if (list.length > 0) medians.set(system, median(list.map((r) => r.eventsPerSec)));
  return systems
    .filter((system) => (results.get(system) ?? []).length > 0)
    .map((system) => summarize(scenario, system, results.get(system) ?? [], medians));
}

const int = (x: number): string => Math.round(x).toLocaleString("en-US");
const fmtMs = (x: number): string => (x >= 100 ? int(x) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const PEER_LABEL: Record<Peer | AltBaseline, string> = {
  "raw-lease": "raw-lease",
  bullmq: "BullMQ",
  "pg-boss": "pg-boss",
  "graphile-worker": "graphile-worker",
};

function throughputTable(rows: readonly Summary[]): string {
  const head =
    "| Scenario | System | events/s (median) | min–max | runs | ratio to raw | ratio to peers | peak RSS (MB) | CPU µs/event | load (1 min) |";
  const lines = rows.map((r) => {
    const peers = Object.entries(r.ratioToPeers)
      .map(([peer, ratio]) => `${PEER_LABEL[peer as Peer | AltBaseline]} ${ratio.toFixed(2)}`)
      .join(" · ");
    const raw = Number.isFinite(r.ratioToRaw) ? r.ratioToRaw.toFixed(2) : "—";
    return `| ${r.scenario} | ${r.system} | ${int(r.medianEventsPerSec)} | ${int(r.minEventsPerSec)}–${int(r.maxEventsPerSec)} | ${r.runs.length} | ${raw} | ${peers || "—"} | ${int(r.maxRssMB)} | ${r.cpuUsPerEvent.toFixed(1)} | ${r.load1.toFixed(1)} |`;
  });
  return [head, "|---|---|---:|---:|---:|---:|---|---:|---:|---:|", ...lines].join("\n");
}

function latencyTable(rows: readonly Summary[]): string {
  const head =
    "| Scenario | System | rate × time | p50 (ms) | p99 (ms) | sends queued at 10 s | peak RSS (MB) | load (1 min) | note |";
  const lines = rows.map((r) => {
    const saturated = (r.backlogAtEnd ?? 0) > RATE / 2 || (r.p50Ms ?? 0) > 1_000;
    return `| ${r.scenario} | ${r.system} | ${int(RATE)}/s × ${SECONDS} s | ${fmtMs(r.p50Ms ?? Number.NaN)} | ${fmtMs(r.p99Ms ?? Number.NaN)} | ${int(r.backlogAtEnd ?? 0)} | ${int(r.maxRssMB)} | ${r.load1.toFixed(1)} | ${saturated ? "saturated (send queue grows)" : ""} |`;
  });
  return [head, "|---|---|---:|---:|---:|---:|---:|---:|---|", ...lines].join("\n");
}

function scalingTable(rows: readonly ScalingRow[]): string {
  const head =
    "| Case | N | events/s | time (s) | peak RSS (MB) | heap live after GC (MB) | CPU µs/event | load (1 min) |";
  const lines = rows.map(
    (r) =>
      `| ${r.scenario.endsWith(".backlog") ? "backlog (published first, then drained)" : "producer + consumer"} | ${int(r.n)} | ${int(r.result.eventsPerSec)} | ${(r.result.ms / 1000).toFixed(1)} | ${int(r.result.maxRssMB)} | ${r.result.heapAfterGcMB === undefined ? "—" : int(r.result.heapAfterGcMB)} | ${r.result.cpuUsPerEvent.toFixed(1)} | ${r.result.load1.toFixed(1)} |`,
  );
  return [head, "|---|---:|---:|---:|---:|---:|---:|---:|", ...lines].join("\n");
}

/**
 * `--profile`: each selected throughput scenario's Eventferry side once under `--cpu-prof`; the
 * profile of the slowest (lowest events/s) is kept in `apps/bench/profiles/`, the others deleted.
 */
function profile(options: Options): string {
  const candidates = options.scenarios.filter((s) => !isLatency(s));
  if (candidates.length === 0) throw new Error("--profile needs a throughput scenario");
  mkdirSync(PROFILES_DIR, { recursive: true });
  let slowest: { scenario: string; eps: number; file: string } | undefined;
  for (const scenario of candidates) {
    const dir = mkdtempSync(join(PROFILES_DIR, ".tmp-"));
    const r = runWorker(scenario, "eventferry", options.n, ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
    const written = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
    process.stderr.write(`${scenario} eventferry (profiled): ${int(r.eventsPerSec)} events/s\n`);
    const file = written[0];
    if (file && (!slowest || r.eventsPerSec < slowest.eps)) {
      if (slowest) rmSync(slowest.file, { force: true });
      const target = join(PROFILES_DIR, `${scenario}-eventferry-n${options.n}-${Date.now()}.cpuprofile`);
      renameSync(join(dir, file), target);
      slowest = { scenario, eps: r.eventsPerSec, file: target };
    }
    rmSync(dir, { recursive: true, force: true });
  }
  if (!slowest) throw new Error("the worker wrote no .cpuprofile");
  return slowest.file;
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const wantsPeers = options.scenarios.some((s) => systemsOf(s).some((system) => isPeer(system)));
  if (options.profile) {
    const file = profile(options);
    process.stdout.write(`CPU profile of the slowest scenario: ${file}\n`);
    return;
  }
  if (wantsPeers) ensurePeers();
  const started = Date.now();
  const summaries: Summary[] = [];
  for (const scenario of options.scenarios) {
    summaries.push(...measure(scenario, options.n, isLatency(scenario) ? 1 : options.runs));
  }
  const scaling: ScalingRow[] = [];
  if (options.scaling) {
    for (const [scenario, n] of SCALING_PLAN) {
      // --expose-gc: the worker reports the heap still live after a forced GC (garbage vs. retained).
      const result = tryRunWorker(scenario, "eventferry", n, ["--expose-gc"]);
      if (!result) continue;
      process.stderr.write(
        `${scenario} N=${int(n)}: ${int(result.eventsPerSec)} events/s, peak RSS ${int(result.maxRssMB)} MB\n`,
      );
      scaling.push({ scenario, n, result });
    }
  }
  const wallMin = (Date.now() - started) / 60_000;
  const env = environment(wantsPeers);
  const throughput = summaries.filter((s) => !isLatency(s.scenario));
  const latency = summaries.filter((s) => isLatency(s.scenario));
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ n: options.n, runs: options.runs, environment: env, wallMinutes: wallMin, results: throughput, latency, scaling, failures }, null, 2)}\n`,
    );
    return;
  }
  const parts = [
    `Machine: ${env.cores} cores (${env.cpu}), ${env.memoryGiB} GiB RAM; ${env.versions.node}; ${new Date(started).toISOString()}`,
    `Versions: ${Object.entries(env.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `N = ${int(options.n)} events, ${options.runs} run(s) per system (latency scenarios: 1 run); wall time ${wallMin.toFixed(1)} min`,
  ];
  if (throughput.length > 0) parts.push(throughputTable(throughput));
  if (latency.length > 0) parts.push(`Latency (publish → handler, fixed rate):\n\n${latencyTable(latency)}`);
  if (scaling.length > 0)
    parts.push(`Scaling (Eventferry inbox, Redis → PostgreSQL):\n\n${scalingTable(scaling)}`);
  if (failures.length > 0) parts.push(`Failed runs (left out of the figures): ${failures.join("; ")}`);
  process.stdout.write(`${parts.join("\n\n")}\n`);
}

main();
