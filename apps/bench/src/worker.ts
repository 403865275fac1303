/**
 * One measured run in a fresh process: `node dist/worker.js <scenario> <system> <n>`.
 * Prints one JSON line (a {@link RunResult}) on stdout; setup and teardown are not timed.
 */
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { writeHeapSnapshot } from "node:v8";
import { e2eNatsPostgres, e2eRedisPostgres, e2eSqlite } from "./scenarios/e2e.js";
import { latencyRedisPostgres, latencySqlite } from "./scenarios/latency.js";
import { metricsOverhead } from "./scenarios/metrics.js";
import { natsConsume, natsPublish } from "./scenarios/nats.js";
import { outboxNats, outboxRedis } from "./scenarios/outbox.js";
import { withPeers } from "./scenarios/peers.js";
import { postgresAppend, postgresInbox } from "./scenarios/postgres.js";
import { postgresEngine } from "./scenarios/postgres-engine.js";
import { redisConsume, redisPublish } from "./scenarios/redis.js";
import { scaleRedisPostgres, scaleRedisPostgresBacklog } from "./scenarios/scaling.js";
import type { RunFactory, RunOutcome, System } from "./scenarios/scenario.js";
import { sqliteAppend, sqliteInbox } from "./scenarios/sqlite.js";
import { systemsOf } from "./systems.js";

/** Every scenario the worker can run, by name. */
export const scenarios: Readonly<Record<string, RunFactory>> = {
  "sqlite.append": sqliteAppend,
  "sqlite.inbox": sqliteInbox,
  "postgres.append": postgresAppend,
  "postgres.inbox": postgresInbox,
  "postgres.engine": postgresEngine,
  "nats.publish": natsPublish,
  "nats.consume": natsConsume,
  "redis.publish": redisPublish,
  "redis.consume": redisConsume,
  "metrics.overhead": metricsOverhead,
  "e2e.sqlite": e2eSqlite,
  "e2e.redis-postgres": withPeers(e2eRedisPostgres),
  "e2e.nats-postgres": e2eNatsPostgres,
  "outbox.redis": outboxRedis,
  "outbox.nats": outboxNats,
  "latency.redis-postgres": latencyRedisPostgres,
  "latency.sqlite": latencySqlite,
  "scale.redis-postgres": scaleRedisPostgres,
  "scale.redis-postgres.backlog": scaleRedisPostgresBacklog,
};

/** What a worker reports for one measured run. */
export interface RunResult {
  readonly eventsPerSec: number;
  readonly ms: number;
  readonly maxRssMB: number;
  readonly cpuUsPerEvent: number;
  /** The machine's 1-minute load average at the end of the measured work (other processes share the cores). */
  readonly load1: number;
  /** Events the measured work handled (N, or the fixed-rate count of a latency scenario). */
  readonly events?: number;
  /** Latency scenarios: publish → handler p50 / p99 in ms, and the send queue left at the end of the window. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly backlogAtEnd?: number;
  /** With `--expose-gc`: heap in use right after the measured work and a forced full GC (garbage vs. live data). */
  readonly heapAfterGcMB?: number;
}

async function main(argv: readonly string[]): Promise<void> {
  const [name = "", system = "", nArg = ""] = argv;
  const factory = scenarios[name];
  const n = Number(nArg);
  if (
    !factory ||
    !(systemsOf(name) as readonly string[]).includes(system) ||
    !Number.isInteger(n) ||
    n <= 0
  ) {
    throw new Error(
      `usage: worker.js <${Object.keys(scenarios).join("|")}> <${factory ? systemsOf(name).join("|") : "system"}> <n>`,
    );
  }
  const run = factory(system as System, n);
  await run.setup();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const outcome: RunOutcome = (await run.run()) ?? {};
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  const load1 = loadavg()[0] ?? 0;
  const gc = (globalThis as { gc?: () => void }).gc;
  let heapAfterGcMB: number | undefined;
  if (gc) {
    gc();
    heapAfterGcMB = process.memoryUsage().heapUsed / 2 ** 20;
    // Diagnostics: BENCH_HEAP_SNAPSHOT=<dir> writes a heap snapshot of what the run left live.
    if (process.env.BENCH_HEAP_SNAPSHOT)
      writeHeapSnapshot(join(process.env.BENCH_HEAP_SNAPSHOT, `${name}-${system}.heapsnapshot`));
  }
  await run.teardown();
  const events = outcome.events ?? n;
  const result: RunResult = {
    eventsPerSec: events / (ms / 1000),
    ms,
    maxRssMB,
    cpuUsPerEvent: (cpu.user + cpu.system) / events,
    load1,
    ...outcome,
    ...(heapAfterGcMB === undefined ? {} : { heapAfterGcMB }),
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
