// Tests that disturb every client of the server: CLIENT PAUSE during a blocking read, and a
// restart of Redis (SHUTDOWN NOSAVE, then started again). Serial phase only; Redis is running
// again at the end even when a test fails.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import type { Delivery, EncodedEvent, Subscription } from "@eventferry/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createRedisTransport, type RedisTransport } from "../src/index.js";
import { adminClient, available, deleteKeys, REDIS_URL, testPrefix } from "./setup.js";

const servicesScript = fileURLToPath(new URL("../../../tooling/services/services.mjs", import.meta.url));
const local = /^redis:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/?$/.test(REDIS_URL.replace(/\?.*$/, ""));
const canRestart = local && existsSync("/usr/bin/redis-server") && existsSync(servicesScript);

function events(count: number, tag: string): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    type: "t.happened",
    payload: `{"i":${i}}`,
  }));
}

function collect(sub: Subscription): { got: Delivery[]; done: Promise<void> } {
  const got: Delivery[] = [];
  const done = (async () => {
    for await (const batch of sub.batches()) {
      got.push(...batch);
      await sub.ackMany(batch).catch(() => {}); // an ack lost to the restart: redelivered, counted once below
    }
  })();
  return { got, done };
}

async function waitUntil(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${ms} ms: ${what()}`);
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Sends one inline command on a plain socket (no client, no retries); resolves with the first reply or "" when the socket closes. */
function rawCommand(command: string): Promise<string> {
  const url = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    const finish = (reply: string) => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(1_000, () => finish(""));
    socket.on("error", () => finish(""));
    socket.on("close", () => finish(""));
    socket.on("connect", () => socket.write(`${command}\r\n`));
    socket.on("data", (data) => finish(data.toString()));
  });
}

/** True when the server answers PING within 1 s. */
async function redisAnswers(): Promise<boolean> {
  return (await rawCommand("PING")).startsWith("+PONG");
}

/** Starts Redis when it is down (the command of tooling/services) and waits until it answers. */
async function ensureRedisRunning(): Promise<void> {
  if (await redisAnswers()) return;
  execFileSync(process.execPath, [servicesScript, "ensure"], { stdio: "ignore", timeout: 30_000 });
  await waitUntil(redisAnswers, 15_000, () => "Redis to answer after the restart");
}

describe.runIf(available)("disruption (serial)", () => {
  const transports: RedisTransport[] = [];
  const prefixes: string[] = [];
  afterEach(async () => {
    await ensureRedisRunning();
    for (const t of transports.splice(0)) await within(t.close(), 10_000, "transport.close()");
  });
  afterAll(async () => {
    await ensureRedisRunning();
    const admin = adminClient();
    for (const p of prefixes) await deleteKeys(admin, p);
    await admin.quit();
  });
  const make = (name: string) => {
    const prefix = testPrefix(name);
    prefixes.push(prefix);
    const t = createRedisTransport({ url: REDIS_URL, prefix, blockMs: 500 });
    transports.push(t);
    return t;
  };

  it("survives CLIENT PAUSE during a blocking read: publishes and reads resume, nothing hangs", async () => {
    const t = make("pause");
    const sub = await t.subscribe("jobs", { group: "g", consumer: "c", ackTimeoutMs: 5_000 });
    const { got } = collect(sub);
    await t.publish("jobs", events(1, "before"));
    await waitUntil(
      () => got.length >= 1,
      5_000,
      () => "before the pause",
    );
    await new Promise((r) => setTimeout(r, 100)); // blocked in XREADGROUP now
    const admin = adminClient();
    try {
      await admin.call("CLIENT", "PAUSE", 1_500, "ALL");
      const pausedAt = Date.now();
      const publishing = t.publish("jobs", events(5, "during"));
      await within(publishing, 10_000, "publish during CLIENT PAUSE");
      expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(1_000);
      await waitUntil(
        () => got.length >= 6,
        10_000,
        () => `${got.length} of 6 after the pause`,
      );
      await t.publish("jobs", events(2, "after"));
      await waitUntil(
        () => got.length >= 8,
        5_000,
        () => `${got.length} of 8`,
      );
      expect(got.map((d) => d.event.id)).toEqual([
        "before-0",
        ...events(5, "during").map((e) => e.id),
        "after-0",
        "after-1",
      ]);
      expect((await t.health()).status).toBe("healthy");
    } finally {
      await admin.call("CLIENT", "UNPAUSE").catch(() => {});
      admin.disconnect();
    }
  });

  it.runIf(canRestart)(
    "survives a Redis restart without persistence: re-creates its group, delivers what is published after",
    async () => {
      const t = make("restart");
      const sub = await t.subscribe("jobs", { group: "g", consumer: "c", ackTimeoutMs: 2_000 });
      const { got, done } = collect(sub);
      await t.publish("jobs", events(3, "before"));
      await waitUntil(
        () => got.length >= 3,
        5_000,
        () => "before the restart",
      );

      await rawCommand("SHUTDOWN NOSAVE"); // what `redis-cli shutdown nosave` sends; the reply is the closed socket
      await waitUntil(
        async () => !(await redisAnswers()),
        10_000,
        () => "Redis to stop",
      );
      // While it is down, health says so (and does not hang).
      const down = await within(t.health(), 4_000, "health() while Redis is down");
      expect(down.status).toBe("unhealthy");
      await new Promise((r) => setTimeout(r, 500));
      await ensureRedisRunning();

      // Published right after the restart: delivered although the stream and group are gone.
      await within(t.publish("jobs", events(5, "after")), 20_000, "publish after the restart");
      await waitUntil(
        () => new Set(got.map((d) => d.event.id)).size >= 8,

        20_000,
        () => `${new Set(got.map((d) => d.event.id)).size} of 8 after the restart`,
      );
      const ids = new Set(got.map((d) => d.event.id));
      for (const e of events(5, "after")) expect(ids.has(e.id)).toBe(true);
      expect((await t.health()).status).toBe("healthy");
      await within(sub.close(), 5_000, "subscription.close() after the restart");
      await within(done, 5_000, "the iteration to end");
    },
  );
});
