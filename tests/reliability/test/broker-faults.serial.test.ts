// Broker faults under a running inbox (the reliability issue, part 1): Redis restarted without
// persistence, its workers' connections killed and every client paused during blocking reads; a
// nats-server killed with SIGKILL and restarted five times while publishing and consuming. The
// producer publishes with explicit ids and retries what it could not hand over; every event
// whose publish resolved must get exactly one effect, nothing may stay pending, in flight, leased
// or in the outbox, and no worker may die.
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  type Config,
  type ConfigFactory,
  Fleet,
  producer,
  REDIS_URL,
  scenarioId,
  settled,
  sleep,
  tally,
  waitFor,
} from "./harness.js";
import { BackgroundPublisher } from "./publisher.js";
import { killNats, natsAnswers, restoreServers, startNats, startRedis, stopRedis } from "./servers.js";
import { transportConfigs } from "./transport-configs.js";

const redisConfig = transportConfigs[0]?.[1] as ConfigFactory;
/** How long before a restart without persistence an acknowledged entry may still be unread. */
const LOSS_WINDOW_MS = 500;
const natsConfig = transportConfigs[1]?.[1] as ConfigFactory;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Whatever happened, Redis and NATS run again for the tests (and the CI) after these.
  await restoreServers();
  while (cleanups.length > 0) await cleanups.pop()?.();
});
afterAll(restoreServers);

/** A config whose transport URL gets extra query parameters (for the workers or the producer). */
function withParams(config: Config, params: string): Config {
  return { ...config, transport: `${config.transport}&${params}` };
}

async function open(factory: ConfigFactory, workerParams: string, producerParams: string) {
  const config = await factory(scenarioId());
  // EF_LOG: the workers' warnings, printed when a case fails (see verify).
  const fleet = new Fleet(withParams(config, workerParams), { EF_LEASE: "3000", EF_LOG: "warn" });
  const ferry = await producer(withParams(config, producerParams));
  cleanups.push(async () => {
    await fleet.stopAll();
    await ferry.stop({ timeout: 2_000 }).catch(() => {});
    await config.close();
  });
  return { config, fleet, ferry };
}

/**
 * Waits until an event acknowledged after `since` has its effect: how long the workers took to
 * resume after a fault ended.
 */
async function resumed(config: Config, publisher: BackgroundPublisher, since: number, boundMs: number) {
  let seen = 0;
  await waitFor(
    async () => {
      const after = new Set(publisher.ackedAfter(since));
      if (after.size === 0) return false;
      const rows = await config.effects().catch(() => []);
      seen = rows.filter((r) => after.has(r.order_id)).length;
      return seen > 0;
    },
    boundMs,
    async () =>
      `no effect of the ${publisher.ackedAfter(since).length} events acknowledged since the fault ended`,
  );
  return Date.now() - since;
}

/**
 * `mayLose`: orderIds a fault may lose by design (an entry Redis acknowledged but had not handed
 * to a worker when it died without persistence); each of them still has at most one effect.
 */
