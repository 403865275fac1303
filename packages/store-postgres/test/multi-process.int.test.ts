import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type EventEnvelope, uuidv7 } from "@eventferry/core";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createPostgresStore, type PostgresStore } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, "fixtures", "claim-worker.mjs");
const builtEntry = join(here, "..", "dist", "index.js");

const TOTAL = 50_000;
const RECORD_BATCH = 1_000;
const WORKERS = 4;
const CONSUMER = "billing/send-invoice";

interface WorkerResult {
  readonly count: number;
  readonly leaseLost: number;
  readonly ms: number;
  readonly ids: string[];
}

/** A child running the fixture: `ready` resolves on its `ready` line, `done` on a clean exit. */
interface Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly done: Promise<WorkerResult>;
}

function startWorker(schema: string, name: string, outFile: string): Worker {
  const child = spawn(process.execPath, [fixture, POSTGRES_URL, schema, CONSUMER, name, outFile], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) onReady();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<WorkerResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code !== 0) {
        reject(new Error(`${name} exited with ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
        return;
      }
      const last = stdout.trim().split("\n").at(-1) ?? "";
      const summary = JSON.parse(last) as Omit<WorkerResult, "ids">;
      resolve({ ...summary, ids: JSON.parse(readFileSync(outFile, "utf8")) as string[] });
    });
  });
  // An early exit must not leave `ready` pending forever.
  done.then(onReady, onReady);
  return { child, ready, done };
}

function event(): EventEnvelope {
  return {
    id: uuidv7(),
    type: "order.created",
    data: { n: 1 },
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
  };
}

const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const children: ChildProcess[] = [];
const schema = `efr_mp_${randomBytes(6).toString("hex")}`;
const outDir = mkdtempSync(join(tmpdir(), "ef-claim-workers-"));
let store: PostgresStore | undefined;

describe.runIf(available)("store-postgres: several processes claiming one inbox", () => {
  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await store?.close();
    await dropSchema(admin, schema);
    await admin.end();
    rmSync(outDir, { recursive: true, force: true });
  });

  it(`four processes claiming ${TOTAL} events concurrently: each handled once, none missed`, async () => {
    expect(
      existsSync(builtEntry),
      "the worker imports the built package: run `npx tsup` in packages/store-postgres",
    ).toBe(true);
    store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 2, listen: false });
    await store.migrate();

    const t0 = Date.now();
    const recorded = new Set<string>();
    for (let offset = 0; offset < TOTAL; offset += RECORD_BATCH) {
      const events = Array.from({ length: RECORD_BATCH }, event);
      for (const e of events) recorded.add(e.id);
      const result = await store.inbox.record({
        entries: events.map((e) => ({ consumer: CONSUMER, event: e, maxAttempts: 3 })),
      });
      expect(result).toEqual({ inserted: RECORD_BATCH, duplicates: 0 });
    }
    const recordMs = Date.now() - t0;
    // Fresh statistics so the claim plan is the indexed one from the first claim on.
    await admin.query(`ANALYZE "${schema}"."ef_inbox"`);

    const workers = Array.from({ length: WORKERS }, (_, i) =>
      startWorker(schema, `efr-mp-worker-${i}`, join(outDir, `worker-${i}.json`)),
    );
    await Promise.all(workers.map((w) => w.ready));
    const t1 = Date.now();
    for (const w of workers) w.child.stdin?.end("go\n");
    const results = await Promise.all(workers.map((w) => w.done));
    const claimMs = Date.now() - t1;

    const counts = results.map((r) => r.count);
    const union = new Set(results.flatMap((r) => r.ids));
    console.info(
      `[multi-process] recorded ${TOTAL} in ${recordMs} ms; ${WORKERS} processes handled them in ${claimMs} ms (counts ${counts.join(", ")})`,
    );

    for (const r of results) {
      expect(r.leaseLost).toBe(0);
      expect(r.ids.length).toBe(r.count);
      expect(r.count).toBeGreaterThan(0);
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(union.size).toBe(TOTAL);
    expect([...union].filter((id) => !recorded.has(id))).toEqual([]);
    expect(await store.inbox.stats({ consumers: [CONSUMER] })).toMatchObject({
      completed: TOTAL,
      pending: 0,
      inFlight: 0,
      dead: 0,
    });
  });
});
