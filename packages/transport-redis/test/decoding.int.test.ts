// Every payload style a stream can hold, through the real inbox: good events are handled, bad
// entries are dead-lettered with a reason, and nothing blocks the stream.
import {
  createConsoleLogger,
  createEnvelope,
  defineEvent,
  type EncodedEvent,
  encodeEvent,
} from "@eventferry/core";
import { createInbox } from "@eventferry/inbox";
import { createMemoryStore } from "@eventferry/store";
import { createEventferry } from "eventferry";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createRedisTransport, type RedisTransport } from "../src/index.js";
import { adminClient, available, deleteKeys, REDIS_URL, testPrefix } from "./setup.js";

const OrderPlaced = defineEvent("order.placed", z.object({ orderId: z.string(), total: z.number() }));
const admin = adminClient();

async function waitUntil(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

describe.runIf(available)("payload styles and garbage through the inbox", () => {
  afterAll(() => admin.quit());

  it("handles ours, the data-envelope style and the flattened snake_case style; dead-letters garbage", async () => {
    const prefix = testPrefix("decode");
    const transport: RedisTransport = createRedisTransport({ url: REDIS_URL, prefix });
    const store = createMemoryStore();
    const inbox = createInbox({
      store,
      transport,
      topic: "orders",
      group: "billing",
      batchSize: 20,
      logger: createConsoleLogger("silent"),
    });
    const handled: string[] = [];
    inbox.handle(OrderPlaced, async (event) => {
      handled.push(event.id);
    });
    try {
      await inbox.start();
      const key = transport.streamKey("orders");
      const ours = [1, 2, 3].map((i) =>
        encodeEvent(
          createEnvelope(OrderPlaced, { orderId: `o-${i}`, total: i }, { id: `ours-${i}`, key: "c-1" }),
        ),
      );
      await transport.publish("orders", ours.slice(0, 1));
      // A foreign producer: the JSON envelope in `data`, nothing else.
      const envelope = encodeEvent(
        createEnvelope(OrderPlaced, { orderId: "o-d", total: 5 }, { id: "data-style" }),
      );
      await admin.xadd(key, "*", "data", envelope.payload);
      // A foreign producer: flattened snake_case fields.
      await admin.xadd(
        key,
        "*",
        "event_id",
        "flat-style",
        "event_type",
        "order.placed",
        "aggregate_id",
        "o-f",
        "occurred_on",
        "2024-05-01T12:00:00Z",
        "payload",
        JSON.stringify({ orderId: "o-f", total: 7 }),
      );
      // Garbage, each different.
      await admin.xadd(
        key,
        "*",
        Buffer.from([0xff, 0xfe, 0x00, 0x80]),
        Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
      );
      await admin.xadd(key, "*", "", "");
      await admin.xadd(key, "*", "data", "x".repeat(2 * 1024 * 1024)); // over the 1 MiB codec limit
      await admin.xadd(key, "*", "something", "else");
      await admin.xadd(key, "*", "data", "{not json");
      await admin.xadd(key, "*", "event_id", "no-type", "payload", "{}");
      await admin.xadd(key, "*", "ef-id", "ours-but-broken");
      await transport.publish("orders", ours.slice(1));

      const expected = ["ours-1", "data-style", "flat-style", "ours-2", "ours-3"];
      await waitUntil(() => handled.length >= expected.length, 15_000, "the good events");
      await waitUntil(async () => (await store.deadLetters.list()).length >= 7, 15_000, "7 dead letters");
      await inbox.whenIdle({ timeout: "10s" });
      expect(handled).toEqual(expected);
      const dead = await store.deadLetters.list();
      expect(dead).toHaveLength(7);
      for (const letter of dead) {
        expect(letter.reason.length).toBeGreaterThan(0);
        expect(letter.consumer).toBe("billing");
      }
      expect(dead.some((d) => d.reason.startsWith("PAYLOAD_TOO_LARGE"))).toBe(true);
      expect(dead.filter((d) => d.reason.startsWith("DECODE_FAILED")).length).toBe(6);
      // Everything was acked: nothing pending for the group.
      const pending = (await admin.xpending(key, "billing")) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
    } finally {
      await inbox.stop();
      await transport.close();
      await deleteKeys(admin, prefix);
    }
  });

  it("hands a field-map payload and odd entries on without killing the subscription", async () => {
    const prefix = testPrefix("fieldmap");
    const transport = createRedisTransport({ url: REDIS_URL, prefix });
    try {
      const sub = await transport.subscribe("t", { group: "g" });
      const sent: EncodedEvent = { id: "fm-1", type: "a.b", key: "k", payload: { event_id: "fm-1", x: "1" } };
      await admin.xadd(transport.streamKey("t"), "*", "__proto__", "{}");
      await transport.publish("t", [sent]);
      const got: EncodedEvent[] = [];
      for await (const batch of sub.batches()) {
        got.push(...batch.map((d) => d.event));
        await sub.ackMany(batch);
        if (got.length >= 2) break;
      }
      expect(got[0]?.payload).toMatchObject({ __proto__: "{}" });
      expect(got[1]).toMatchObject({ id: "fm-1", type: "a.b", key: "k" });
      expect({ ...(got[1]?.payload as object) }).toEqual({ event_id: "fm-1", x: "1" });
    } finally {
      await transport.close();
      await deleteKeys(admin, prefix);
    }
  });

  it("works end to end from a URL through createEventferry", async () => {
    const prefix = testPrefix("frontdoor");
    const ferry = await createEventferry({
      store: "memory:",
      transport: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}&blockMs=200`,
      topic: "shop",
      logger: createConsoleLogger("silent"),
    });
    const seen: number[] = [];
    try {
      expect(ferry.transport.name).toBe("redis");
      ferry.on(OrderPlaced, async (event) => {
        seen.push(event.data.total);
      });
      await ferry.start();
      for (let i = 0; i < 10; i++) await ferry.publish(OrderPlaced, { orderId: `o-${i}`, total: i });
      await waitUntil(() => seen.length >= 10, 15_000, "10 handled events");
      expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await admin.xlen(`${prefix}:{shop}`)).toBe(10);
      const health = await ferry.health();
      expect(health.status).toBe("healthy");
    } finally {
      await ferry.stop();
      await deleteKeys(admin, prefix);
    }
  });
});
