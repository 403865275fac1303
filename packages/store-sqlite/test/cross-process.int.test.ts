import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type EventEnvelope, isEventferryError, uuidv7 } from "@eventferry/core";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createSqliteStore, type SqliteStore, type SqliteStoreOptions } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const childScript = fileURLToPath(new URL("./fixtures/hold-write-lock.mjs", import.meta.url));

function store(file: string, options: Partial<SqliteStoreOptions> = {}): SqliteStore {
  const s = createSqliteStore({ path: file, ...options });
  cleanups.push(() => s.close());
  return s;
}

function event(key?: string): EventEnvelope {
  return {
    id: uuidv7(),
    type: "order.created",
    data: {},
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
    ...(key ? { key } : {}),
  };
}

/** Starts the child; resolves once it holds the write lock. */
async function holdLock(file: string, holdMs: number, mode = ""): Promise<ChildProcess> {
  const child = spawn(process.execPath, [childScript, file, String(holdMs), mode], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("locked")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`child exited early with ${code}`)));
  });
  return child;
}

describe("several connections and processes on one file", () => {
  it("two stores (two connections, as two processes) claim concurrently without handing out an entry twice", async () => {
    const file = tmp.file("two-connections.db");
    const a = store(file);
    const b = store(file);
    await Promise.all([a.migrate(), b.migrate()]);
    const events = Array.from({ length: 400 }, (_, i) => event(i % 3 === 0 ? `k${i % 7}` : undefined));
    await a.inbox.record({ entries: events.map((e) => ({ consumer: "c", event: e, maxAttempts: 3 })) });
    const claimed: string[] = [];
    const worker = async (s: SqliteStore): Promise<void> => {
      for (;;) {
        const batch = await s.inbox.claim({ consumers: ["c"], limit: 25, leaseMs: 30_000 });
        if (batch.length === 0) {
          if ((await s.inbox.stats({ consumers: ["c"] })).pending === 0) return;
          continue;
        }
        claimed.push(...batch.map((e) => e.event.id));
        expect(
          await s.inbox.complete({ entries: batch.map((e) => ({ id: e.id, leaseToken: e.leaseToken })) }),
        ).toEqual(batch.map(() => "completed"));
      }
    };
    await Promise.all([worker(a), worker(b), worker(a), worker(b)]);
    expect(claimed).toHaveLength(400);
    expect(new Set(claimed).size).toBe(400);
    expect(await b.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, completed: 400 });
  });

  it("waits for another process's write lock within the busy timeout", async () => {
    const file = tmp.file("busy-wait.db");
    const s = store(file, { busyTimeoutMs: 5_000 });
    await s.migrate();
    await holdLock(file, 300);
    const started = Date.now();
    await s.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect((await s.inbox.stats()).pending).toBe(1);
    const db = new Database(file, { readonly: true });
    cleanups.push(() => db.close());
    expect((db.prepare("SELECT count(*) AS n FROM child_writes").get() as { n: number }).n).toBe(1);
  });

  it("reports a retryable SQLITE_BUSY error when the lock outlasts the busy timeout, and works once it is free", async () => {
    const file = tmp.file("busy-fail.db");
    const s = store(file, { busyTimeoutMs: 50 });
    await s.migrate();
    const child = await holdLock(file, 60_000, "crash");
    const err = await s.inbox
      .record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] })
      .catch((e) => e);
    expect(isEventferryError(err)).toBe(true);
    expect(err).toMatchObject({ code: "STORE_FAILED", retryable: true });
    expect(err.message).toMatch(/^\[eventferry:store-sqlite\] inbox\.record failed: .*SQLITE_BUSY/);
    // Reads still work in WAL mode while another process writes.
    expect((await s.inbox.stats()).pending).toBe(0);

    // The other process crashes mid-transaction: its lock goes with it, its write is rolled back.
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    await s.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
    expect((await s.inbox.stats()).pending).toBe(1);
    const db = new Database(file, { readonly: true });
    cleanups.push(() => db.close());
    expect((db.prepare("SELECT count(*) AS n FROM child_writes").get() as { n: number }).n).toBe(0);
  });

  it("a worker that dies holding a lease: another connection takes the entry over after the lease, attempt 2", async () => {
    const file = tmp.file("lease-takeover.db");
    const crashed = createSqliteStore({ path: file });
    await crashed.migrate();
    const e = event();
    await crashed.inbox.record({ entries: [{ consumer: "c", event: e, maxAttempts: 3 }] });
    const [lost] = await crashed.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 100 });
    await crashed.close(); // the process is gone: no complete, no release

    const survivor = store(file);
    expect(await survivor.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 })).toEqual([]);
    const deadline = Date.now() + 3_000;
    let taken: Awaited<ReturnType<SqliteStore["inbox"]["claim"]>> = [];
    while (taken.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      taken = await survivor.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 });
    }
    expect(taken.map((t) => [t.event.id, t.attempt])).toEqual([[e.id, 2]]);
    expect(
      await survivor.inbox.complete({ entries: [{ id: lost!.id, leaseToken: lost!.leaseToken }] }),
    ).toEqual(["lease-lost"]);
    expect(
      await survivor.inbox.complete({ entries: [{ id: taken[0]!.id, leaseToken: taken[0]!.leaseToken }] }),
    ).toEqual(["completed"]);
  });
});
