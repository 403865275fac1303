import { ConfigError, type EventferryError, isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import {
  createNatsTransport,
  type NatsTransportOptions,
  natsTransportDefaults,
  natsTransportFeatures,
} from "./nats-transport.js";

describe("createNatsTransport options", () => {
  it("has documented defaults and full features", () => {
    expect(natsTransportDefaults.streamPrefix).toBe("eventferry");
    expect(natsTransportDefaults.maxPendingPublishes).toBe(1_000);
    expect(natsTransportFeatures).toMatchObject({
      consumerGroups: true,
      persistent: true,
      delayedNack: true,
      redeliversUnacked: true,
      orderedPerTopic: true,
    });
    expect(Object.isFrozen(natsTransportFeatures)).toBe(true);
  });

  it("lists every problem in one ConfigError", () => {
    let error: unknown;
    try {
      createNatsTransport({
        streamPrefix: "a.b",
        maxAge: "soon",
        maxPendingPublishes: 0,
        replicas: 7,
        storage: "tape" as "file",
        user: "app",
        token: "t",
        servers: ["nats://u:pw@h:4222"],
        duplicateWindow: "2h",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    for (const word of [
      "streamPrefix",
      "maxAge",
      "maxPendingPublishes",
      "replicas",
      "storage",
      "user and pass",
      "one authentication method",
      "without credentials",
    ]) {
      expect(problems).toContain(word);
    }
    expect((error as Error).message).not.toContain("pw@");
  });

  it("refuses auth options next to a caller's connection", () => {
    const fake = { request: () => undefined } as unknown as NatsTransportOptions["connection"];
    expect(() => createNatsTransport({ connection: fake, user: "a", pass: "b" })).toThrow(
      /cannot be combined with connection/,
    );
  });

  it("validates publish and subscribe input before touching the network", async () => {
    const transport = createNatsTransport({ servers: "nats://127.0.0.1:1", streamPrefix: "offline" });
    await expect(transport.publish("bad topic", [])).rejects.toBeInstanceOf(ConfigError);
    await expect(transport.publish("orders.*", [])).rejects.toBeInstanceOf(ConfigError);
    await expect(transport.publish("orders", [{ id: "", type: "t", payload: "{}" }])).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
    await expect(transport.publish("orders", [])).resolves.toBeUndefined();
    await expect(transport.subscribe("orders.**.x", { group: "g" })).rejects.toBeInstanceOf(ConfigError);
    await expect(
      transport.subscribe("orders", { group: "", batchSize: 0, ackTimeoutMs: -1 }),
    ).rejects.toThrow(/group.*batchSize.*ackTimeoutMs/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(
      transport.publish("orders", [{ id: "e", type: "t", payload: "{}" }], { signal: aborted.signal }),
    ).rejects.toMatchObject({ code: "ABORTED" });
    await transport.close();
    const error = await transport.publish("orders", []).catch((e: unknown) => e);
    expect(isEventferryError(error)).toBe(true);
    expect((error as EventferryError).code).toBe("CLOSED");
  });
});
