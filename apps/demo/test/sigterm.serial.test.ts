// SIGTERM in the middle of a load, on the built demo (`node dist/main.js`, as `pnpm demo` runs it):
// it exits 0 within the shutdown timeout, and after a restart on the same SQLite file every
// accepted order's order.created has been handled exactly once — nothing lost, nothing doubled.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anOrder } from "./harness.js";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const mainJs = join(appDir, "dist", "main.js");
const dir = mkdtempSync(join(tmpdir(), "eventferry-demo-sigterm-"));
const dbPath = join(dir, "demo.db");
const SHUTDOWN_TIMEOUT_MS = 5_000;
const CUSTOMERS = 10;
const ORDERS = 300;

interface Demo {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node dist/main.js` on the test's SQLite file and waits for its URL. */
async function startDemo(): Promise<Demo> {
  const child = spawn(process.execPath, ["--enable-source-maps", mainJs], {
    cwd: appDir,
    env: {
      PATH: process.env.PATH,
      EVENTFERRY_STORE: `sqlite:${dbPath}`,
      EVENTFERRY_TRANSPORT: "store:",
      PORT: "0",
      EVENTFERRY_LOG_LEVEL: "warn",
      EVENTFERRY_SHUTDOWN_TIMEOUT: `${SHUTDOWN_TIMEOUT_MS}ms`,
      // Webhook retries up to a second later: some are still due when SIGTERM comes, for the restart
      // to finish. The cap keeps an unlucky run of failures (0.3^k) from backing off past the wait.
      EVENTFERRY_RETRY_DELAY: "1s",
      EVENTFERRY_RETRY_MAX_DELAY: "1s",
      EVENTFERRY_RETRY_ATTEMPTS: "20",
      EVENTFERRY_WEBHOOK_FAILURE_RATE: "0.3",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const url = /Listening on (http:\/\/\S+) /.exec(output)?.[1];
    if (url) return { child, url, output: () => output, exited };
    if (child.exitCode !== null) throw new Error(`the demo exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`the demo did not start within 30 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const started: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(mainJs)) {
    // CI builds before the tests; a fresh checkout running this file alone builds here.
    // Under `pnpm test:serial`, npm_execpath is pnpm's own script; else a pnpm on the PATH.
    const pnpm = process.env.npm_execpath;
    if (pnpm && /\.[cm]?js$/.test(pnpm)) {
      execFileSync(process.execPath, [pnpm, "run", "build"], { cwd: appDir, stdio: "inherit" });
    } else {
      execFileSync("pnpm", ["run", "build"], { cwd: appDir, stdio: "inherit" });
    }
  }
}, 120_000);

afterAll(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("the built demo under SIGTERM", () => {
  it("exits 0 in the middle of a load, and handles every accepted order exactly once after a restart", async () => {
    const first = await startDemo();
    started.push(first.child);

    // A few hundred orders, 16 at a time; SIGTERM once a third of them were answered.
    const accepted = new Map<string, string>(); // eventId → customerId
    let answered = 0;
    let inFlight = 0;
    let inFlightAtSignal = -1;
    let signalledAt = 0;
    let next = 0;
    const worker = async () => {
      while (next < ORDERS) {
        const i = next++;
        const customerId = `sig-c-${i % CUSTOMERS}`;
        inFlight++;
        try {
          const res = await fetch(`${first.url}/orders`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(anOrder(customerId)),
          });
          const body = (await res.json()) as { eventId?: string };
          if (res.status === 201 && body.eventId) accepted.set(body.eventId, customerId);
        } catch {
          // Refused or reset after SIGTERM: not accepted.
        } finally {
          inFlight--;
          answered++;
        }
        if (answered >= ORDERS / 3 && signalledAt === 0) {
          inFlightAtSignal = inFlight;
          signalledAt = performance.now();
          first.child.kill("SIGTERM");
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const exit = await first.exited;
    const shutdownMs = performance.now() - signalledAt;

    expect(exit, first.output()).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 3_000);
    expect(inFlightAtSignal).toBeGreaterThan(0); // it really was in the middle of the load
    expect(accepted.size).toBeGreaterThanOrEqual(ORDERS / 3 - 16);
    expect(accepted.size).toBeLessThan(ORDERS);
    expect(first.output()).not.toMatch(/error|unhandled/i);

    const read = () => {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        const ids = (channel: string) =>
          new Set(
            (
              db
                .prepare(
                  "select event_id from demo_notifications where channel = ? and event_type = 'order.created'",
                )
                .all(channel) as { event_id: string }[]
            ).map((row) => row.event_id),
          );
        const stats = db.prepare("select customer_id, orders from demo_customer_stats").all() as {
          customer_id: string;
          orders: number;
        }[];
        const orders = (db.prepare("select count(*) as n from demo_orders").get() as { n: number }).n;
        return { emails: ids("email"), webhooks: ids("webhook"), stats, orders };
      } finally {
        db.close();
      }
    };
    // The stop left work behind: webhook retries due after the exit (they are in the store).
    const afterFirst = read();
    expect(afterFirst.webhooks.size).toBeLessThan(afterFirst.orders);

    // Restart on the same file: what was left (retrying, claimed, in the outbox) is finished.
    const second = await startDemo();
    started.push(second.child);
    const deadline = Date.now() + 40_000;
    let state = read();
    while (
      state.emails.size < state.orders ||
      state.webhooks.size < state.orders ||
      state.stats.reduce((n, s) => n + s.orders, 0) < state.orders
    ) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
      state = read();
    }
    // A moment more, so that a doubled handling would show in the counters.
    await new Promise((resolve) => setTimeout(resolve, 500));
    state = read();

    second.child.kill("SIGTERM");
    expect(await second.exited, second.output()).toEqual({ code: 0, signal: null });

    // Nothing lost: every accepted order (and any other committed one) has its one email.
    for (const eventId of accepted.keys()) {
      expect(state.emails.has(eventId), eventId).toBe(true);
      expect(state.webhooks.has(eventId), eventId).toBe(true);
    }
    expect(state.emails.size).toBe(state.orders);
    expect(state.webhooks.size).toBe(state.orders);
    // Nothing doubled: the stats handler adds 1 per handling, so its counts equal the orders.
    const perCustomer = new Map<string, number>();
    for (const customerId of accepted.values())
      perCustomer.set(customerId, (perCustomer.get(customerId) ?? 0) + 1);
    expect(state.stats.reduce((n, s) => n + s.orders, 0)).toBe(state.orders);
    for (const { customer_id, orders } of state.stats) {
      expect(orders).toBeGreaterThanOrEqual(perCustomer.get(customer_id) ?? 0);
    }
  }, 110_000);
});
