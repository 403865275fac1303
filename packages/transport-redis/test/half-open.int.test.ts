// A half-open connection: a TCP proxy between the transport and Redis keeps every socket open but
// stops forwarding bytes both ways, for good (as after a NAT or firewall lost its state; new
// connections work). The blocking read's watchdog replaces its connection; the command connection
// (claims, acks) is replaced by its socket timeout (`watchdogMs`), so consuming goes on instead
// of waiting forever for an answer that never comes.
import net from "node:net";
import { type Delivery, type EncodedEvent, type Subscription, silentLogger } from "@eventferry/core";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisTransport } from "../src/index.js";
import { adminClient, available, deleteKeys, REDIS_URL, testPrefix } from "./setup.js";

const admin = adminClient();

afterAll(() => {
  admin.disconnect();
});

function events(count: number, tag: string): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    type: "t.happened",
    payload: `{"i":${i}}`,
  }));
}

/** A proxy whose `stall()` silences every open connection for good; later connections forward. */
async function silentProxy(target: URL) {
  const pairs = new Set<{ a: net.Socket; b: net.Socket; stalled: boolean }>();
  let accepted = 0;
  const server = net.createServer((a) => {
    accepted++;
    const b = net.connect(Number(target.port || 6379), target.hostname);
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
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe.runIf(available)("half-open connections", () => {
  it("a command and a blocking connection that go silent for good are replaced; consuming resumes within 5 s", async () => {
    const prefix = testPrefix("halfopen");
    const proxy = await silentProxy(new URL(REDIS_URL));
    const through = new URL(REDIS_URL);
    through.hostname = "127.0.0.1";
    through.port = String(proxy.port);
    const consumer = createRedisTransport({
      url: through.toString(),
      prefix,
      blockMs: 200,
      watchdogMs: 500,
      logger: silentLogger,
    });
    const producer = createRedisTransport({ url: REDIS_URL, prefix });
    const got: Delivery[] = [];
    let sub: Subscription | undefined;
    try {
      // A short ack timeout: the subscription claims (on the command connection) every 250 ms.
      sub = await consumer.subscribe("t", { group: "g", consumer: "c1", ackTimeoutMs: 1_000 });
      const s = sub;
      const loop = (async () => {
        for await (const batch of s.batches()) {
          got.push(...batch);
          await s.ackMany(batch).catch(() => {}); // an ack lost with a socket: redelivered, counted once
        }
      })();
      await producer.publish("t", events(20, "a"));
      await waitUntil(
        () => new Set(got.map((d) => d.event.id)).size >= 20,
        5_000,
        () => `${got.length}/20 before the stall`,
      );
      const acceptedBefore = proxy.accepted;
      expect(proxy.stall()).toBeGreaterThanOrEqual(2); // the command and the blocking connection
      const stalledAt = Date.now();
      await producer.publish("t", events(20, "b"));
      await waitUntil(
        () => new Set(got.map((d) => d.event.id).filter((id) => id.startsWith("b-"))).size >= 20,
        5_000,
        () =>
          `${new Set(got.map((d) => d.event.id).filter((id) => id.startsWith("b-"))).size}/20 after the stall, ${proxy.accepted - acceptedBefore} new connections`,
      );
      // Both silent connections were replaced through the proxy, well within the bound.
      expect(proxy.accepted - acceptedBefore).toBeGreaterThanOrEqual(2);
      expect(Date.now() - stalledAt).toBeLessThan(5_000);
      await sub.close();
      await loop;
    } finally {
      await sub?.close();
      await consumer.close();
      await producer.close();
      await proxy.close();
      await admin.connect().catch(() => {});
      await deleteKeys(admin, prefix);
    }
  });
});
