import { defineEvent, silentLogger } from "@eventferry/core";
import type { NatsConnection } from "@nats-io/transport-node";
import { createEventferry } from "eventferry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  adminConnection,
  available,
  deleteStream,
  NATS_SERVERS,
  streamExists,
  uniquePrefix,
} from "./setup.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
const OrderShipped = defineEvent("order.shipped", z.object({ orderId: z.string() }));

let admin: NatsConnection;

describe.runIf(available)("createEventferry with a nats:// transport URL", () => {
  beforeAll(async () => {
    admin = await adminConnection();
  });
  afterAll(() => admin.close());

  it("publishes through JetStream and handles every event once, end to end", async () => {
    const prefix = uniquePrefix("front");
    const url = `${NATS_SERVERS}?streamPrefix=${prefix}&storage=memory&maxAge=1h`;
    const ferry = await createEventferry({ store: "memory:", transport: url, logger: silentLogger });
    try {
      expect(ferry.transport.name).toBe("nats");
      const handled: string[] = [];
      const audited: string[] = [];
      ferry.on(OrderCreated, async (event) => {
        handled.push(event.data.orderId);
      });
      ferry.on("order.*", async (event) => {
        audited.push(event.type);
      });
      await ferry.start();
      for (let i = 0; i < 20; i++) await ferry.publish(OrderCreated, { orderId: `o-${i}`, total: i });
      const id = await ferry.publish(OrderShipped, { orderId: "o-0" });
      // Publishing the same id again is a no-op end to end (the log and the Msg-Id window).
      expect(await ferry.publish(OrderShipped, { orderId: "o-0" }, { id })).toBe(id);
      await ferry.whenIdle({ timeout: "15s" });
      expect(handled).toEqual(Array.from({ length: 20 }, (_, i) => `o-${i}`));
      expect(audited.filter((t) => t === "order.shipped")).toHaveLength(1);
      expect(audited).toHaveLength(21);
      const health = await ferry.health();
      expect(health.status).toBe("healthy");
      expect(await streamExists(admin, prefix)).toBe(true);
    } finally {
      await ferry.stop({ timeout: "5s" });
      await deleteStream(admin, prefix);
    }
  });

  it("rejects an unknown URL option at createEventferry with a ConfigError naming it", async () => {
    const error = await createEventferry({
      store: "memory:",
      transport: `${NATS_SERVERS}?streamPrefixx=oops`,
      logger: silentLogger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { code?: string }).code).toBe("CONFIG_INVALID");
    expect((error as Error).message).toMatch(/unknown option "streamPrefixx"/);
  });
});
