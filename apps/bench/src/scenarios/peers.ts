/**
 * The peers on the end-to-end workload of `e2e.*` and on the fixed-rate latency workload, with the
 * settings that gave each its best figures in `/work/shared/anchors/peer-benchmarks.md`:
 *
 * - BullMQ 6.7.0 on Redis: `queue.addBulk` in chunks of 1,000; `Worker` concurrency 200,
 *   `removeOnComplete: {count: 0}`. Done = a `completed` event for every job.
 * - pg-boss 12.38.0 on PostgreSQL: `boss.insert` in batches of 1,000; `boss.work` with batchSize
 *   2,000, localConcurrency 2, burstWhenBatchFull, pollingIntervalSeconds 0.5. Done = N jobs in
 *   state `completed`.
 * - graphile-worker 0.18.0 on PostgreSQL: `addJobs` in batches of 1,000; `run()` with concurrency
 *   20, `localQueue.size` 1,000, `completeJobBatchDelay` 5. Done = the jobs table is empty.
 *
 * Each run uses its own BullMQ prefix / PostgreSQL schema and removes it afterwards. The peers are
 * loaded from `apps/bench/.peers/` (see `src/peers.ts`); the interfaces below are the few calls used.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { EventEnvelope } from "@eventferry/core";
import pg from "pg";
import { loadPeer } from "../peers.js";
import { chunks, makeEvents } from "../workload.js";
import { dropRedisKeys, dropSchema, REDIS_URL } from "./cleanup.js";
import { POSTGRES_URL } from "./postgres.js";
import { BATCH, isPeer, type Peer, type Run, type RunFactory, WARMUP } from "./scenario.js";

// ---------------------------------------------------------------------------------------------
// The slices of the peers' APIs this file calls

interface BullJob {
  readonly data: EventEnvelope;
}
interface BullQueue {
  addBulk(jobs: { name: string; data: unknown }[]): Promise<unknown>;
  add(name: string, data: unknown): Promise<unknown>;
  obliterate(options: { force: boolean }): Promise<void>;
  close(): Promise<void>;
}
interface BullWorker {
  on(event: "completed", listener: () => void): void;
  on(event: "failed", listener: (job: unknown, error: Error) => void): void;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
interface BullMQ {
  Queue: new (name: string, options: { connection: object; prefix: string }) => BullQueue;
  Worker: new (
    name: string,
    processor: (job: BullJob) => Promise<void>,
    options: { connection: object; prefix: string; concurrency: number; removeOnComplete: { count: number } },
  ) => BullWorker;
}

interface BossJob {
  readonly data: EventEnvelope;
}
interface PgBossInstance {
  on(event: "error", listener: (error: Error) => void): void;
  start(): Promise<unknown>;
  stop(options?: { graceful?: boolean; close?: boolean; timeout?: number }): Promise<void>;
  createQueue(name: string): Promise<void>;
  insert(name: string, jobs: { data: unknown }[]): Promise<unknown>;
  send(name: string, data: object): Promise<string | null>;
  work(name: string, options: object, handler: (jobs: BossJob[]) => Promise<void>): Promise<string>;
}
interface PgBossModule {
  PgBoss: new (options: { connectionString: string; schema: string }) => PgBossInstance;
}

interface GraphileJobSpec {
  identifier: string;
  payload: unknown;
}
interface GraphileUtils {
  migrate(): Promise<void>;
  addJobs(specs: GraphileJobSpec[]): Promise<unknown>;
  addJob(identifier: string, payload: unknown): Promise<unknown>;
  release(): Promise<void>;
}
interface GraphileRunner {
  stop(): Promise<void>;
}
interface GraphileWorkerModule {
  makeWorkerUtils(options: { connectionString: string; schema: string }): Promise<GraphileUtils>;
  run(options: {
    connectionString: string;
    schema: string;
    concurrency: number;
    noHandleSignals: boolean;
    logger?: unknown;
    taskList: Record<string, (payload: unknown) => Promise<void>>;
    preset: object;
  }): Promise<GraphileRunner>;
  Logger: new (factory: () => (level: string, message: string) => void) => unknown;
}

// ---------------------------------------------------------------------------------------------
// One peer as a producer and a consumer in one process

/**
 * A peer running in this process: `publish` enqueues (batched or one by one), the consumer calls
 * `onEvent` for every event it handles, `confirmed` asks the peer's storage whether `total` jobs
 * are done.
 */
