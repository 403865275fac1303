// Issue 12's load scenarios on PostgreSQL + Redis (the production configuration): many workers and
// small batches; a failure mix of events that throw and events that kill their process.
import { afterEach, describe, expect, it } from "vitest";
import { type Config, Fleet, producer, publishOrders, scenarioId, sleep, tally, waitFor } from "./harness.js";
import { transportConfigs } from "./transport-configs.js";

const [, postgresRedis] = transportConfigs[0] as (typeof transportConfigs)[number];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function open(env: Record<string, string>) {
  const config = await postgresRedis(scenarioId());
  const fleet = new Fleet(config, env);
  const ferry = await producer(config);
  cleanups.push(async () => {
    await fleet.stopAll();
    await ferry.stop({ timeout: 2_000 });
    await config.close();
  });
  return { config, fleet, ferry };
}

async function progress(config: Config, expected: number): Promise<string> {
  const { distinct, doubled } = tally(await config.effects());
  return `${distinct}/${expected} events have an effect, ${doubled.length} doubled, ${await config.unfinished()} unfinished`;
}

/** 40k in CI; the 100k with `EF_FLEET_N=100000` (see README). */
const FLEET_N = Number(process.env.EF_FLEET_N ?? 40_000);

describe("load and failure mix on PostgreSQL + Redis", () => {
  it(`eight workers, ${FLEET_N / 1000}k events, batches of 10: no batch larger than asked, no event handled twice`, async () => {
    const N = FLEET_N;
    const { config, fleet, ferry } = await open({ EF_BATCH: "10", EF_LEASE: "5000" });
    await Promise.all(Array.from({ length: 8 }, () => fleet.spawn()));
    // Without keys: per-key order would hold each batch to one event per key.
    await publishOrders(ferry, N, { chunk: 1_000, keys: 0 });
    await waitFor(
      async () => tally(await config.effects()).distinct >= N && (await config.unfinished()) === 0,
      Math.max(120_000, N * 3),
      () => progress(config, N),
    );
    const rows = await config.effects();
    expect(tally(rows).doubled).toEqual([]);
    expect(rows).toHaveLength(N);
    expect(Math.max(...rows.map((r) => r.batch))).toBeLessThanOrEqual(10);
    // Batching happened (not one event per batch) and all eight workers took part.
    expect(rows.filter((r) => r.batch > 1).length).toBeGreaterThan(N / 2);
    expect(fleet.alive).toHaveLength(8);
  });

  it("1% of events throw and 0.5% kill their process: the dead letters hold exactly those", async () => {
    const N = 1_000;
    const attempts = 3;
    const { config, fleet, ferry } = await open({
      EF_LEASE: "1000",
      EF_ATTEMPTS: String(attempts),
      EF_THROW_EVERY: "100",
      EF_CRASH_EVERY: "200",
    });
    const throwers = new Set<string>();
    const crashers = new Set<string>();
    for (let n = 0; n < N; n++) {
      if (n % 200 === 3) crashers.add(`o-${n}`);
      else if (n % 100 === 7) throwers.add(`o-${n}`);
    }
    let supervising = true;
    const supervisor = (async () => {
      while (supervising) {
        if (fleet.alive.length < 2) await fleet.spawn().catch(() => {});
        await sleep(50);
      }
    })();
    await fleet.spawn();
    await fleet.spawn();
    await publishOrders(ferry, N, { chunk: 250 });
    const dead = async () => ferry.deadLetters.list({ limit: 1_000 });
    await waitFor(
      async () => (await dead()).length >= throwers.size + crashers.size && (await config.unfinished()) === 0,
      150_000,
      async () => `${await progress(config, N)}; ${(await dead()).length} dead letters`,
    );
    supervising = false;
    await supervisor;
    const letters = await dead();
    const orderOf = (d: (typeof letters)[number]) =>
      (d.event?.data as { orderId?: string } | undefined)?.orderId ?? "";
    expect(new Set(letters.map(orderOf))).toEqual(new Set([...throwers, ...crashers]));
    for (const letter of letters) expect(letter.attempts).toBe(attempts);
    const rows = await config.effects();
    expect(tally(rows).doubled).toEqual([]);
    expect(rows).toHaveLength(N - throwers.size - crashers.size);
  });
});
