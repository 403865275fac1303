// The long set (vitest project `long`, not in CI): memory of one worker process over a deep backlog
// and over a steady load, on PostgreSQL + Redis (the production configuration).
//
//   EF_SOAK_N        events of the large backlog (default 1,000,000; the small one is 10,000)
//   EF_SOAK_MINUTES  minutes of steady load (default 10, at least 2)
//   EF_SOAK_RATE     events/s of the steady load (default 1,000)
//
// Events are published without keys: a deep backlog over few keys is a known slow path of the
// PostgreSQL claim (README, "Known limit"), and these scenarios are about memory, not key order.
// Redis here keeps nothing on disk (`--save "" --appendonly no`): a Redis restart by something
// else (another run of broker-faults) loses the stream entries not read yet. Each scenario checks
// Redis's run_id and fails with that reason instead of reporting the loss as a finding.
// The worker's lease is 30 s: on a loaded 2-core machine a 2 s lease expires under a deep backlog
// and the retries would measure the lease, not the memory.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import {
  type Config,
  Fleet,
  OrderPlaced,
  POSTGRES_URL,
  producer,
  publishOrders,
  REDIS_URL,
  scenarioId,
  settled,
  sleep,
  tally,
  waitFor,
} from "./harness.js";
import { transportConfigs } from "./transport-configs.js";

const MiB = 1024 * 1024;
const SMALL_N = 10_000;
const LARGE_N = Number(process.env.EF_SOAK_N ?? 1_000_000);
const MINUTES = Number(process.env.EF_SOAK_MINUTES ?? 10);
const RATE = Number(process.env.EF_SOAK_RATE ?? 1_000);
const WORKER_ENV = { EF_LEASE: "30000" };

const postgresRedis = transportConfigs.find(([name]) => name === "PostgreSQL + Redis")?.[1];
if (!postgresRedis) throw new Error("transportConfigs has no PostgreSQL + Redis configuration");

const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const log = (line: string): void => {
  process.stdout.write(`[soak] ${line}\n`);
};

/** VmRSS and VmHWM (peak RSS) of a process, in bytes; undefined once it is gone. */
function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string): number =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;
    return { rss: field("VmRSS"), hwm: field("VmHWM") };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every second. */
class RssSampler {
  readonly samples: Array<{ at: number; rss: number }> = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    readonly since = Date.now(),
  ) {
    const take = (): void => {
      const m = memoryOf(pid);
      if (m) this.samples.push({ at: Date.now() - since, rss: m.rss });
    };
    take();
    this.#timer = setInterval(take, 1_000);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** When (ms since `since`) the highest sample was taken, and the median sample. */
  shape(): { peakAt: number; median: number } {
    let peakAt = 0;
    let max = -1;
    for (const s of this.samples)
      if (s.rss > max) {
        max = s.rss;
        peakAt = s.at;
      }
    const sorted = this.samples.map((s) => s.rss).sort((a, b) => a - b);
    return { peakAt, median: sorted[Math.floor(sorted.length / 2)] ?? 0 };
  }

  peak(from = 0, to = Number.POSITIVE_INFINITY): number {
    let max = 0;
    for (const s of this.samples) if (s.at >= from && s.at < to && s.rss > max) max = s.rss;
    return max;
  }
}

/**
 * The worker's heap after a full GC: asks it with SIGUSR1 every `everyMs` (worker started with
 * `--expose-gc` and EF_HEAP_SIGNAL=1) and collects its `heap <bytes>` answers.
 */
class HeapProbe {
  readonly samples: Array<{ at: number; bytes: number }> = [];
  readonly #timer: NodeJS.Timeout;

  constructor(
    child: ChildProcess,
    everyMs: number,
    readonly since = Date.now(),
  ) {
    let pending = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^heap (\d+)$/.exec(line.trim());
        if (m) this.samples.push({ at: Date.now() - since, bytes: Number(m[1]) });
      }
    });
    this.#timer = setInterval(() => child.kill("SIGUSR1"), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  in(from: number, to = Number.POSITIVE_INFINITY): number[] {
    return this.samples.filter((h) => h.at >= from && h.at < to).map((h) => h.bytes);
  }
}