export interface PeerPipeline {
  /** The settings used, for the report. */
  readonly settings: string;
  publishBatch(events: readonly EventEnvelope[]): Promise<void>;
  publishOne(event: EventEnvelope): Promise<unknown>;
  confirmed(total: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens a peer pipeline; `onEvent` runs in the peer's handler for every event. */
export async function openPeer(
  peer: Peer,
  onEvent: (event: EventEnvelope) => void,
  mode: "throughput" | "latency",
): Promise<PeerPipeline> {
  if (peer === "bullmq") return openBullmq(onEvent);
  if (peer === "pg-boss") return openPgBoss(onEvent, mode);
  return openGraphile(onEvent);
}

async function openBullmq(onEvent: (event: EventEnvelope) => void): Promise<PeerPipeline> {
  const { Queue, Worker } = await loadPeer<BullMQ>("bullmq");
  const url = new URL(REDIS_URL);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const prefix = `bench-bull-${process.pid}-${randomBytes(3).toString("hex")}`;
  const name = "orders";
  const queue = new Queue(name, { connection, prefix });
  let completed = 0;
  let failure: Error | undefined;
  const worker = new Worker(
    name,
    async (job) => {
      onEvent(job.data);
    },
    { connection, prefix, concurrency: 200, removeOnComplete: { count: 0 } },
  );
  worker.on("completed", () => {
    completed++;
  });
  worker.on("failed", (_job, error) => {
    failure = error;
  });
  await worker.waitUntilReady();
  return {
    settings:
      "addBulk chunks of 1,000 (latency: queue.add per event); Worker concurrency 200, removeOnComplete {count: 0}",
    async publishBatch(events) {
      await queue.addBulk(events.map((e) => ({ name: e.type, data: e })));
    },
    publishOne: (event) => queue.add(event.type, event),
    async confirmed(total) {
      if (failure) throw failure;
      return completed >= total;
    },
    async close() {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await dropRedisKeys(`${prefix}:*`);
    },
  };
}

async function openPgBoss(
  onEvent: (event: EventEnvelope) => void,
  mode: "throughput" | "latency",
): Promise<PeerPipeline> {
  const { PgBoss } = await loadPeer<PgBossModule>("pg-boss");
  const schema = `bench_pgboss_${process.pid}_${randomBytes(3).toString("hex")}`;
  const name = "orders";
  const boss = new PgBoss({ connectionString: POSTGRES_URL, schema });
  let failure: Error | undefined;
  boss.on("error", (error) => {
    failure = error;
  });
  await boss.start();
  await boss.createQueue(name);
  // Throughput: the anchors' best drain settings. Latency: their 2,000/s setting (polling only).
  const work =
    mode === "throughput"
      ? { batchSize: 2_000, localConcurrency: 2, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }
      : { batchSize: 100, localConcurrency: 2, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 };
  await boss.work(name, work, async (jobs) => {
    for (const job of jobs) onEvent(job.data);
  });
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  return {
    settings:
      mode === "throughput"
        ? "insert batches of 1,000; work batchSize 2,000, localConcurrency 2, burstWhenBatchFull, pollingIntervalSeconds 0.5"
        : "boss.send per event; work batchSize 100, localConcurrency 2, burstWhenBatchFull, polling only (pollingIntervalSeconds 0.5, the minimum)",
    async publishBatch(events) {
      await boss.insert(
        name,
        events.map((e) => ({ data: e })),
      );
    },
    publishOne: (event) => boss.send(name, event),
    async confirmed(total) {
      if (failure) throw failure;
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state = 'completed'`,
        [name],
      );
      return Number(rows[0]?.n ?? 0) >= total;
    },
    async close() {
      await boss.stop({ graceful: true, close: true, timeout: 5_000 });
      await pool.end();
      await dropSchema(schema);
    },
  };
}

async function openGraphile(onEvent: (event: EventEnvelope) => void): Promise<PeerPipeline> {
  const { makeWorkerUtils, run, Logger } = await loadPeer<GraphileWorkerModule>("graphile-worker");
  const schema = `bench_graphile_${process.pid}_${randomBytes(3).toString("hex")}`;
  const utils = await makeWorkerUtils({ connectionString: POSTGRES_URL, schema });
  await utils.migrate();
  // graphile-worker logs every job at debug level and its start/stop at info: keep only errors.
  const logger = new Logger(() => (level, message) => {
    if (level === "error") process.stderr.write(`graphile-worker: ${message}\n`);
  });
  const runner = await run({
    connectionString: POSTGRES_URL,
    schema,
    concurrency: 20,
    noHandleSignals: true,
    logger,
    taskList: {
      order_created: async (payload) => {
        onEvent(payload as EventEnvelope);
      },
    },
    preset: { worker: { localQueue: { size: 1_000 }, completeJobBatchDelay: 5 } },
  });
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  return {
    settings:
      "addJobs batches of 1,000 (latency: addJob per event); concurrency 20, localQueue.size 1,000, completeJobBatchDelay 5",
    async publishBatch(events) {
      await utils.addJobs(events.map((e) => ({ identifier: "order_created", payload: e })));
    },
    publishOne: (event) => utils.addJob("order_created", event),
    async confirmed(total) {
      void total;
      const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"._private_jobs`);
      return Number(rows[0]?.n ?? 1) === 0;
    },
    async close() {
      await runner.stop();
      await utils.release();
      await pool.end();
      await dropSchema(schema);
    },
  };
}

/** Waits until `check()` holds, polling every `everyMs`; throws after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, everyMs: number, timeoutMs: number) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not done after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A peer on the end-to-end workload of `e2e.*`: N events published in batches of 1,000 while the
 * consumer runs in the same process, a no-op handler; timed from the first publish until the peer's
 * storage confirms every job done. A warm-up of 2,000 events runs first, untimed.
 */
export function peerE2e(peer: Peer, n: number): Run {
  let pipeline: PeerPipeline | undefined;
  let handled = 0;
  let events: EventEnvelope[] = [];
  const publish = async (list: readonly EventEnvelope[]) => {
    for (const batch of chunks(list, BATCH)) await (pipeline as PeerPipeline).publishBatch(batch);
  };
  return {
    async setup() {
      pipeline = await openPeer(
        peer,
        () => {
          handled++;
        },
        "throughput",
      );
      await publish(makeEvents(WARMUP));
      await waitFor(() => handled >= WARMUP, 5, 120_000);
      await waitFor(() => (pipeline as PeerPipeline).confirmed(WARMUP), 5, 120_000);
      handled = 0;
      events = makeEvents(n);
    },
    async run() {
      const p = pipeline as PeerPipeline;
      await publish(events);
      await waitFor(() => handled >= n, 2, 600_000);
      await waitFor(() => p.confirmed(WARMUP + n), 2, 600_000);
    },
    async teardown() {
      await pipeline?.close();
    },
  };
}

/**
 * Wraps a scenario's factory so that its peer systems run {@link peerE2e} (the scenario's own
 * factory knows only `eventferry` and `raw`).
 */
export function withPeers(factory: RunFactory): RunFactory {
  return (system, n) => (isPeer(system) ? peerE2e(system, n) : factory(system, n));
}