async function verify(
  config: Config,
  fleet: Fleet,
  publisher: BackgroundPublisher,
  workers: number,
  mayLose: ReadonlySet<string> = new Set(),
) {
  const expected = new Set([...publisher.acked].filter((id) => !mayLose.has(id)));
  const { rows, byOrder } = await settled(config, expected, 60_000).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason}\n${fleet.logs()}`);
  });
  const doubled = [...byOrder].filter(([, n]) => n > 1);
  expect(doubled).toEqual([]);
  expect(tally(rows).doubled).toEqual([]);
  for (const id of expected) expect(byOrder.get(id), id).toBe(1);
  // Effects only of events the producer published (acknowledged or not: none other exist).
  expect(rows.length).toBeGreaterThanOrEqual(expected.size);
  expect(await config.unfinished()).toBe(0);
  expect(await config.leftovers()).toEqual({ inboxLeases: 0, outboxLeases: 0, outboxUnpublished: 0 });
  expect(fleet.exits).toEqual([]);
  expect(fleet.alive).toHaveLength(workers);
  return { rows, expected };
}

describe("Redis faults (PostgreSQL + Redis)", () => {
  it("restart without persistence, killed connections, CLIENT PAUSE 3000 ALL: workers resume within 15 s, one effect per acknowledged event", async () => {
    const name = `w${scenarioId()}`;
    // Short watchdog and claim interval: the scenario measures seconds, not the 10 s defaults.
    const { config, fleet, ferry } = await open(
      redisConfig,
      `connectionName=${name}&watchdogMs=3000`,
      "connectionName=producer",
    );
    await fleet.spawn();
    await fleet.spawn();
    const publisher = new BackgroundPublisher(ferry, "r", {
      chunk: 50,
      pauseMs: 50,
      keys: 40,
      max: 100_000,
    }).start();
    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    admin.on("error", () => {});
    cleanups.push(async () => admin.disconnect());
    const resumeTimes: Record<string, number> = {};

    await sleep(2_000);
    // 1. Restart: SHUTDOWN NOSAVE, then the machine's start command. Entries Redis acknowledged
    // in the last moments before it died and no worker had read yet die with it (documented: turn
    // on AOF if that matters). Events acknowledged more than LOSS_WINDOW_MS before the shutdown,
    // and every event acknowledged after the restart, must have their effect: the workers keep up
    // with this rate by far more than that.
    const shutdownAt = Date.now();
    await stopRedis();
    // An XADD answered while SHUTDOWN was on its way was acknowledged after shutdownAt: as lossy.
    const stoppedAt = Date.now();
    await sleep(1_000);
    await startRedis();
    const restartedAt = Date.now();
    resumeTimes.restart = await resumed(config, publisher, restartedAt, 15_000);

    // 2. The workers' connections killed by name (CLIENT KILL ID for each of them).
    await sleep(1_000);
    const list = String(await admin.call("CLIENT", "LIST", "TYPE", "normal"));
    const ids = list
      .split("\n")
      .filter((line) => line.includes(` name=${name}:`))
      .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    // Two workers, each with a command and a blocking connection at least.
    expect(ids.length).toBeGreaterThanOrEqual(4);
    for (const id of ids) await admin.call("CLIENT", "KILL", "ID", id);
    const killedAt = Date.now();
    resumeTimes.clientKill = await resumed(config, publisher, killedAt, 15_000);

    // 3. Every client paused for 3 s while the workers sit in XREADGROUP BLOCK.
    await sleep(1_000);
    await admin.call("CLIENT", "PAUSE", "3000", "ALL");
    const pausedAt = Date.now();
    await sleep(3_000);
    resumeTimes.pause = await resumed(config, publisher, pausedAt + 3_000, 15_000);

    await sleep(1_000);
    await publisher.stop();
    const mayLose = new Set(
      [...publisher.ackedAt]
        .filter(([, at]) => at > shutdownAt - LOSS_WINDOW_MS && at <= stoppedAt)
        .map(([id]) => id),
    );
    const { rows, expected } = await verify(config, fleet, publisher, 2, mayLose);
    const lost = [...mayLose].filter((id) => !rows.some((r) => r.order_id === id)).length;
    console.log(
      `Redis faults: ${expected.size} acknowledged events (+${mayLose.size} acknowledged just before the restart, ${lost} of them lost with it), ${rows.length} effects, ${publisher.retries} publish retries, ${ids.length} connections killed, resumed after (ms) ${JSON.stringify(resumeTimes)}`,
    );
    expect(publisher.failures).toEqual([]);
    expect(expected.size).toBeGreaterThan(1_000);
  });
});

describe("NATS faults (PostgreSQL + NATS)", () => {
  it("nats-server SIGKILLed and restarted five times while publishing and consuming: one effect per acknowledged event", async () => {
    const { config, fleet, ferry } = await open(natsConfig, "fetchExpires=2s", "publishTimeout=1s");
    await fleet.spawn();
    await fleet.spawn();
    const publisher = new BackgroundPublisher(ferry, "n", {
      chunk: 50,
      pauseMs: 50,
      keys: 40,
      max: 100_000,
    }).start();
    const resumeTimes: number[] = [];
    const downtimes: number[] = [];
    await sleep(2_000);
    for (let round = 0; round < 5; round++) {
      const killedAt = Date.now();
      await killNats();
      await sleep(300 + Math.floor(Math.random() * 700));
      await startNats();
      const upAt = Date.now();
      downtimes.push(upAt - killedAt);
      expect(await natsAnswers()).toBe(true);
      resumeTimes.push(await resumed(config, publisher, upAt, 20_000));
      await sleep(500 + Math.floor(Math.random() * 1_000));
    }
    await sleep(1_000);
    await publisher.stop();
    const { rows, expected } = await verify(config, fleet, publisher, 2);
    console.log(
      `NATS faults: ${expected.size} acknowledged events, ${rows.length} effects, ${publisher.retries} publish retries, down (ms) ${JSON.stringify(downtimes)}, resumed after (ms) ${JSON.stringify(resumeTimes)}`,
    );
    expect(publisher.failures).toEqual([]);
    expect(expected.size).toBeGreaterThan(1_000);
  });
});
