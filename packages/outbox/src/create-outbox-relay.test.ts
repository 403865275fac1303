import {
  ConfigError,
  createEnvelope,
  createMemoryTransport,
  defineEvent,
  type EncodedEvent,
  type EventEnvelope,
  EventferryError,
  type Logger,
  type MemoryTransport,
  PublishError,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore } from "@eventferry/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { createOutboxRelay, type OutboxRelay, outboxRelayDefaults } from "./create-outbox-relay.js";
import { publishInTransaction } from "./publish-in-transaction.js";

const TOPIC = "events";
const Numbered = defineEvent("test.numbered", z.object({ n: z.number() }));

function event(n: number, key?: string): EventEnvelope {
  return createEnvelope(Numbered, { n }, key === undefined ? {} : { key });
}

interface Received {
  readonly id: string;
  readonly n: number;
  readonly key: string | undefined;
}

/** Subscribes a consumer group that acks everything and records what arrives. */
async function collect(transport: Transport, group = "test") {
  const sub = await transport.subscribe(TOPIC, { group, batchSize: 500 });
  const received: Received[] = [];
  const done = (async () => {
    for await (const delivery of sub) {
      const payload = JSON.parse(delivery.event.payload as string) as { data: { n: number } };
      received.push({ id: delivery.event.id, n: payload.data.n, key: delivery.event.key });
      await delivery.ack();
    }
  })();
  return {
    received,
    async close() {
      await sub.close();
      await done;
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function countById(received: readonly Received[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  return counts;
}

/** A real memory transport whose publish rejects the first `failures` calls. */
function flakyTransport(inner: MemoryTransport, failures: number): Transport & { calls: number } {
  const wrapper = {
    name: inner.name,
    features: inner.features,
    calls: 0,
    async publish(topic: string, events: readonly EncodedEvent[]) {
      wrapper.calls++;
      if (wrapper.calls <= failures) {
        throw new PublishError("[eventferry:test] transport down", { failedIds: events.map((e) => e.id) });
      }
      await inner.publish(topic, events);
    },
    subscribe: inner.subscribe.bind(inner),
    close: inner.close.bind(inner),
    health: inner.health.bind(inner),
  };
  return wrapper;
}

const open: Array<{ close(): Promise<void> }> = [];
const relays: OutboxRelay[] = [];

function setup(): { store: MemoryStore; transport: MemoryTransport } {
  const store = createMemoryStore();
  const transport = createMemoryTransport();
  open.push(transport, store);
  return { store, transport };
}

function relayOf(options: Parameters<typeof createOutboxRelay>[0]): OutboxRelay {
  const relay = createOutboxRelay({ logger: silentLogger, ...options });
  relays.push(relay);
  return relay;
}

afterEach(async () => {
  for (const relay of relays.splice(0)) await relay.stop();
  for (const c of open.splice(0)) await c.close();
});

describe("createOutboxRelay", () => {
  it("relays rows added in a transaction to the transport", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const events = [event(1), event(2), event(3)];
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, events));
    expect(await store.outbox.pending()).toBe(3);

    const relay = relayOf({ store, transport });
    relay.start();
    expect(relay.running).toBe(true);
    await until(() => consumer.received.length === 3);
    expect(consumer.received.map((r) => r.id)).toEqual(events.map((e) => e.id));
    expect(consumer.received.map((r) => r.n)).toEqual([1, 2, 3]);
    await until(async () => (await store.outbox.pending()) === 0);
    await until(() => transport.stats().retained === 0); // every delivery was acked
    // The events are in the log too.
    const logged: string[] = [];
    for await (const e of store.read()) logged.push(e.id);
    expect(logged).toEqual(events.map((e) => e.id));
    await consumer.close();
  });

  it("wakes on commit without waiting for the poll interval", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const relay = relayOf({ store, transport, pollInterval: "1h" });
    relay.start();
    await new Promise((r) => setTimeout(r, 20)); // the relay is now waiting for work
    const e = event(7);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [e]));
    relay.wake();
    await until(() => consumer.received.length === 1, 1_000);
    expect(consumer.received[0]?.id).toBe(e.id);
    await consumer.close();
  });

  it("a commit landing while a round claims nothing is not missed (no wait for the poll interval)", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const e = event(8);
    const realClaim = store.outbox.claim.bind(store.outbox);
    let firstClaimed: number | undefined;
    // The first claim finds nothing; the commit (and its change signal) lands before it returns.
    vi.spyOn(store.outbox, "claim").mockImplementationOnce(async (params) => {
      const rows = await realClaim(params);
      firstClaimed = rows.length;
      await store.transaction((tx) => publishInTransaction(tx, TOPIC, [e]));
      return rows;
    });
    const relay = relayOf({ store, transport, pollInterval: "1h" });
    relay.start();
    await until(() => consumer.received.length === 1, 1_000);
    expect(firstClaimed).toBe(0);
    expect(consumer.received[0]?.id).toBe(e.id);
    await consumer.close();
  });

  it("never publishes anything from a rolled-back transaction", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const doomed = event(1);
    const kept = event(2);
    await expect(
      store.transaction(async (tx) => {
        await publishInTransaction(tx, TOPIC, [doomed]);
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [kept]));

    const relay = relayOf({ store, transport });
    await relay.flush();
    await until(() => consumer.received.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(consumer.received.map((r) => r.id)).toEqual([kept.id]);
    const logged: string[] = [];
    for await (const e of store.read()) logged.push(e.id);
    expect(logged).toEqual([kept.id]);
    await consumer.close();
  });

  it("two relays at once never publish one row twice while leases are valid", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const events = Array.from({ length: 300 }, (_, i) => event(i));
    for (let i = 0; i < events.length; i += 25) {
      await store.transaction((tx) => publishInTransaction(tx, TOPIC, events.slice(i, i + 25)));
    }
    const a = relayOf({ store, transport, batchSize: 7 });
    const b = relayOf({ store, transport, batchSize: 11 });
    a.start();
    b.start();
    await until(() => consumer.received.length >= events.length);
    await a.flush();
    await new Promise((r) => setTimeout(r, 30)); // room for a duplicate to show up
    const counts = countById(consumer.received);
    expect(counts.size).toBe(events.length);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(await store.outbox.pending()).toBe(0);
    await consumer.close();
  });

  it("keeps per-key order across relays", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const keys = ["k0", "k1", "k2", "k3", "k4"];
    for (let n = 0; n < 40; n++) {
      // Interleaved keys, several rows per transaction.
      await store.transaction((tx) =>
        publishInTransaction(
          tx,
          TOPIC,
          keys.map((key) => event(n, key)),
        ),
      );
    }
    const relaysUp = [
      relayOf({ store, transport, batchSize: 3 }),
      relayOf({ store, transport, batchSize: 4 }),
    ];
    for (const r of relaysUp) r.start();
    await until(() => consumer.received.length === 40 * keys.length);
    for (const key of keys) {
      const ns = consumer.received.filter((r) => r.key === key).map((r) => r.n);
      expect(ns).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
    await consumer.close();
  });

  it("runs `concurrency` rounds at once: a round claims and publishes while another waits for its acks", async () => {
    for (const concurrency of [1, 3]) {
      const { store, transport: inner } = setup();
      const consumer = await collect(inner);
      // A transport whose publish takes 30 ms (acks from a slow broker); counts publishes in flight.
      let inFlight = 0;
      let maxInFlight = 0;
      const slow: Transport = {
        name: inner.name,
        features: inner.features,
        async publish(topic, events) {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            await new Promise((resolve) => setTimeout(resolve, 30));
            await inner.publish(topic, events);
          } finally {
            inFlight--;
          }
        },
        subscribe: inner.subscribe.bind(inner),
        close: inner.close.bind(inner),
        health: inner.health.bind(inner),
      };
      const keys = ["k0", "k1", "k2"];
      for (let n = 0; n < 30; n++) {
        await store.transaction((tx) =>
          publishInTransaction(tx, TOPIC, [event(n), ...keys.map((k) => event(n, k))]),
        );
      }
      const relay = relayOf({ store, transport: slow, batchSize: 10, concurrency });
      relay.start();
      await until(() => consumer.received.length === 30 * 4, 10_000);
      expect(maxInFlight).toBe(concurrency);
      expect([...countById(consumer.received).values()].every((c) => c === 1)).toBe(true);
      for (const key of keys) {
        const ns = consumer.received.filter((r) => r.key === key).map((r) => r.n);
        expect(ns).toEqual(Array.from({ length: 30 }, (_, i) => i));
      }
      await relay.stop();
      await consumer.close();
    }
  });

  it("leaves rows unpublished while the transport fails and publishes them after it recovers", async () => {
    const { store, transport } = setup();
    const flaky = flakyTransport(transport, 2);
    const errors: string[] = [];
    const logger: Logger = { ...silentLogger, error: (message) => errors.push(message) };
    const consumer = await collect(transport);
    const events = [event(1, "a"), event(2, "a"), event(3)];
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, events));

    const relay = relayOf({ store, transport: flaky, logger });
    relay.start();
    await until(() => flaky.calls >= 1);
    expect(await store.outbox.pending()).toBe(3);
    expect(consumer.received).toEqual([]);
    // Recovers after two failures (back-off 200 ms + 400 ms), well within the 30 s lease: the
    // relay retries the rows it holds instead of waiting for their lease to expire.
    await until(() => consumer.received.length === 3, 5_000);
    expect(errors).toHaveLength(2);
    expect(consumer.received.map((r) => r.n)).toEqual([1, 3, 2]); // key "a" in order; 3 has no key
    expect(new Set(consumer.received.map((r) => r.id)).size).toBe(3);
    await until(async () => (await store.outbox.pending()) === 0);
    await consumer.close();
  });

  it("flush() rejects while the transport fails and publishes the held rows on the next flush", async () => {
    const { store, transport } = setup();
    const flaky = flakyTransport(transport, 1);
    const consumer = await collect(transport);
    const e = event(1);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [e]));
    const relay = relayOf({ store, transport: flaky });
    await expect(relay.flush()).rejects.toBeInstanceOf(PublishError);
    expect(await store.outbox.pending()).toBe(1);
    await relay.flush({ timeout: "1s" });
    expect(await store.outbox.pending()).toBe(0);
    await until(() => consumer.received.length === 1);
    expect(consumer.received[0]?.id).toBe(e.id);
    await consumer.close();
  });

  it("claims rows afresh when the lease of a failed round ran out", async () => {
    const { store, transport } = setup();
    const flaky = flakyTransport(transport, 1);
    const consumer = await collect(transport);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1), event(2)]));
    const relay = relayOf({ store, transport: flaky, lease: 40 });
    await expect(relay.flush()).rejects.toBeInstanceOf(PublishError);
    await new Promise((r) => setTimeout(r, 60)); // the lease is gone
    const claim = vi.spyOn(store.outbox, "claim");
    await relay.flush({ timeout: "1s" });
    expect(claim).toHaveBeenCalled();
    await until(() => consumer.received.length === 2);
    expect(countById(consumer.received).size).toBe(2);
    await consumer.close();
  });

  it("does not re-publish a topic already published when a later topic fails", async () => {
    const { store, transport } = setup();
    let failB = true;
    const perTopic: Record<string, number> = {};
    const splitting: Transport = {
      ...flakyTransport(transport, 0),
      async publish(topic, events) {
        perTopic[topic] = (perTopic[topic] ?? 0) + events.length;
        if (topic === "b" && failB) {
          failB = false;
          throw new PublishError("[eventferry:test] b is down", { failedIds: events.map((e) => e.id) });
        }
        await transport.publish(topic, events);
      },
    };
    await store.transaction(async (tx) => {
      await publishInTransaction(tx, "a", [event(1)]);
      await publishInTransaction(tx, "b", [event(2)]);
    });
    const relay = relayOf({ store, transport: splitting });
    await expect(relay.flush()).rejects.toBeInstanceOf(PublishError);
    expect(await store.outbox.pending()).toBe(1); // topic a was marked published
    await relay.flush({ timeout: "1s" });
    expect(perTopic).toEqual({ a: 1, b: 2 });
    expect(await store.outbox.pending()).toBe(0);
  });

  it("republishes rows after their lease when the relay that claimed them is gone", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const e = event(1);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [e]));
    // A relay that claimed the row and crashed before publishing.
    expect(await store.outbox.claim({ limit: 10, leaseMs: 60 })).toHaveLength(1);
    const claim = vi.spyOn(store.outbox, "claim");
    const relay = relayOf({ store, transport });
    await relay.flush({ timeout: "2s" });
    // It waited for the lease instead of spinning on claim.
    expect(claim.mock.calls.length).toBeLessThan(20);
    await until(() => consumer.received.length === 1);
    await consumer.close();
  });

  it("flush() drains the outbox without start() and when started", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const first = Array.from({ length: 250 }, (_, i) => event(i));
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, first));
    const relay = relayOf({ store, transport, batchSize: 100 });
    await relay.flush();
    expect(relay.running).toBe(false);
    expect(await store.outbox.pending()).toBe(0);

    relay.start();
    const second = Array.from({ length: 50 }, (_, i) => event(1000 + i));
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, second));
    await relay.flush({ timeout: "2s" });
    expect(await store.outbox.pending()).toBe(0);
    await until(() => consumer.received.length === 300);
    expect(countById(consumer.received).size).toBe(300);
    await consumer.close();
  });

  it("flush() rejects with ABORTED when the outbox does not drain in time", async () => {
    const { store, transport } = setup();
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1)]));
    await store.outbox.claim({ limit: 1, leaseMs: 60_000 }); // held elsewhere for a minute
    const relay = relayOf({ store, transport });
    const error = await relay.flush({ timeout: 50 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventferryError);
    expect((error as EventferryError).code).toBe("ABORTED");
  });

  it("stop() is idempotent, prompt and can be followed by start()", async () => {
    const { store, transport } = setup();
    const relay = relayOf({ store, transport, pollInterval: "1h" });
    await relay.stop(); // never started
    relay.start();
    relay.start(); // no second loop
    await new Promise((r) => setTimeout(r, 10));
    const began = Date.now();
    await Promise.all([relay.stop(), relay.stop()]);
    await relay.stop();
    expect(Date.now() - began).toBeLessThan(500);
    expect(relay.running).toBe(false);

    const consumer = await collect(transport);
    relay.start();
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1)]));
    await until(() => consumer.received.length === 1);
    await relay.stop();
    await consumer.close();
  });

  it("stop() interrupts the back-off after a failed round", async () => {
    const { store, transport } = setup();
    const flaky = flakyTransport(transport, 1_000);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1)]));
    const relay = relayOf({ store, transport: flaky });
    relay.start();
    await until(() => flaky.calls >= 3, 5_000); // back-off is now 800 ms and growing
    const began = Date.now();
    await relay.stop();
    expect(Date.now() - began).toBeLessThan(300);
    expect(await store.outbox.pending()).toBe(1);
  });

  it("validates options into one ConfigError listing every problem", () => {
    const { store, transport } = setup();
    let error: unknown;
    try {
      createOutboxRelay({ store, transport, batchSize: 0, lease: "soon", pollInterval: -1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^\[eventferry:outbox\]/);
    expect((error as ConfigError).message).toContain("batchSize");
    expect((error as ConfigError).message).toContain("lease");
    expect((error as ConfigError).message).toContain("pollInterval");
    expect((error as ConfigError).problems).toHaveLength(3);

    expect(() => createOutboxRelay({ store, transport, lease: 0 })).toThrow(ConfigError);
    expect(() => createOutboxRelay({ store, transport, batchSize: 1.5 })).toThrow(/batchSize/);
    expect(() =>
      createOutboxRelay({ store: {} as MemoryStore, transport: {} as Transport, logger: silentLogger }),
    ).toThrow(/store must be a Store; transport must be a Transport/);
    expect(() => createOutboxRelay({ store, transport, retention: "forever" })).toThrow(/retention/);
    expect(() => createOutboxRelay({ store, transport, retention: -1 })).toThrow(/retention/);
    expect(() => createOutboxRelay({ store, transport, cleanupInterval: 0 })).toThrow(/cleanupInterval/);
    expect(() =>
      createOutboxRelay({ store, transport, retention: false, logger: silentLogger }),
    ).not.toThrow();
    expect(() => createOutboxRelay({ store, transport, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createOutboxRelay({ store, transport, concurrency: 1.5 })).toThrow(/concurrency/);
    expect(outboxRelayDefaults).toEqual({
      batchSize: 100,
      concurrency: 1,
      leaseMs: 30_000,
      pollIntervalMs: 1_000,
      retentionMs: 3_600_000,
      cleanupIntervalMs: 60_000,
    });
  });

  it("32 concurrent transactions with random delays, some rolled back: every committed event is delivered once, no rolled-back one ever", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const relays2 = [
      relayOf({ store, transport, batchSize: 5 }),
      relayOf({ store, transport, batchSize: 9 }),
    ];
    for (const r of relays2) r.start();

    const committed = new Set<string>();
    const rolledBack = new Set<string>();
    const results = await Promise.allSettled(
      Array.from({ length: 32 }, async (_, t) => {
        const events = Array.from({ length: 1 + (t % 4) }, (_, i) => event(t * 10 + i, `key-${t % 5}`));
        const rollBack = t % 3 === 0;
        (rollBack ? rolledBack : committed).add(events.map((e) => e.id).join(","));
        await store.transaction(async (tx) => {
          await publishInTransaction(tx, TOPIC, events);
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 25)));
          if (rollBack) throw new Error(`rollback ${t}`);
        });
      }),
    );
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(rolledBack.size);
    const committedIds = [...committed].flatMap((s) => s.split(","));
    const rolledBackIds = new Set([...rolledBack].flatMap((s) => s.split(",")));

    await until(() => consumer.received.length >= committedIds.length);
    await relays2[0]?.flush();
    await new Promise((r) => setTimeout(r, 30));
    const counts = countById(consumer.received);
    expect(counts.size).toBe(committedIds.length);
    for (const id of committedIds) expect(counts.get(id)).toBe(1);
    for (const r of consumer.received) expect(rolledBackIds.has(r.id)).toBe(false);
    await consumer.close();
  }, 10_000);
});

