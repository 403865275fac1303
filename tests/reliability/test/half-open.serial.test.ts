// Half-open connections (the reliability issue, part 2): a TCP proxy between the worker and one
// server (PostgreSQL, Redis or NATS) goes silent — every open socket stays open but no byte moves
// either way — for longer than the relevant timeouts, then resumes, drops the connections, or
// never comes back (connections opened meanwhile work: only the old sockets are dead, as after a
// NAT or firewall lost their state). The producer and the test's own connections go direct.
// Pass: every event (published before, during and after the stall) has exactly one effect within
// the stated bound after the stall ended (or began, when it never ends); nothing left pending, in
// flight, leased or in the outbox; the worker process never died.
import { afterEach, describe, expect, it } from "vitest";
import {
  type Config,
  type ConfigFactory,
  Fleet,
  postgresStoreConfig,
  producer,
  publishOrders,
  scenarioId,
  settled,
  sleep,
  tally,
} from "./harness.js";
import { TcpProxy } from "./tcp-proxy.js";
import { transportConfigs } from "./transport-configs.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

type End = "resume" | "drop" | "never";

interface Target {
  readonly name: string;
  readonly factory: ConfigFactory;
  readonly port: number;
  /** The worker's config strings with the server's port replaced by the proxy's. */
  readonly through: (config: Config, proxyPort: number) => Record<string, string>;
  /** Which ends are run (every target survives all three). */
  readonly ends: readonly End[];
  /** True when the worker's timeouts replace the silent connections within the stall. */
  readonly replacesWithinStall: boolean;
}

const viaProxy = (url: string, port: number, serverPort: number): string =>
  url.replace(`127.0.0.1:${serverPort}`, `127.0.0.1:${port}`);

const targets: Target[] = [
  {
    name: "PostgreSQL (store and store: transport)",
    factory: postgresStoreConfig,
    port: 5432,
    // The store's own statements time out after queryTimeoutMs (their connections are dropped,
    // never reused), so a silent one is replaced after 3 s; the LISTEN connection is checked every
    // 2 s and replaced after no answer for 2 s more (polling covers the gap).
    through: (config, port) => ({
      EF_STORE: `${viaProxy(config.store, port, 5432)}&queryTimeoutMs=3000&listenerCheckMs=2000`,
    }),
    ends: ["resume", "drop", "never"],
    replacesWithinStall: true,
  },
  {
    name: "Redis (PostgreSQL + Redis)",
    factory: transportConfigs[0]?.[1] as ConfigFactory,
    port: 6379,
    // Blocking reads BLOCK 1 s, watchdog 2 s past it: a silent read is abandoned after 3 s.
    // The command connection's socket timeout is watchdogMs too: a silent one is replaced after 2 s.
    through: (config, port) => ({
      EF_TRANSPORT: `${viaProxy(config.transport, port, 6379)}&blockMs=1000&watchdogMs=2000`,
    }),
    ends: ["resume", "drop", "never"],
    replacesWithinStall: true,
  },
  {
    name: "NATS (PostgreSQL + NATS)",
    factory: transportConfigs[1]?.[1] as ConfigFactory,
    port: 4222,
    through: (config, port) => ({
      EF_TRANSPORT: `${viaProxy(config.transport, port, 4222)}&fetchExpires=2s`,
    }),
    // Two unanswered PINGs (every 5 s) find the connection stale: 10-15 s, longer than the stall;
    // the case that never ends shows it.
    ends: ["resume", "drop", "never"],
    replacesWithinStall: false,
  },
];

const STALL_MS = 5_000;
const BOUND_MS = 30_000;

const cases = targets.flatMap((t) => t.ends.map((end) => [t.name, end, t] as const));

describe("half-open connections between the worker and a server", () => {
  it.each(cases)("%s: stalls %s", async (_name, end, target) => {
    const config = await target.factory(scenarioId());
    const proxy = await TcpProxy.start({ host: "127.0.0.1", port: target.port });
    const fleet = new Fleet(config, {
      EF_LEASE: "3000",
      EF_LOG: "warn", // printed when the case fails: which connections were replaced, what failed
      ...target.through(config, proxy.port),
    });
    const ferry = await producer(config);
    cleanups.push(async () => {
      await fleet.stopAll();
      await proxy.close();
      await ferry.stop({ timeout: 2_000 });
      await config.close();
    });
    await fleet.spawn();
    const expected = new Set<string>();
    const publish = async (prefix: string, n: number) => {
      await publishOrders(ferry, n, { chunk: 100, prefix, keys: 20 });
      for (let i = 0; i < n; i++) expected.add(`${prefix}-${i}`);
    };
    await publish("before", 200);
    await settled(config, expected, BOUND_MS);

    const acceptedBefore = proxy.accepted;
    const stalled = proxy.stall();
    const stalledAt = Date.now();
    expect(stalled).toBeGreaterThan(0);
    await publish("during", 600);
    await sleep(Math.max(0, STALL_MS - (Date.now() - stalledAt)));
    const reconnectsDuringStall = proxy.accepted - acceptedBefore;
    if (end === "resume") proxy.resume();
    else if (end === "drop") proxy.drop();
    // "never": the stalled sockets stay open and silent until the test ends.
    const endedAt = end === "never" ? stalledAt : Date.now();
    await publish("after", 300);

    const { rows, byOrder } = await settled(config, expected, BOUND_MS).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `${reason}\n${reconnectsDuringStall} new connections during the stall\n${fleet.logs()}`,
      );
    });
    const tookMs = Date.now() - endedAt;
    console.log(
      `${target.name}, stall ${STALL_MS} ms then ${end}: ${stalled} connections stalled, ${reconnectsDuringStall} new ones during the stall, ${proxy.heldBytes} bytes held; all ${expected.size} events done ${tookMs} ms after the stall ${end === "never" ? "began" : "ended"}`,
    );
    expect(tookMs).toBeLessThan(BOUND_MS);
    expect([...byOrder].filter(([, n]) => n > 1)).toEqual([]);
    expect(tally(rows).doubled).toEqual([]);
    expect(rows).toHaveLength(expected.size);
    expect(await config.unfinished()).toBe(0);
    expect(await config.leftovers()).toEqual({ inboxLeases: 0, outboxLeases: 0, outboxUnpublished: 0 });
    expect(fleet.exits).toEqual([]);
    expect(fleet.alive).toHaveLength(1);
    // A silent socket that never comes back is only survived through new connections.
    if (end === "never") expect(proxy.accepted).toBeGreaterThan(acceptedBefore);
    if (target.replacesWithinStall) expect(reconnectsDuringStall).toBeGreaterThanOrEqual(1);
  });
});
