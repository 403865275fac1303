import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../test/harness.js";
import type { LoadOptions } from "./load-options.js";
import { requestAt } from "./request-mix.js";
import { runLoad } from "./run-load.js";

function recorder() {
  const lines: string[] = [];
  const progress: string[] = [];
  return {
    lines,
    progress,
    io: {
      line: (t: string) => lines.push(t),
      progress: (t: string) => progress.push(t),
      now: () => performance.now(),
    },
  };
}

const options = (url: string, mode: LoadOptions["mode"]): LoadOptions => ({
  url,
  mode,
  concurrency: 8,
  drainMs: 10_000,
  intervalMs: 200,
});

describe("requestAt", () => {
  it("mixes orders, failed payments (half over $1,000), users and a flaky customer's orders", () => {
    const mix = Array.from({ length: 200 }, (_, i) => requestAt(i, "r"));
    const count = (kind: string) => mix.filter((r) => r.kind === kind).length;
    expect([count("order"), count("payment"), count("user"), count("flaky-order")]).toEqual([180, 10, 8, 2]);
    const amounts = mix.filter((r) => r.kind === "payment").map((r) => (r.body as { amount: number }).amount);
    expect(amounts.filter((a) => a > 1000)).toHaveLength(5);
  });
});

describe("runLoad", () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((t) => t.app.shutdown()));
  });

  it("sends a burst, follows the demo's metrics until the backlog drained, and sums up", async () => {
    const t = await startTestApp({ retryAttempts: 2 });
    apps.push(t);
    const out = recorder();
    const summary = await runLoad(options(t.url, { kind: "burst", count: 120 }), out.io);
    expect(summary).toMatchObject({ sent: 120, accepted: 120, unanswered: 0, rejected: {}, exitCode: 0 });
    // 107 orders × (email, webhook, stats, audit, + sms for a third) and the rest: well over 400 handler runs.
    expect(summary.handled).toBeGreaterThan(400);
    expect(summary.deadLettered).toBe(1); // the one flaky-forever order among 120
    expect(out.progress.length).toBeGreaterThan(0);
    expect(out.progress[0]).toMatch(
      /^\[ {2}\ds\] sent \d+\/s \(\d+ total, \d+ in flight\) · handled \d+\/s · lag p50 .+ · backlog -?\d+ .*retries \d+ · dead letters \d+$/,
    );
    expect(out.lines.at(-2)).toMatch(
      /^done in [\d.]+ s: 120 requests sent \(\d+\/s\), 120 accepted, 0 rejected, 0 unanswered$/,
    );
    expect(out.lines.at(-1)).toMatch(
      /^handlers: \d+ attempts succeeded .*1 dead-lettered; end-to-end lag p50/,
    );
    const audit = await t.call("GET", "/audit?limit=500");
    expect(audit.body.audit.length).toBeGreaterThanOrEqual(120);
  });

  it("exits 1 with a clear message when no demo answers", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const out = recorder();
    const summary = await runLoad(options(`http://127.0.0.1:${port}`, { kind: "burst", count: 10 }), out.io);
    expect(summary.exitCode).toBe(1);
    expect(out.lines).toEqual([
      `error: no demo answers at http://127.0.0.1:${port} (ECONNREFUSED); start it with \`pnpm demo\` (or pass --url)`,
    ]);
  });

  it("exits 1 when the demo goes away in the middle of the run", async () => {
    const t = await startTestApp();
    const out = recorder();
    const running = runLoad(options(t.url, { kind: "steady", rate: 50, durationMs: 20_000 }), out.io);
    await new Promise((resolve) => setTimeout(resolve, 700));
    await t.app.shutdown();
    const summary = await running;
    expect(summary.exitCode).toBe(1);
    expect(summary.sent).toBeGreaterThan(10);
    expect(out.lines.at(-1)).toMatch(
      new RegExp(
        `^error: the demo at ${t.url.replaceAll(".", "\\.")} stopped answering \\(ECONNREFUSED\\) after [\\d.]+ s; \\d+ requests sent, \\d+ accepted, \\d+ unanswered$`,
      ),
    );
  }, 15_000);
});
