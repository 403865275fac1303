import { ConfigError } from "@eventferry/core";
import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { createRedisTransport, redisTransportDefaults, redisTransportFeatures } from "./redis-transport.js";

describe("createRedisTransport options", () => {
  const bad: [string, Parameters<typeof createRedisTransport>[0], RegExp][] = [
    ["no source", {}, /exactly one of url, client or cluster/],
    ["two sources", { url: "redis://a", client: new Redis({ lazyConnect: true }) }, /exactly one of/],
    ["bad scheme", { url: "nats://a:4222" }, /redis:\/\/ or rediss:\/\//],
    ["bad prefix", { url: "redis://a", prefix: "a b" }, /prefix must be/],
    ["glob prefix", { url: "redis://a", prefix: "a[1]" }, /prefix must be/],
    ["bad blockMs", { url: "redis://a", blockMs: 0 }, /blockMs must be a positive number/],
    ["both trims", { url: "redis://a", trim: { maxLen: 1, maxAgeMs: 1 } as never }, /not both/],
    ["bad maxLen", { url: "redis://a", trim: { maxLen: 1.5 } }, /trim.maxLen/],
    ["bad groupStart", { url: "redis://a", groupStart: "now" as never }, /groupStart/],
    ["empty cluster", { cluster: { nodes: [] } }, /cluster.nodes/],
  ];
  it.each(bad)("%s → ConfigError", (_name, options, message) => {
    expect(() => createRedisTransport(options)).toThrow(ConfigError);
    expect(() => createRedisTransport(options)).toThrow(message);
  });

  it("collects every problem", () => {
    try {
      createRedisTransport({ url: "redis://a", prefix: "", blockMs: -1, watchdogMs: Number.NaN });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(3);
    }
  });

  it("does not close a caller's client", async () => {
    const client = new Redis({ lazyConnect: true, port: 1, retryStrategy: () => null });
    const transport = createRedisTransport({ client, prefix: "x" });
    await transport.close();
    expect(client.status).toBe("wait");
    client.disconnect();
  });

  it("rejects publish and subscribe after close with CLOSED", async () => {
    const transport = createRedisTransport({ url: "redis://127.0.0.1:1" });
    await transport.close();
    await expect(transport.publish("a", [{ id: "1", type: "t", payload: "{}" }])).rejects.toMatchObject({
      code: "CLOSED",
    });
    await expect(transport.subscribe("a", { group: "g" })).rejects.toMatchObject({ code: "CLOSED" });
    expect((await transport.health()).status).toBe("unhealthy");
  });

  it("validates events before sending anything", async () => {
    const transport = createRedisTransport({ url: "redis://127.0.0.1:1" });
    await expect(
      transport.publish("a", [
        { id: "", type: "t", payload: "{}" },
        { id: "2", type: "t", payload: { "ef-x": "1" } },
      ]),
    ).rejects.toThrow(/events\[0\].id.*events\[1\].payload field "ef-x"/);
    await expect(transport.publish("bad topic", [])).rejects.toBeInstanceOf(ConfigError);
    await transport.close();
  });

  it("takes Sentinel and Cluster settings without connecting (lazy)", async () => {
    const sentinel = createRedisTransport({
      url: "redis://127.0.0.1:1",
      redisOptions: {
        sentinels: [{ host: "127.0.0.1", port: 1 }],
        name: "mymaster",
        sentinelRetryStrategy: () => null,
      },
    });
    await sentinel.close();
    const cluster = createRedisTransport({
      cluster: { nodes: [{ host: "127.0.0.1", port: 1 }], options: { clusterRetryStrategy: () => null } },
      prefix: "c",
    });
    expect(cluster.streamKey("orders")).toBe("c:{orders}");
    await cluster.close();
    const own = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    const onOwn = createRedisTransport({ client: own });
    await onOwn.close();
    expect(own.status).toBe("wait"); // a caller's cluster client is not closed either
    own.disconnect();
  });

  it("exposes defaults and features", () => {
    expect(redisTransportDefaults.prefix).toBe("eventferry");
    expect(redisTransportFeatures).toMatchObject({
      consumerGroups: true,
      delayedNack: true,
      redeliversUnacked: true,
    });
  });
});
