import { randomBytes } from "node:crypto";
import { createEnvelope, defineEvent, encodeEvent, silentLogger } from "@eventferry/core";
import { createInbox } from "@eventferry/inbox";
import { createMemoryStore, type MemoryTx } from "@eventferry/store";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createNatsTransport } from "../src/index.js";
import { adminConnection, available, deleteStream, NATS_SERVERS, uniquePrefix } from "./setup.js";

const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

let admin: NatsConnection;

async function until(condition: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.runIf(available)("bad input through the real inbox", () => {
  beforeAll(async () => {
    admin = await adminConnection();
  });
  afterAll(() => admin.close());

  it("dead-letters garbage published by hand with a reason, keeps consuming, handles the good events", async () => {
    const prefix = uniquePrefix("garbage");
    const transport = createNatsTransport({ servers: NATS_SERVERS, streamPrefix: prefix, storage: "memory" });
    const store = createMemoryStore();
    const handled: string[] = [];
    const inbox = createInbox<MemoryTx>({
      store,
      transport,
      group: "billing",
      logger: silentLogger,
      pollInterval: 50,
      codec: { maxBytes: 64 * 1024 },
    });
    inbox.handle(OrderCreated, async (event) => {
      handled.push(event.data.orderId);
    });
    try {
      await inbox.start();
      const subject = `${prefix}.${inbox.topic}`;
      const good = (orderId: string) => encodeEvent(createEnvelope(OrderCreated, { orderId, total: 1 }));
      await transport.publish(inbox.topic, [good("before")]);

      const js = jetstream(admin);
      const enc = new TextEncoder();
      const h = headers();
      h.set("Eventferry-Type", "order.created");
      // Through JetStream with a PubAck, so each is stored before the next step.
      await js.publish(subject, enc.encode("{not json"), { msgID: `${prefix}-bad-json` });
      await js.publish(subject, Uint8Array.from([0xff, 0xfe, 0x00, 0x80, ...randomBytes(64)]), {
        msgID: `${prefix}-bin`,
      });
      await js.publish(subject, new Uint8Array(0), { msgID: `${prefix}-empty` });
      await js.publish(
        subject,
        enc.encode(`{"id":"huge","type":"order.created","data":"${"x".repeat(300_000)}"}`),
        {
          msgID: `${prefix}-huge`,
          headers: h,
        },
      );
      const invalidData = encodeEvent(createEnvelope(OrderCreated, { orderId: "bad", total: 1 }));
      await js.publish(
        subject,
        enc.encode((invalidData.payload as string).replace('"total":1', '"total":"lots"')),
        {
          msgID: `${prefix}-schema`,
        },
      );
      const unknown = encodeEvent({
        ...createEnvelope(OrderCreated, { orderId: "u", total: 1 }),
        type: "mystery.happened",
      });
      await js.publish(subject, enc.encode(unknown.payload as string));
      // A core publish: no headers at all, no PubAck; flushed so it is stored before the last good one.
      admin.publish(subject, enc.encode("]]]garbage["));
      await admin.flush();
      await transport.publish(inbox.topic, [good("after")]);

      await until(() => handled.length === 2, 15_000, `good events handled (got ${handled.join(",")})`);
      expect(handled).toEqual(["before", "after"]);
      await until(async () => (await store.deadLetters.list()).length >= 6, 10_000, "six dead letters");
      const letters = await store.deadLetters.list();
      const reasons = letters.map((letter) => letter.reason).join("\n");
      // json, binary, empty, huge, schema, the header-less core publish; the unknown type has no handler
      expect(letters).toHaveLength(6);
      expect(reasons).toMatch(/DECODE_FAILED: .*not valid JSON/);
      expect(reasons).toMatch(/DECODE_FAILED: .*empty/);
      expect(reasons).toMatch(/PAYLOAD_TOO_LARGE/);
      expect(reasons).toMatch(/VALIDATION_FAILED/);
      expect(letters.filter((letter) => /DECODE_FAILED/.test(letter.reason))).toHaveLength(4);
      expect(letters.find((letter) => letter.raw?.startsWith("]]]garbage"))?.reason).toMatch(/DECODE_FAILED/);
      expect(letters.find((letter) => letter.raw?.startsWith("{not json"))?.reason).toMatch(/not valid JSON/);
      await inbox.whenIdle({ timeout: 10_000 });

      // Everything was acked on the server: the consumer has nothing pending and nothing in flight.
      const jsm = await jetstreamManager(admin);
      await until(
        async () => {
          const [info] = await jsm.consumers.list(prefix).next();
          return info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0;
        },
        10_000,
        "consumer drained",
      );
      const [info] = await jsm.consumers.list(prefix).next();
      expect(info?.delivered.stream_seq).toBe(9);
      expect(inbox.running).toBe(true);
    } finally {
      await inbox.stop({ timeout: 2_000 });
      await transport.close();
      await store.close();
      await deleteStream(admin, prefix);
    }
  });
});