describe("retention", () => {
  /** Sums what the relay's own cleanup calls deleted. */
  async function deletedBy(spy: { mock: { results: Array<{ value: unknown }> } }): Promise<number> {
    const values = await Promise.all(spy.mock.results.map((r) => r.value as Promise<number>));
    return values.reduce((a, b) => a + b, 0);
  }

  it("a started relay deletes published rows past retention, at start and every cleanupInterval", async () => {
    const { store, transport } = setup();
    const cleanup = vi.spyOn(store.outbox, "cleanup");
    const relay = relayOf({ store, transport, retention: 0, cleanupInterval: 20 });
    relay.start();
    await until(() => cleanup.mock.calls.length >= 1); // the first run is at start
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1), event(2), event(3)]));
    await relay.flush();
    await until(async () => (await deletedBy(cleanup)) === 3);
    expect(cleanup.mock.calls.every(([p]) => p.olderThanMs === 0)).toBe(true);
    const calls = cleanup.mock.calls.length;
    await until(() => cleanup.mock.calls.length >= calls + 2); // keeps running every interval
    await relay.stop();
    const stopped = cleanup.mock.calls.length;
    await new Promise((r) => setTimeout(r, 60));
    expect(cleanup.mock.calls.length).toBe(stopped); // and not after stop()
  });

  it("keeps published rows younger than the retention and never deletes unpublished ones", async () => {
    const { store, transport } = setup();
    const cleanup = vi.spyOn(store.outbox, "cleanup");
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1), event(2)]));
    await relayOf({ store, transport }).flush();
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(3)])); // stays unpublished
    const relay = relayOf({ store, transport: flakyTransport(transport, 1_000), cleanupInterval: 10 });
    relay.start();
    await until(() => cleanup.mock.calls.length >= 3);
    await relay.stop();
    expect(cleanup.mock.calls[0]?.[0]).toEqual({ olderThanMs: 3_600_000 }); // the default: one hour
    expect(await deletedBy(cleanup)).toBe(0);
    expect(await relay.cleanup()).toBe(0);
    expect(await store.outbox.pending()).toBe(1);
    expect(await store.outbox.cleanup({ olderThanMs: 0 })).toBe(2); // the two published rows were kept
    expect(await store.outbox.pending()).toBe(1);
  });

  it("retention: false never cleans up; relay.cleanup() runs one cleanup on demand", async () => {
    const { store, transport } = setup();
    const cleanup = vi.spyOn(store.outbox, "cleanup");
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1)]));
    const keep = relayOf({ store, transport, retention: false, cleanupInterval: 5 });
    keep.start();
    await keep.flush();
    await new Promise((r) => setTimeout(r, 30));
    await keep.stop();
    expect(cleanup).not.toHaveBeenCalled();
    expect(await keep.cleanup()).toBe(0);
    const onDemand = relayOf({ store, transport, retention: "0ms" });
    expect(await onDemand.cleanup()).toBe(1);
    expect(cleanup).toHaveBeenCalledWith({ olderThanMs: 0 });
  });

  it("a failing cleanup is logged and retried; relaying goes on", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };
    const cleanup = vi
      .spyOn(store.outbox, "cleanup")
      .mockRejectedValueOnce(new Error("disk on fire"))
      .mockRejectedValueOnce(new Error("still on fire"));
    const relay = relayOf({ store, transport, logger, retention: 0, cleanupInterval: 10 });
    relay.start();
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [event(1)]));
    await until(() => consumer.received.length === 1);
    await until(async () => {
      const later = await Promise.all(cleanup.mock.results.slice(2).map((r) => r.value as Promise<number>));
      return later.reduce((a, b) => a + b, 0) === 1; // a later round deleted the published row
    });
    expect(warnings.filter((w) => w.includes("cleanup"))).toHaveLength(2);
    await consumer.close();
  });
});

