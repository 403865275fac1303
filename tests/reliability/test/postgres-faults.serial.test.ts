// PostgreSQL faults under a running inbox (issues 4 and 12): the server restarted (fast and
// immediate shutdown) and backends terminated every 2 s. Workers must survive (no process dies),
// resume on their own, and leave exactly one effect per event.
import { execSync } from "node:child_process";
import { readdirSync } from "node:fs";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Config,
  Fleet,
  POSTGRES_URL,
  postgresStoreConfig,
  producer,
  publishOrders,
  scenarioId,
  sleep,
  tally,
  waitFor,
} from "./harness.js";

const version = readdirSync("/etc/postgresql")[0];

function pgctl(action: string): void {
  execSync(`pg_ctlcluster --skip-systemctl-redirect ${version} main ${action}`, { stdio: "ignore" });
}

async function waitForPostgres(timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Whatever happened, PostgreSQL runs again for the tests after these.
  try {
    await waitForPostgres(2_000);
  } catch {
    pgctl("start");
    await waitForPostgres();
  }
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(n: number) {
  const config = await postgresStoreConfig(scenarioId());
  const fleet = new Fleet(config, { EF_LEASE: "3000" });
  // The producer connects under its own application_name: only the workers' backends are terminated.
  const ferry = await producer({
    ...config,
    store: config.store.replace(/application_name=[^&]+/, "application_name=producer"),
  });
  cleanups.push(async () => {
    await fleet.stopAll();
    await ferry.stop({ timeout: 2_000 }).catch(() => {});
    await config.close();
  });
  await fleet.spawn();
  await fleet.spawn();
  if (n > 0) await publishOrders(ferry, n, { chunk: 1_000 });
  return { config, fleet, ferry };
}

async function finish(config: Config, fleet: Fleet, n: number): Promise<void> {
  await waitFor(
    async () => {
      try {
        return tally(await config.effects()).distinct >= n && (await config.unfinished()) === 0;
      } catch {
        return false; // the test's own pool may still be reconnecting
      }
    },
    90_000,
    async () => `${tally(await config.effects()).distinct}/${n} events have an effect`,
  );
  await sleep(500);
  const rows = await config.effects();
  expect(tally(rows).doubled).toEqual([]);
  expect(rows).toHaveLength(n);
  expect(await config.unfinished()).toBe(0);
  // No worker died of the fault: both are the ones started before it.
  expect(fleet.exits).toEqual([]);
  expect(fleet.alive).toHaveLength(2);
}

describe("PostgreSQL faults under a running inbox (PostgreSQL + store:)", () => {
  it("restarted with a fast, then an immediate shutdown mid-run: workers resume, one effect per event", async () => {
    const N = 10_000;
    const { config, fleet } = await setup(N);
    await sleep(300);
    pgctl("restart -m fast");
    await waitForPostgres();
    await sleep(1_500);
    pgctl("restart -m immediate");
    await waitForPostgres();
    await finish(config, fleet, N);
  });

  it("every 2 s the workers' backends are terminated: workers resume, one effect per event", async () => {
    const N = 12_000;
    const { config, fleet, ferry } = await setup(0);
    const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    admin.on("error", () => {});
    cleanups.push(() => admin.end());
    let terminated = 0;
    for (let round = 0; round < 6; round++) {
      await publishOrders(ferry, N / 6, { chunk: 500, prefix: `r${round}` });
      await sleep(2_000);
      const { rows } = await admin.query<{ n: number }>(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1",
        [config.schema],
      );
      terminated += rows[0]?.n ?? 0;
    }
    expect(terminated).toBeGreaterThan(0);
    await finish(config, fleet, N);
  });
});
