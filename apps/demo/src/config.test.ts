import { ConfigError } from "eventferry";
import { describe, expect, it } from "vitest";
import { demoDefaults, loadConfig } from "./config.js";

describe("loadConfig", () => {
  it("defaults to the embedded SQLite store and the store: transport", () => {
    const config = loadConfig({});
    expect(config).toEqual(demoDefaults);
    expect(config.store).toBe("sqlite:./.eventferry/demo.db");
    expect(config.transport).toBe("store:");
    expect(config.port).toBe(3000);
    expect(config.host).toBe("127.0.0.1");
    expect(config.adminToken).toBeUndefined();
  });

  it("maps the environment, durations included, and treats empty variables as unset", () => {
    const config = loadConfig({
      EVENTFERRY_STORE: "memory:",
      EVENTFERRY_TRANSPORT: "memory:",
      PORT: "0",
      EVENTFERRY_ADMIN_TOKEN: "",
      EVENTFERRY_CONCURRENCY: "3",
      EVENTFERRY_RETRY_DELAY: "2s",
      EVENTFERRY_RETRY_MAX_DELAY: "10s",
      EVENTFERRY_RENEWAL_DELAY: "5m",
      EVENTFERRY_WEBHOOK_FAILURE_RATE: "0",
      UNRELATED: "ignored",
    });
    expect(config).toMatchObject({
      store: "memory:",
      transport: "memory:",
      port: 0,
      adminToken: undefined,
      concurrency: 3,
      retryDelayMs: 2000,
      retryMaxDelayMs: 10_000,
      renewalDelayMs: 300_000,
      webhookFailureRate: 0,
    });
  });

  it("rejects invalid variables with one ConfigError naming each", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "70000", EVENTFERRY_ADMIN_TOKEN: "short", EVENTFERRY_RETRY_DELAY: "soon" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toContain("PORT: must be at most 65535");
    expect(problems).toContain("EVENTFERRY_ADMIN_TOKEN: must be at least 16 characters");
    expect(problems).toContain("EVENTFERRY_RETRY_DELAY: must be milliseconds");
  });

  it("rejects a store that is not a URL", () => {
    expect(() => loadConfig({ EVENTFERRY_STORE: "./demo.db" })).toThrow(/EVENTFERRY_STORE: must be a URL/);
  });
});