describe("publishInTransaction", () => {
  it("skips ids that are already in the log", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const old = event(1);
    const fresh = event(2);
    await store.append([old]);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [old, fresh]));
    expect(await store.outbox.pending()).toBe(1);
    // Publishing the same ids again is a no-op.
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, [old, fresh]));
    expect(await store.outbox.pending()).toBe(1);
    await store.transaction((tx) => publishInTransaction(tx, TOPIC, []));

    await relayOf({ store, transport }).flush();
    await until(() => consumer.received.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(consumer.received.map((r) => r.id)).toEqual([fresh.id]);
    await consumer.close();
  });
});

describe("publishInTransaction validation", () => {
  it("rejects an event the relay could never send, inside the transaction", async () => {
    const store = createMemoryStore();
    const big = createEnvelope(defineEvent("test.big", z.object({ text: z.string() })), {
      text: "x".repeat(1_100_000),
    });
    await expect(store.transaction((tx) => publishInTransaction(tx, "events", [big]))).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
    expect(await store.outbox.pending()).toBe(0);
    await store.close();
  });
});

describe("rows that cannot be encoded", () => {
  const Blob = defineEvent("test.blob", z.object({ text: z.string() }));
  /** 2 MiB of data: twice the codec's 1 MiB limit. */
  const oversized = (key?: string) =>
    createEnvelope(Blob, { text: "x".repeat(2 * 1024 * 1024) }, key === undefined ? {} : { key });

  function capturingLogger() {
    const errors: Array<{ message: string; context: Record<string, unknown> | undefined }> = [];
    const logger: Logger = {
      ...silentLogger,
      error: (message, context) => errors.push({ message, context }),
    };
    return { logger, errors };
  }

  it("publishes the rest of the batch and moves the row to the dead letters, once", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const { logger, errors } = capturingLogger();
    const good1 = event(1);
    const big = oversized();
    const good2 = event(2);
    // Straight into the store, bypassing publishInTransaction's check.
    await store.outbox.add({ topic: TOPIC, events: [good1, big, good2] });
    const publish = vi.spyOn(transport, "publish");

    const relay = relayOf({ store, transport, logger, batchSize: 10 });
    await relay.flush({ timeout: "10s" });
    await until(() => consumer.received.length === 2);
    expect(consumer.received.map((r) => r.id)).toEqual([good1.id, good2.id]);
    expect(await store.outbox.pending()).toBe(0);
    expect(publish).toHaveBeenCalledTimes(1); // one batch: the two good rows
    expect(publish.mock.calls[0]?.[1].map((e) => e.id)).toEqual([good1.id, good2.id]);

    const dead = await store.deadLetters.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      consumer: "outbox:events",
      event: { id: big.id, type: "test.blob" },
      error: { name: "ValidationError", code: "PAYLOAD_TOO_LARGE" },
    });
    expect(dead[0]?.reason).toMatch(/^cannot be encoded: .*larger than 1048576 bytes/);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(big.id);
    expect(errors[0]?.context).toMatchObject({ eventId: big.id, type: "test.blob", topic: TOPIC });

    // Not retried: a started relay finds nothing left, and new rows flow.
    relay.start();
    const good3 = event(3);
    await store.outbox.add({ topic: TOPIC, events: [good3] });
    relay.wake();
    await until(() => consumer.received.length === 3);
    await new Promise((r) => setTimeout(r, 100));
    await relay.stop();
    expect(consumer.received.map((r) => r.id)).toEqual([good1.id, good2.id, good3.id]);
    expect(await store.deadLetters.list()).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(publish).toHaveBeenCalledTimes(2);
    await consumer.close();
  }, 20_000);

  it("a started relay sets the row aside without failing rounds and unblocks the rows of its key", async () => {
    const { store, transport } = setup();
    const consumer = await collect(transport);
    const { logger, errors } = capturingLogger();
    const big = oversized("k");
    const sameKey = event(1, "k");
    const other = event(2, "other");
    await store.outbox.add({ topic: TOPIC, events: [big, sameKey, other] });
    const relay = relayOf({ store, transport, logger, pollInterval: 20 });
    relay.start();
    await until(() => consumer.received.length === 2, 10_000);
    expect(new Set(consumer.received.map((r) => r.id))).toEqual(new Set([sameKey.id, other.id]));
    await until(async () => (await store.outbox.pending()) === 0);
    await new Promise((r) => setTimeout(r, 100));
    await relay.stop();
    // One error: the set-aside row; no "round failed" retries.
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining("moved to the dead letters")]);
    expect((await store.deadLetters.list({ consumer: "outbox:events" })).map((d) => d.event?.id)).toEqual([
      big.id,
    ]);
    await consumer.close();
  }, 20_000);

  it("keeps the reason when the dead letters cannot hold the event itself", async () => {
    const { store, transport } = setup();
    const big = oversized();
    await store.outbox.add({ topic: TOPIC, events: [big] });
    const add = vi.spyOn(store.deadLetters, "add").mockRejectedValueOnce(new Error("row too big"));
    await relayOf({ store, transport }).flush({ timeout: "10s" });
    expect(add).toHaveBeenCalledTimes(2);
    const dead = await store.deadLetters.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]?.event).toBeUndefined();
    expect(dead[0]?.reason).toContain(`event test.blob ${big.id} not kept: row too big`);
    expect(await store.outbox.pending()).toBe(0);
  }, 20_000);
});
