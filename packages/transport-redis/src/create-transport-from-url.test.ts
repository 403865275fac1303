import { ConfigError } from "@eventferry/core";
import { afterEach, describe, expect, it } from "vitest";
import { createTransportFromUrl, parseTransportUrl } from "./create-transport-from-url.js";
import type { RedisTransport } from "./redis-transport.js";

describe("parseTransportUrl", () => {
  it("takes its own query parameters out of the URL", () => {
    expect(parseTransportUrl("redis://cache:6379/2?prefix=shop&maxLen=1000&blockMs=500")).toEqual({
      url: "redis://cache:6379/2",
      prefix: "shop",
      blockMs: 500,
      trim: { maxLen: 1000, exact: false },
    });
  });

  it("reads every option", () => {
    expect(
      parseTransportUrl(
        "rediss://app:pw@cache:6380?maxAgeMs=60000&exactTrim=true&claimIntervalMs=100&watchdogMs=3000&deadConsumerIdleMs=off&groupStart=0&connectionName=api&connectTimeout=500&commandTimeout=2000",
      ),
    ).toEqual({
      url: "rediss://app:pw@cache:6380",
      trim: { maxAgeMs: 60000, exact: true },
      claimIntervalMs: 100,
      watchdogMs: 3000,
      deadConsumerIdleMs: false,
      groupStart: "0",
      connectionName: "api",
      redisOptions: { connectTimeout: 500, commandTimeout: 2000 },
    });
  });

  it("keeps user, password, host, port and database for ioredis", () => {
    expect(parseTransportUrl("redis://user:p%40ss@10.0.0.1:7000/3").url).toBe(
      "redis://user:p%40ss@10.0.0.1:7000/3",
    );
  });

  const bad: [string, string, RegExp][] = [
    ["not a URL", "not a url", /not a valid URL/],
    ["wrong scheme", "http://cache:6379", /expected a redis:\/\/ or rediss:\/\/ URL/],
    ["unknown parameter", "redis://cache?prefx=a", /unknown query parameter "prefx"/],
    ["bad number", "redis://cache?blockMs=soon", /blockMs must be a number/],
    ["both trims", "redis://cache?maxLen=1&maxAgeMs=1", /maxLen or maxAgeMs, not both/],
    ["bad db", "redis://cache/shop", /database number/],
    ["bad groupStart", "redis://cache?groupStart=latest", /groupStart must be/],
    ["repeated", "redis://cache?prefix=a&prefix=b", /given 2 times/],
  ];
  it.each(bad)("rejects %s with a ConfigError", (_name, url, message) => {
    expect(() => parseTransportUrl(url)).toThrow(ConfigError);
    expect(() => parseTransportUrl(url)).toThrow(message);
  });

  it("lists every problem at once", () => {
    try {
      parseTransportUrl("redis://cache/x?blockMs=-1&nope=1");
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems.length).toBe(3);
    }
  });

  it("never puts the password in an error", () => {
    for (const url of [
      "redis://app:s3cret@cache?bogus=1",
      "redis://app:s3cret@cache/x",
      "http://app:s3cret@cache",
    ]) {
      try {
        parseTransportUrl(url);
        expect.unreachable();
      } catch (error) {
        expect((error as Error).message).not.toContain("s3cret");
        expect(JSON.stringify(error)).not.toContain("s3cret");
        expect((error as Error).stack).not.toContain("s3cret");
      }
    }
  });
});

describe("createTransportFromUrl", () => {
  let transport: RedisTransport | undefined;
  afterEach(async () => {
    await transport?.close();
    transport = undefined;
  });

  it("creates a transport without connecting (lazy)", async () => {
    // Port 1 has nothing listening: creating must not fail, only a command would.
    transport = createTransportFromUrl("redis://127.0.0.1:1?prefix=lazy");
    expect(transport.name).toBe("redis");
    expect(transport.prefix).toBe("lazy");
    expect(transport.streamKey("orders.created")).toBe("lazy:{orders.created}");
  });

  it("validates the prefix synchronously", () => {
    expect(() => createTransportFromUrl("redis://cache?prefix=a*b")).toThrow(ConfigError);
    expect(() => createTransportFromUrl("redis://cache?prefix=")).toThrow(/prefix must be/);
  });
});
