// A half-open connection: a TCP proxy between the transport and nats-server keeps the socket open
// but stops forwarding bytes both ways, for good (as after a NAT or firewall lost its state; new
// connections work). With the transport's default PING interval the client finds the connection
// stale, reconnects through the proxy, and consuming resumes: within 30 s, where the client
// library's default (2 min, two PINGs out) would take 4-6 minutes.
import net from "node:net";
import type { Delivery, EncodedEvent, Subscription } from "@eventferry/core";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNatsTransport, natsTransportDefaults } from "../src/index.js";
import { adminConnection, available, deleteStream, NATS_SERVERS, uniquePrefix } from "./setup.js";

let admin: NatsConnection;
beforeAll(async () => {
  if (available) admin = await adminConnection();
});
afterAll(async () => {
  await admin?.close();
});

function events(count: number, prefix: string): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    type: "test.happened",
    payload: `{"i":${i}}`,
  }));
}

/** A proxy whose `stall()` silences every open connection for good; later connections forward. */
async function silentProxy(host: string, port: number) {
  const pairs = new Set<{ a: net.Socket; b: net.Socket; stalled: boolean }>();
  let accepted = 0;
  const server = net.createServer((a) => {
    accepted++;
    const b = net.connect(port, host);
    const pair = { a, b, stalled: false };
    pairs.add(pair);
    a.on("data", (chunk) => {
      if (!pair.stalled) b.write(chunk);
    });
    b.on("data", (chunk) => {
      if (!pair.stalled) a.write(chunk);
    });
    const close = () => {
      if (pair.stalled) return; // a half-open socket tells nothing, not even a close
      a.destroy();
      b.destroy();
    };
    a.on("close", close);
    b.on("close", close);
    a.on("error", () => {});
    b.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    stall(): number {
      for (const pair of pairs) pair.stalled = true;
      return pairs.size;
    },
    async close() {
      for (const { a, b } of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitUntil(check: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(available)("half-open connections", () => {
  it("a connection that goes silent for good is found stale and replaced: consuming resumes within 30 s", async () => {
    expect(natsTransportDefaults.pingIntervalMs).toBeLessThanOrEqual(10_000);
    const target = new URL(NATS_SERVERS.split(",")[0]?.replace(/^nats:/, "http:") ?? "http://127.0.0.1:4222");
    const proxy = await silentProxy(target.hostname, Number(target.port || 4222));
    const streamPrefix = uniquePrefix("halfopen");
    const consumer = createNatsTransport({
      servers: `nats://127.0.0.1:${proxy.port}`,
      streamPrefix,
      fetchExpires: "2s",
    });
    const producer = createNatsTransport({ servers: NATS_SERVERS, streamPrefix });
    const got: Delivery[] = [];
    let sub: Subscription | undefined;
    try {
      await producer.ready();
      sub = await consumer.subscribe("t", { group: "g", ackTimeoutMs: 5_000 });
      const s = sub;
      const loop = (async () => {
        for await (const batch of s.batches()) {
          got.push(...batch);
          await s.ackMany(batch).catch(() => {}); // an ack lost with the socket: redelivered, counted once
        }
      })();
      await producer.publish("t", events(20, "a"));
      const ids = (prefix: string) =>
        new Set(got.map((d) => d.event.id).filter((id) => id.startsWith(prefix)));
      await waitUntil(
        () => ids("a-").size >= 20,
        10_000,
        () => `${ids("a-").size}/20 before the stall`,
      );
      const acceptedBefore = proxy.accepted;
      expect(proxy.stall()).toBe(1);
      const stalledAt = Date.now();
      await producer.publish("t", events(20, "b"));
      await waitUntil(
        () => ids("b-").size >= 20,
        30_000,
        () => `${ids("b-").size}/20 after the stall, ${proxy.accepted - acceptedBefore} new connections`,
      );
      expect(proxy.accepted - acceptedBefore).toBeGreaterThanOrEqual(1);
      console.log(`NATS half-open: consuming resumed ${Date.now() - stalledAt} ms after the stall began`);
      await sub.close();
      await loop;
    } finally {
      await sub?.close();
      await consumer.close();
      await producer.close();
      await proxy.close();
      await deleteStream(admin, streamPrefix);
    }
  }, 60_000);
});
