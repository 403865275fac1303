// Trimming, health, credentials (ACL user, wrong password redacted), publish failures, a caller's
// own client, and the key layout.
import { type EncodedEvent, isEventferryError, PublishError } from "@eventferry/core";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import {
  createRedisTransport,
  createTransportFromUrl,
  parseTransportUrl,
  type RedisTransport,
} from "../src/index.js";
import { adminClient, available, deleteKeys, REDIS_URL, testPrefix } from "./setup.js";

const admin = adminClient();

function events(count: number, tag: string): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    type: "t.happened",
    payload: `{"i":${i}}`,
  }));
}

function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe.runIf(available)("operations", () => {
  const transports: RedisTransport[] = [];
  const prefixes: string[] = [];
  const make = (name: string, options: Partial<Parameters<typeof createRedisTransport>[0]> = {}) => {
    const prefix = testPrefix(name);
    prefixes.push(prefix);
    const t = createRedisTransport({ url: REDIS_URL, prefix, ...options });
    transports.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of transports) await t.close();
    for (const p of prefixes) await deleteKeys(admin, p);
    await admin.quit();
  });

  it("trims with MAXLEN ~ and exact MAXLEN", async () => {
    const approximate = make("trim-approx", { trim: { maxLen: 1_000 } });
    for (let i = 0; i < 10; i++) await approximate.publish("t", events(500, `a${i}`));
    const len = await admin.xlen(approximate.streamKey("t"));
    expect(len).toBeGreaterThanOrEqual(1_000);
    expect(len).toBeLessThan(5_000 / 2); // trimmed by whole macro nodes, but trimmed

    const exact = make("trim-exact", { trim: { maxLen: 10, exact: true } });
    await exact.publish("t", events(25, "e"));
    await exact.publish("t", events(5, "f"));
    expect(await admin.xlen(exact.streamKey("t"))).toBe(10);
    const last = (await admin.xrevrange(exact.streamKey("t"), "+", "-", "COUNT", 1))[0]!;
    expect(last[1][1]).toMatch(/^f-4\n/);
  });

  it("trims by age with MINID (server clock)", async () => {
    const t = make("trim-age", { trim: { maxAgeMs: 60_000, exact: true } });
    const key = t.streamKey("t");
    await admin.xadd(key, "1-0", "data", "ancient");
    await admin.xadd(key, `${Date.now() - 120_000}-0`, "data", "two minutes old");
    await t.publish("t", events(3, "new"));
    expect(await admin.xlen(key)).toBe(3);
  });

  it("uses one hash tag per topic for the stream and its delayed sets", async () => {
    const t = make("keys");
    const sub = await t.subscribe("orders.created", { group: "g", ackTimeoutMs: 60_000 });
    await t.publish("orders.created", events(1, "k"));
    const iterator = sub[Symbol.asyncIterator]();
    const d = (await iterator.next()).value!;
    await d.nack({ delayMs: 60_000 });
    const keys = (await admin.keys(`${t.prefix}:*`)).sort();
    expect(keys).toEqual([`${t.prefix}:{orders.created}`, `${t.prefix}:{orders.created}:delayed:g`]);
    await sub.close();
  });

  it("reports PING latency, the server version and durability facts", async () => {
    const t = make("health");
    const report = await t.health();
    expect(report.status).toBe("healthy");
    expect(report.component).toBe("transport-redis");
    expect(report.latencyMs).toBeGreaterThanOrEqual(0);
    expect(report.details?.serverVersion).toMatch(/^\d+\.\d+/);
    const durability = report.details?.durability as Record<string, unknown>;
    expect(typeof durability.aof).toBe("boolean");
    expect(durability).toHaveProperty("rdbSave");
    // Unreachable: unhealthy with a reason, no hang.
    const down = createRedisTransport({
      url: "redis://127.0.0.1:1",
      redisOptions: { retryStrategy: () => null },
    });
    const bad = await down.health();
    expect(bad.status).toBe("unhealthy");
    expect(bad.reasons[0]).toMatch(/health check failed \(redis:\/\/127\.0\.0\.1:1\)/);
    await down.close();
  });

  it("rejects a failed XADD with a PublishError listing the ids", async () => {
    const t = make("wrongtype");
    await admin.set(t.streamKey("t"), "not a stream");
    const error = await t.publish("t", events(3, "w")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).failedIds).toEqual(["w-0", "w-1", "w-2"]);
    expect((error as PublishError).message).toMatch(/WRONGTYPE/);
    // One event goes out as one XADD (no pipeline): the same error.
    const one = await t.publish("t", events(1, "x")).catch((e: unknown) => e);
    expect(one).toBeInstanceOf(PublishError);
    expect((one as PublishError).failedIds).toEqual(["x-0"]);
    expect((one as PublishError).message).toMatch(/WRONGTYPE/);
  });

  it("uses a caller's client without closing it (blocking reads on a duplicate)", async () => {
    const prefix = testPrefix("own-client");
    prefixes.push(prefix);
    const client = new Redis(REDIS_URL, { connectionName: `efown${process.pid}` });
    const t = createRedisTransport({ client, prefix, blockMs: 200 });
    const sub = await t.subscribe("t", { group: "g" });
    await t.publish("t", events(2, "o"));
    const got: string[] = [];
    for await (const batch of sub.batches()) {
      got.push(...batch.map((d) => d.event.id));
      await sub.ackMany(batch);
      if (got.length >= 2) break;
    }
    expect(got).toEqual(["o-0", "o-1"]);
    await t.close();
    expect(client.status).toBe("ready");
    expect(await client.ping()).toBe("PONG");
    await client.quit();
  });

  it("connects as an ACL user, and never shows a wrong password", async () => {
    const user = `efuser${process.pid}${Math.random().toString(36).slice(2, 6)}`;
    const password = `Pw-${Math.random().toString(36).slice(2)}-secret`;
    const prefix = testPrefix("acl");
    prefixes.push(prefix);
    await admin.call(
      "ACL",
      "SETUSER",
      user,
      "on",
      `>${password}`,
      `~${prefix}:*`,
      "+@all",
      "-@dangerous",
      "+info",
      "+ping",
    );
    try {
      const good = createTransportFromUrl(`${withCredentials(REDIS_URL, user, password)}?prefix=${prefix}`);
      transports.push(good);
      const sub = await good.subscribe("t", { group: "g" });
      await good.publish("t", events(1, "acl"));
      const first = await sub[Symbol.asyncIterator]().next();
      expect(first.value?.event.id).toBe("acl-0");
      await first.value?.ack();
      expect((await good.health()).status).toBe("healthy");
      await good.close();

      const wrong = "Wr0ng-" + password.split("").reverse().join("");
      const badUrl = `${withCredentials(REDIS_URL, user, wrong)}?prefix=${prefix}`;
      // Every log line, debug included (reconnect errors), is captured and checked too.
      const logged: string[] = [];
      const capture = (message: string, fields?: Record<string, unknown>) => {
        logged.push(message + JSON.stringify(fields ?? {}));
      };
      const bad = createRedisTransport({
        ...parseTransportUrl(badUrl),
        logger: { debug: capture, info: capture, warn: capture, error: capture },
      });
      transports.push(bad);
      const errors: unknown[] = [];
      errors.push(await bad.subscribe("t", { group: "g" }).catch((e: unknown) => e));
      expect(String((errors[0] as Error).stack)).not.toContain(wrong);
      errors.push(await bad.publish("t", events(1, "x")).catch((e: unknown) => e));
      const health = await bad.health();
      expect(health.status).toBe("unhealthy");
      const [subscribeError, publishError] = errors as [Error, Error];
      expect(isEventferryError(subscribeError)).toBe(true);
      expect(subscribeError?.name).toBe("ConnectionError");
      expect((subscribeError as { retryable?: boolean }).retryable).toBe(false);
      expect(subscribeError?.message).toMatch(/WRONGPASS/);
      expect(subscribeError?.message).toContain(":***@");
      expect(publishError).toBeInstanceOf(PublishError);
      expect((publishError.cause as Error).name).toBe("ConnectionError");
      for (const text of [
        subscribeError?.message,
        subscribeError?.stack,
        JSON.stringify(subscribeError),
        publishError?.message,
        publishError?.stack,
        JSON.stringify(publishError),
        JSON.stringify(health),
        ...logged,
      ]) {
        expect(text).toBeDefined();
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(password);
      }
      expect(logged.some((line) => line.includes("WRONGPASS"))).toBe(true);
      await bad.close();
    } finally {
      await admin.call("ACL", "DELUSER", user);
    }
  });
});