/** Redis's run_id: it changes when the server restarts (and, here, loses its streams). */
async function redisRunId(): Promise<string> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const info = await redis.info("server");
    return /run_id:(\w+)/.exec(info)?.[1] ?? "unknown";
  } finally {
    redis.disconnect();
  }
}

/** Throws when Redis restarted since `runId` was read: the scenario's events may be gone with it. */
async function expectSameRedis(runId: string): Promise<void> {
  const now = await redisRunId().catch((error: unknown) => `unreachable (${String(error)})`);
  if (now !== runId)
    throw new Error(
      `Redis restarted during the scenario (run_id ${runId} → ${now}): it keeps no data on disk, so stream entries not read yet were lost with it. Something else restarted it (broker-faults?); rerun when nothing else does.`,
    );
}

/** The effects count and the inbox/outbox state, cheaply (settled() reads every effect row). */
async function state(db: pg.Pool, config: Config) {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${config.effectsTable}`);
  const left = await config.leftovers();
  return {
    effects: rows[0]?.n ?? 0,
    unfinished: await config.unfinished(),
    quiet: left.inboxLeases === 0 && left.outboxLeases === 0 && left.outboxUnpublished === 0,
    left,
  };
}

/** Exactly one effect per orderId `<prefix>-0` … `<prefix>-(n-1)`, nothing else, nothing unfinished. */
async function expectOneEffectEach(config: Config, prefix: string, n: number): Promise<void> {
  const expected = new Set<string>();
  for (let i = 0; i < n; i++) expected.add(`${prefix}-${i}`);
  const { rows, byOrder } = await settled(config, expected, 300_000);
  const { distinct, doubled } = tally(rows);
  let notOne = 0;
  for (const count of byOrder.values()) if (count !== 1) notOne++;
  expect({ rows: rows.length, distinct, doubled: doubled.length, orders: byOrder.size, notOne }).toEqual({
    rows: n,
    distinct: n,
    doubled: 0,
    orders: n,
    notOne: 0,
  });
  expect(await config.leftovers()).toEqual({ inboxLeases: 0, outboxLeases: 0, outboxUnpublished: 0 });
  expect(await config.unfinished()).toBe(0);
}

/** `first … last (min–max) MiB, n samples` of heap samples. */
function heapRange(xs: number[]): string {
  if (xs.length === 0) return "no samples";
  return `first ${mib(xs[0] ?? 0)}, last ${mib(xs[xs.length - 1] ?? 0)}, min ${mib(Math.min(...xs))}, max ${mib(Math.max(...xs))} MiB (${xs.length} samples)`;
}

interface DrainFigures {
  n: number;
  publishSeconds: number;
  drainSeconds: number;
  /** Highest VmRSS sampled every second while draining. */
  sampledPeak: number;
  /** VmHWM when the backlog was drained: the kernel's peak RSS of the process's whole life. */
  hwm: number;
  /** RSS right after the worker printed "ready". */
  startRss: number;
}

/**
 * Publishes `n` events while no worker runs (its consumer group exists: the worker ran once and
 * stopped), then starts one worker and lets it drain them, sampling its RSS every second.
 */
async function drainBacklog(n: number): Promise<DrainFigures> {
  const config = await postgresRedis!(scenarioId());
  const db = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  db.on("error", () => {});
  const fleet = new Fleet(config, { ...WORKER_ENV, EF_HEAP_SIGNAL: "1" }, { nodeArgs: ["--expose-gc"] });
  const runId = await redisRunId();
  try {
    // The worker creates the group (`XGROUP CREATE … $`) and the schema, then goes away.
    await fleet.spawn();
    await fleet.stopAll();
    const exitsBefore = fleet.exits.length;

    const ferry = await producer(config);
    const publishStart = Date.now();
    try {
      await publishOrders(ferry, n, { chunk: 1_000, keys: 0, prefix: "b" });
    } finally {
      await ferry.stop({ timeout: 5_000 });
    }
    const publishSeconds = (Date.now() - publishStart) / 1000;
    log(
      `backlog ${n}: published in ${publishSeconds.toFixed(0)} s (${(n / publishSeconds).toFixed(0)} events/s)`,
    );
    expect((await state(db, config)).effects).toBe(0);

    await expectSameRedis(runId);
    const drainStart = Date.now(); // the worker may start handling before it prints "ready"
    const worker = await fleet.spawn();
    const pid = worker.pid ?? -1;
    const startRss = memoryOf(pid)?.rss ?? 0;
    const sampler = new RssSampler(pid, drainStart);
    const probe = new HeapProbe(worker, 10_000, drainStart);
    let lastLog = drainStart;
    let drainedAt = 0;
    let hwm = 0;
    try {
      await waitFor(
        async () => {
          const s = await state(db, config).catch(() => undefined);
          if (!s) return false;
          if (Date.now() - lastLog >= 30_000) {
            await expectSameRedis(runId);
            lastLog = Date.now();
            log(
              `backlog ${n}: ${s.effects} effects after ${((lastLog - drainStart) / 1000).toFixed(0)} s, RSS ${mib(memoryOf(pid)?.rss ?? 0)} MiB, heap after GC ${probe
                .in(lastLog - drainStart - 30_000)
                .map(mib)
                .join(" ")} MiB`,
            );
          }
          if (s.effects >= n && drainedAt === 0) {
            drainedAt = Date.now();
            hwm = memoryOf(pid)?.hwm ?? 0;
          }
          return s.effects >= n && s.unfinished === 0 && s.quiet;
        },
        Math.max(600_000, n * 5), // 200 events/s at the least
        async () => JSON.stringify(await state(db, config)),
      );
    } finally {
      sampler.stop();
      probe.stop();
    }
    const drainSeconds = (drainedAt - drainStart) / 1000;
    const figures = { n, publishSeconds, drainSeconds, sampledPeak: sampler.peak(), hwm, startRss };
    log(
      `backlog ${n}: drained by one worker in ${drainSeconds.toFixed(0)} s (${(n / drainSeconds).toFixed(0)} events/s); RSS at ready ${mib(startRss)} MiB, peak sampled ${mib(figures.sampledPeak)} MiB at ${(sampler.shape().peakAt / 1000).toFixed(0)} s, median sampled ${mib(sampler.shape().median)} MiB, VmHWM ${mib(hwm)} MiB (${sampler.samples.length} samples); heap after GC while draining (every 10 s) ${heapRange(probe.in(0, drainedAt - drainStart))}`,
    );

    await expectSameRedis(runId);
    await expectOneEffectEach(config, "b", n);
    expect(fleet.exits.length).toBe(exitsBefore); // the worker never died
    return figures;
  } finally {
    await fleet.stopAll();
    await db.end();
    await config.close();
  }
}

describe("long: memory of one worker on PostgreSQL + Redis", () => {
  it(`backlog soak: draining ${LARGE_N} events peaks within 64 MiB of draining ${SMALL_N}`, {
    timeout: 6 * 3_600_000,
  }, async () => {
    const small = await drainBacklog(SMALL_N);
    const large = await drainBacklog(LARGE_N);
    log(
      `backlog RSS: ${SMALL_N} → VmHWM ${mib(small.hwm)} MiB (sampled ${mib(small.sampledPeak)}); ${LARGE_N} → VmHWM ${mib(large.hwm)} MiB (sampled ${mib(large.sampledPeak)}); difference ${mib(large.hwm - small.hwm)} MiB (limit 64)`,
    );
    expect(small.hwm).toBeGreaterThan(0);
    expect(large.hwm - small.hwm).toBeLessThanOrEqual(64 * MiB);
    expect(large.sampledPeak - small.sampledPeak).toBeLessThanOrEqual(64 * MiB);
  });

  it(`steady load: ${RATE} events/s for ${MINUTES} min; heap after GC in the last minute within max(10%, 4 MiB) of minute 2`, {
    timeout: (MINUTES + 30) * 60_000,
  }, async () => {
    if (!(MINUTES >= 2)) throw new Error(`EF_SOAK_MINUTES must be at least 2, got ${MINUTES}`);
    const config = await postgresRedis!(scenarioId());
    const db = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    db.on("error", () => {});
    const fleet = new Fleet(config, { ...WORKER_ENV, EF_HEAP_SIGNAL: "1" }, { nodeArgs: ["--expose-gc"] });
    const ferry = await producer(config);
    const runId = await redisRunId();
    try {
      const worker = await fleet.spawn();
      const pid = worker.pid ?? -1;
      const start = Date.now();
      const sampler = new RssSampler(pid, start);
      const probe = new HeapProbe(worker, 5_000, start);

      const durationMs = MINUTES * 60_000;
      const minutes: Array<{ published: number; effects: number }> = [];
      let published = 0;
      try {
        while (Date.now() - start < durationMs) {
          const elapsed = Date.now() - start;
          if (minutes.length < Math.floor(elapsed / 60_000)) {
            await expectSameRedis(runId);
            const s = await state(db, config);
            minutes.push({ published, effects: s.effects });
            const m = minutes.length;
            const inMinute = probe.in((m - 1) * 60_000, m * 60_000);
            log(
              `steady minute ${m}: published ${published}, effects ${s.effects}, heap after GC ${inMinute.map(mib).join(" ")} MiB, RSS peak ${mib(sampler.peak((m - 1) * 60_000, m * 60_000))} MiB`,
            );
          }
          const target = Math.floor((elapsed / 1000) * RATE);
          if (published >= target) {
            await sleep(20);
            continue;
          }
          const items = [];
          const end = Math.min(target, published + 1_000);
          for (let i = published; i < end; i++)
            items.push({ event: OrderPlaced, data: { orderId: `s-${i}`, n: i }, options: {} });
          await ferry.publishMany(items);
          published = end;
        }
        await sleep(6_000); // the last heap answer
      } finally {
        probe.stop();
        sampler.stop();
      }
      const endAt = Date.now() - start;
      const s = await state(db, config);
      log(
        `steady minute ${MINUTES}: published ${published}, effects ${s.effects}, heap after GC ${probe
          .in(durationMs - 60_000)
          .map(mib)
          .join(" ")} MiB, RSS peak ${mib(sampler.peak(durationMs - 60_000, endAt))} MiB`,
      );
      log(
        `steady: published ${published} in ${(durationMs / 1000).toFixed(0)} s (${(published / (durationMs / 1000)).toFixed(0)} events/s), ${s.effects} effects when publishing stopped`,
      );

      const median = (xs: number[]): number => {
        const sorted = [...xs].sort((a, b) => a - b);
        return sorted[Math.floor(sorted.length / 2)] ?? 0;
      };
      const minute2 = probe.in(60_000, 120_000);
      const last = probe.in(durationMs - 60_000, endAt);
      const heap2 = median(minute2);
      const heapLast = median(last);
      const heapLimit = heap2 + Math.max(0.1 * heap2, 4 * MiB);
      const rss2 = sampler.peak(60_000, 120_000);
      const rssLast = sampler.peak(durationMs - 60_000, endAt);
      const rssLimit = rss2 + Math.max(0.1 * rss2, 32 * MiB);
      log(
        `steady heap after GC (median): minute 2 ${mib(heap2)} MiB (${minute2.length} samples), last minute ${mib(heapLast)} MiB (${last.length} samples), limit ${mib(heapLimit)} MiB`,
      );
      log(
        `steady RSS peak: minute 2 ${mib(rss2)} MiB, last minute ${mib(rssLast)} MiB, limit ${mib(rssLimit)} MiB; VmHWM ${mib(memoryOf(pid)?.hwm ?? 0)} MiB`,
      );

      expect(minute2.length).toBeGreaterThanOrEqual(6);
      expect(last.length).toBeGreaterThanOrEqual(6);
      expect(heapLast).toBeLessThanOrEqual(heapLimit);
      expect(rssLast).toBeLessThanOrEqual(rssLimit);
      // The producer kept (nearly) the asked rate: otherwise this was not the asked load.
      expect(published).toBeGreaterThanOrEqual(Math.floor(RATE * (durationMs / 1000) * 0.95));

      await expectSameRedis(runId);
      await expectOneEffectEach(config, "s", published);
      expect(fleet.exits).toEqual([]); // the worker never died
    } finally {
      await fleet.stopAll();
      await ferry.stop({ timeout: 5_000 });
      await db.end();
      await config.close();
    }
  });
});
