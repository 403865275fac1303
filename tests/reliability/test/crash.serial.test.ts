// The inbox's crash tests (issue 7), on real processes and real servers, for each configuration:
// workers killed with SIGKILL at random moments, a worker paused with SIGSTOP past its lease, and
// poison events (one that always throws, one that kills the process).
import { afterEach, describe, expect, it } from "vitest";
import {
  type Config,
  type ConfigFactory,
  Fleet,
  producer,
  publishOrders,
  scenarioId,
  sleep,
  sqliteStoreConfig,
  tally,
  waitFor,
} from "./harness.js";
import { transportConfigs } from "./transport-configs.js";

const configs: Array<[string, ConfigFactory]> = [["SQLite + store:", sqliteStoreConfig], ...transportConfigs];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function open(factory: ConfigFactory, env: Record<string, string> = {}) {
  const config = await factory(scenarioId());
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
  const rows = await config.effects();
  const { distinct, doubled } = tally(rows);
  return `${distinct}/${expected} events have an effect, ${doubled.length} doubled, ${await config.unfinished()} unfinished`;
}

describe.each(configs)("crash tests: %s", (_name, factory) => {
  it("20k events; the worker is SIGKILLed ten times at random moments: exactly one effect per event", async () => {
    const N = 20_000;
    const { config, fleet, ferry } = await open(factory, { EF_LEASE: "2000" });
    let worker = await fleet.spawn();
    const publishing = publishOrders(ferry, N, { chunk: 500, pauseMs: 20 });
    for (let kill = 0; kill < 10; kill++) {
      await sleep(200 + Math.floor(Math.random() * 800));
      await fleet.kill(worker);
      worker = await fleet.spawn();
    }
    await publishing;
    await waitFor(
      async () => tally(await config.effects()).distinct >= N && (await config.unfinished()) === 0,
      90_000,
      () => progress(config, N),
    );
    // Whatever is still in flight somewhere would show up now.
    await sleep(500);
    const rows = await config.effects();
    const { distinct, doubled } = tally(rows);
    expect(fleet.exits.filter((e) => e === "SIGKILL")).toHaveLength(10);
    expect(doubled).toEqual([]);
    expect(distinct).toBe(N);
    expect(rows).toHaveLength(N);
    expect(await config.unfinished()).toBe(0);
  });

  it("a worker paused with SIGSTOP past its lease, then resumed, changes nothing another worker already did", async () => {
    const N = 3_000;
    const { config, fleet, ferry } = await open(factory, { EF_LEASE: "1000" });
    const paused = await fleet.spawn();
    await fleet.spawn();
    const publishing = publishOrders(ferry, N, { chunk: 250, pauseMs: 10 });
    await sleep(300);
    paused.kill("SIGSTOP");
    await sleep(3_000); // three leases
    paused.kill("SIGCONT");
    await publishing;
    await waitFor(
      async () => tally(await config.effects()).distinct >= N && (await config.unfinished()) === 0,
      60_000,
      () => progress(config, N),
    );
    await sleep(1_000); // the resumed worker's late completions, if any, would land now
    const rows = await config.effects();
    expect(tally(rows).doubled).toEqual([]);
    expect(rows).toHaveLength(N);
    expect(await config.unfinished()).toBe(0);
  });

  it("poison events: one that always throws and one that kills the process end in dead letters after max attempts", async () => {
    const N = 200;
    const attempts = 3;
    const { config, fleet, ferry } = await open(factory, {
      EF_LEASE: "1000",
      EF_ATTEMPTS: String(attempts),
      EF_POISON: "o-50",
      EF_CRASH: "o-120",
    });
    // A supervisor: a worker that dies is replaced, as a process manager would.
    let supervising = true;
    const supervisor = (async () => {
      while (supervising) {
        if (fleet.alive.length === 0) await fleet.spawn().catch(() => {});
        await sleep(100);
      }
    })();
    await fleet.spawn();
    await publishOrders(ferry, N, { chunk: 100 });
    const deadIds = async () => (await ferry.deadLetters.list({ limit: 100 })).map((d) => d.event?.data);
    await waitFor(
      async () =>
        (await ferry.deadLetters.list({ limit: 100 })).length >= 2 && (await config.unfinished()) === 0,
      90_000,
      async () => `${await progress(config, N - 2)}; dead letters: ${JSON.stringify(await deadIds())}`,
    );
    supervising = false;
    await supervisor;
    const dead = await ferry.deadLetters.list({ limit: 100 });
    const orderOf = (d: (typeof dead)[number]): string =>
      (d.event?.data as { orderId?: string } | undefined)?.orderId ?? "";
    const summary = dead.map((d) => ({
      orderId: orderOf(d),
      attempts: d.attempts,
      reason: d.reason,
      history: d.history.map((h) => `${h.attempt}:${h.error.name}`),
    }));
    expect(summary.map((d) => d.orderId).sort(), JSON.stringify(summary)).toEqual(["o-120", "o-50"]);
    const poison = dead.find((d) => orderOf(d) === "o-50");
    expect(poison?.attempts).toBe(attempts);
    // Each attempt failed by throwing — or, when a crash of o-120 took its process down while the
    // poison event was in flight there, by its lease expiring: that attempt counts too.
    const poisonErrors = poison?.history.map((h) => h.error.message) ?? [];
    expect(poisonErrors).toHaveLength(attempts);
    for (const message of poisonErrors)
      expect(message).toMatch(/^poison o-50$|^the lease of attempt \d+ expired before the attempt finished$/);
    expect(poisonErrors).toContain("poison o-50");
    const crasher = dead.find((d) => orderOf(d) === "o-120");
    expect(crasher?.attempts).toBe(attempts);
    expect(crasher?.reason).toContain("lease expired");
    expect(fleet.exits.filter((e) => e === "SIGKILL").length).toBeGreaterThanOrEqual(attempts);
    // Every other event has exactly one effect; the poison event's writes were all rolled back.
    const rows = await config.effects();
    expect(tally(rows).doubled).toEqual([]);
    expect(rows.map((r) => r.order_id)).not.toContain("o-50");
    expect(rows).toHaveLength(N - 2);
  });
});
