import { ConfigError, type EventEnvelope, isEventferryError, uuidv7 } from "@eventferry/core";
import { createFakeClock } from "@eventferry/core/testing";
import { describe, expect, it } from "vitest";
import { memoryInternals } from "./internal/memory-internals.js";
import { createMemoryStore, type MemoryStore, type MemoryTx, memoryStoreDefaults } from "./memory-store.js";
import type { InboxEntry, Store } from "./store.js";
import { describeStoreConformance, storeConformanceCases } from "./testing/index.js";

describeStoreConformance("memory", {
  create: () => createMemoryStore(),
  // The single-write path pays off against a database's commit cost; the memory store has none.
  admission: false,
  txWrite: {
    write: async (client, key, value) => (client as MemoryTx).set(key, value),
    read: async (store, key) => (store as MemoryStore).kv.get<string>(key),
  },
});

function event(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    id: uuidv7(),
    type: "test.happened",
    data: { ok: true },
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

const ref = (e: { id: string; leaseToken: string }) => ({ id: e.id, leaseToken: e.leaseToken });

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await flush();
  return done;
}

describe("createMemoryStore", () => {
  it("lists every case id of the suite once", () => {
    expect(new Set(storeConformanceCases).size).toBe(storeConformanceCases.length);
    expect(storeConformanceCases).toContain("inbox.fencing");
    expect(storeConformanceCases.length).toBeGreaterThanOrEqual(40);
  });

  it("rejects invalid options with one ConfigError listing every problem", () => {
    let error: unknown;
    try {
      createMemoryStore({ retainCompleted: -1, dedupeWindow: 1.5, clock: {} as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(3);
    expect(() =>
      createMemoryStore({ retainCompleted: Number.POSITIVE_INFINITY, dedupeWindow: 0 }),
    ).not.toThrow();
    expect(memoryStoreDefaults).toEqual({ retainCompleted: 10_000, dedupeWindow: 100_000 });
  });

  it("has name memory and in-process features", () => {
    const store = createMemoryStore();
    expect(store.name).toBe("memory");
    expect(store.features).toEqual({ shared: false, crossProcessNotify: false });
  });

  describe("with a fake clock", () => {
    it("compares due times and leases with its clock, not Date.now", async () => {
      const clock = createFakeClock(Date.UTC(2000, 0, 1));
      const store = createMemoryStore({ clock });
      expect((await store.now()).toISOString()).toBe("2000-01-01T00:00:00.000Z");
      // Due in store time 300 ms from now — decades before the real Date.now().
      const delayed = event({ deliverAt: new Date(clock.now() + 300).toISOString() });
      await store.inbox.record({ entries: [{ consumer: "c", event: delayed, maxAttempts: 3 }] });
      const claim = () => store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 1_000 });
      expect(await claim()).toEqual([]);
      clock.advance(299);
      expect(await claim()).toEqual([]);
      clock.advance(1);
      const [first] = (await claim()) as [InboxEntry];
      expect(first.leaseExpiresAt).toBe(new Date(clock.now() + 1_000).toISOString());
      clock.advance(999);
      expect(await claim()).toEqual([]);
      clock.advance(1);
      const [second] = (await claim()) as [InboxEntry];
      expect(second.attempt).toBe(2);
    });

    it("schedules retries by its clock", async () => {
      const clock = createFakeClock();
      const store = createMemoryStore({ clock });
      await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 3 }] });
      const claim = () => store.inbox.claim({ consumers: ["c"], limit: 10, leaseMs: 30_000 });
      const [entry] = (await claim()) as [InboxEntry];
      await store.inbox.fail({ ...ref(entry), error: { name: "Error", message: "x" }, retryInMs: 5_000 });
      clock.advance(4_999);
      expect(await claim()).toEqual([]);
      expect((await store.inbox.stats()).scheduled).toBe(1);
      clock.advance(1);
      expect((await claim()).map((e) => e.attempt)).toEqual([2]);
    });

    it("never hands out an entry that is not due when the clock is set back", async () => {
      const clock = createFakeClock();
      const store = createMemoryStore({ clock });
      const at = clock.now() + 1_000;
      await store.inbox.record({
        entries: [{ consumer: "c", event: event({ deliverAt: new Date(at).toISOString() }), maxAttempts: 1 }],
      });
      clock.advance(1_000);
      // Promote it to the ready heap, but hold it with limit 0.
      expect(await store.inbox.claim({ consumers: ["c"], limit: 0, leaseMs: 1 })).toEqual([]);
      clock.set(at - 10);
      expect(await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 1 })).toEqual([]);
      clock.set(at);
      expect(await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 1 })).toHaveLength(1);
    });

    it("times waitForChange with the clock's timers and wakes when a delayed entry falls due", async () => {
      const clock = createFakeClock();
      const store = createMemoryStore({ clock });
      const plain = store.waitForChange({ timeoutMs: 1_000 });
      clock.advance(999);
      expect(await settled(plain)).toBe(false);
      clock.advance(1);
      expect(await settled(plain)).toBe(true);

      await store.inbox.record({
        entries: [{ consumer: "c", event: event({ deliverAt: clock.date().toISOString() }), maxAttempts: 1 }],
      });
      await store.inbox.record({
        entries: [
          {
            consumer: "c",
            event: event({ deliverAt: new Date(clock.now() + 500).toISOString() }),
            maxAttempts: 1,
          },
        ],
      });
      // An entry already due does not shorten the wait (no busy loop); the next one due does.
      const hinted = store.waitForChange({ timeoutMs: 60_000 });
      clock.advance(499);
      expect(await settled(hinted)).toBe(false);
      clock.advance(1);
      expect(await settled(hinted)).toBe(true);
    });
  });

  describe("transactions", () => {
    it("stage key-value writes: visible inside, committed at once, dropped on rollback", async () => {
      const store = createMemoryStore();
      await store.transaction(async (tx) => {
        tx.client.set("a", { n: 1 });
        tx.client.set("b", 2);
        expect(tx.client.get("a")).toEqual({ n: 1 });
        expect(tx.client.has("b")).toBe(true);
        expect(store.kv.get("a")).toBeUndefined();
      });
      expect(store.kv.entries()).toEqual([
        ["a", { n: 1 }],
        ["b", 2],
      ]);
      await expect(
        store.transaction(async (tx) => {
          tx.client.set("a", { n: 2 });
          tx.client.delete("b");
          expect(tx.client.get("b")).toBeUndefined();
          throw new Error("rollback");
        }),
      ).rejects.toThrow("rollback");
      expect(store.kv.get("a")).toEqual({ n: 1 });
      expect(store.kv.get("b")).toBe(2);
      await store.transaction(async (tx) => tx.client.delete("b"));
      expect(store.kv.has("b")).toBe(false);
      expect(store.kv.size).toBe(1);
    });

    it("copies values in and out", async () => {
      const store = createMemoryStore();
      const value = { list: [1, 2] };
      await store.transaction(async (tx) => tx.client.set("v", value));
      value.list.push(3);
      const read = store.kv.get<{ list: number[] }>("v");
      read?.list.push(4);
      expect(store.kv.get("v")).toEqual({ list: [1, 2] });
      await expect(store.transaction(async (tx) => tx.client.set("f", () => 1))).rejects.toMatchObject({
        code: "VALIDATION_FAILED",
      });
    });

    it("run concurrently; each sees only its own staged writes", async () => {
      const store = createMemoryStore();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const slow = store.transaction(async (tx) => {
        tx.client.set("slow", 1);
        await gate;
        expect(tx.client.get("fast")).toBe(2); // committed meanwhile
        return "slow";
      });
      const fast = store.transaction(async (tx) => {
        tx.client.set("fast", 2);
        expect(tx.client.get("slow")).toBeUndefined();
        return "fast";
      });
      expect(await fast).toBe("fast");
      expect(store.kv.get("slow")).toBeUndefined();
      release();
      expect(await slow).toBe("slow");
      expect(store.kv.get("slow")).toBe(1);
    });

    it("reject calls on a finished transaction", async () => {
      const store = createMemoryStore();
      let leaked: MemoryTx | undefined;
      await store.transaction(async (tx) => {
        leaked = tx.client;
      });
      expect(() => leaked?.set("x", 1)).toThrow(/already committed or rolled back/);
    });

    it("apply nothing and reject with LEASE_LOST when a completed entry's lease is lost before commit", async () => {
      const clock = createFakeClock();
      const store = createMemoryStore({ clock });
      await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 3 }] });
      const [entry] = (await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 100 })) as [InboxEntry];
      let other: InboxEntry | undefined;
      const error = await store
        .transaction(async (tx) => {
          tx.client.set("effect", 1);
          await tx.outbox.add({ topic: "t", events: [event()] });
          expect(await tx.inbox.complete({ entries: [ref(entry)] })).toEqual(["completed"]);
          // The worker stalls past its lease; another claim takes the entry over.
          clock.advance(100);
          [other] = await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 });
        })
        .catch((e: unknown) => e);
      expect(isEventferryError(error) && error.code).toBe("LEASE_LOST");
      expect(store.kv.size).toBe(0);
      expect(await store.outbox.pending()).toBe(0);
      expect(other?.attempt).toBe(2);
      expect(await store.inbox.complete({ entries: [ref(other as InboxEntry)] })).toEqual(["completed"]);
    });

    it("reject with CLOSED and apply nothing when the store closed before commit", async () => {
      const store = createMemoryStore();
      const error = await store
        .transaction(async (tx) => {
          tx.client.set("x", 1);
          await store.close();
        })
        .catch((e: unknown) => e);
      expect(isEventferryError(error) && error.code).toBe("CLOSED");
      expect(store.kv.size).toBe(0);
    });

    it("report a second complete of the same entry in one transaction as lease-lost", async () => {
      const store = createMemoryStore();
      await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 3 }] });
      const [entry] = (await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 })) as [
        InboxEntry,
      ];
      const outcomes = await store.transaction(async (tx) => [
        ...(await tx.inbox.complete({ entries: [ref(entry)] })),
        ...(await tx.inbox.complete({ entries: [ref(entry)] })),
      ]);
      expect(outcomes).toEqual(["completed", "lease-lost"]);
      expect((await store.inbox.stats()).completed).toBe(1);
    });
  });

  describe("stored data", () => {
    it("hands out fresh copies with JSON semantics", async () => {
      const store = createMemoryStore();
      const e = event({ data: { when: new Date("2024-01-01T00:00:00.000Z"), list: [1] } });
      await store.inbox.record({ entries: [{ consumer: "c", event: e, maxAttempts: 3 }] });
      (e.data as { list: number[] }).list.push(2); // the caller's object is not the store's
      const [first] = (await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 })) as [
        InboxEntry,
      ];
      expect(first.event.data).toEqual({ when: "2024-01-01T00:00:00.000Z", list: [1] });
      (first.event.data as { list: number[] }).list.push(3);
      await store.inbox.release({ entries: [ref(first)] });
      const [again] = (await store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 30_000 })) as [
        InboxEntry,
      ];
      expect(again.event.data).toEqual({ when: "2024-01-01T00:00:00.000Z", list: [1] });
    });

    it("validates input before writing anything", async () => {
      const store = createMemoryStore();
      const good = event();
      const bad = { ...event(), priority: 9 } as unknown as EventEnvelope;
      await expect(store.append([good, bad])).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
      await expect(
        store.inbox.record({
          entries: [
            { consumer: "c", event: good, maxAttempts: 1 },
            { consumer: "c", event: event({ deliverAt: "not a date" }), maxAttempts: 1 },
          ],
        }),
      ).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
      await expect(
        store.inbox.record({ entries: [{ consumer: "c", event: good, maxAttempts: 0 }] }),
      ).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
      expect(await store.inbox.stats()).toMatchObject({ pending: 0 });
      const read: unknown[] = [];
      for await (const e of store.read()) read.push(e);
      expect(read).toEqual([]);
      await expect(store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: 0 })).rejects.toMatchObject({
        code: "VALIDATION_FAILED",
      });
    });

    it("reads pages lazily: events appended during iteration are seen", async () => {
      const store = createMemoryStore();
      await store.append([event(), event()]);
      const late = event();
      const seen: string[] = [];
      for await (const e of store.read({ pageSize: 1 })) {
        seen.push(e.id);
        if (seen.length === 1) await store.append([late]);
      }
      expect(seen).toHaveLength(3);
      expect(seen[2]).toBe(late.id);
    });

    it("reports health details, and unhealthy once closed", async () => {
      const store = createMemoryStore();
      await store.append([event()]);
      await store.inbox.record({ entries: [{ consumer: "c", event: event(), maxAttempts: 1 }] });
      const healthy = await store.health();
      expect(healthy).toMatchObject({ status: "healthy", component: "store-memory" });
      expect(healthy.details).toMatchObject({ events: 1, inboxPending: 1 });
      await store.close();
      expect(await store.health()).toMatchObject({ status: "unhealthy", reasons: ["the store is closed"] });
      await expect(store.now()).rejects.toMatchObject({ code: "CLOSED" });
      await expect(store.waitForChange({ timeoutMs: 1 })).rejects.toMatchObject({ code: "CLOSED" });
      const iterate = async () => {
        for await (const _ of store.read()) break;
      };
      await expect(iterate()).rejects.toMatchObject({ code: "CLOSED" });
    });
  });

  describe("retention", () => {
    async function completeAll(store: Store, consumer: string, events: EventEnvelope[]): Promise<void> {
      await store.inbox.record({ entries: events.map((e) => ({ consumer, event: e, maxAttempts: 1 })) });
      for (;;) {
        const claimed = await store.inbox.claim({ consumers: [consumer], limit: 100, leaseMs: 30_000 });
        if (claimed.length === 0) return;
        await store.inbox.complete({ entries: claimed.map(ref) });
      }
    }

    it("keeps retainCompleted completed entries and remembers dropped pairs within dedupeWindow", async () => {
      const store = createMemoryStore({ retainCompleted: 5, dedupeWindow: 10 });
      const events = Array.from({ length: 20 }, () => event());
      await completeAll(store, "c", events);
      expect((await store.inbox.stats()).completed).toBe(5);
      expect(memoryInternals(store).inbox.sizes()).toMatchObject({ entries: 5, forgotten: 10 });
      const entry = (e: EventEnvelope) => ({ entries: [{ consumer: "c", event: e, maxAttempts: 1 }] });
      // Kept (most recent 5) and remembered (the 10 before): duplicates.
      expect(await store.inbox.record(entry(events[19] as EventEnvelope))).toEqual({
        inserted: 0,
        duplicates: 1,
      });
      expect(await store.inbox.record(entry(events[5] as EventEnvelope))).toEqual({
        inserted: 0,
        duplicates: 1,
      });
      // Older than both: forgotten, recorded again (the documented trade-off).
      expect(await store.inbox.record(entry(events[4] as EventEnvelope))).toEqual({
        inserted: 1,
        duplicates: 0,
      });
      // Another consumer's pairs are independent.
      expect(
        await store.inbox.record({
          entries: [{ consumer: "d", event: events[19] as EventEnvelope, maxAttempts: 1 }],
        }),
      ).toEqual({ inserted: 1, duplicates: 0 });
    });

    it("keeps every pair with Infinity", async () => {
      const store = createMemoryStore({ retainCompleted: 0, dedupeWindow: Number.POSITIVE_INFINITY });
      const events = Array.from({ length: 50 }, () => event());
      await completeAll(store, "c", events);
      expect((await store.inbox.stats()).completed).toBe(0);
      const again = await store.inbox.record({
        entries: events.map((e) => ({ consumer: "c", event: e, maxAttempts: 1 })),
      });
      expect(again).toEqual({ inserted: 0, duplicates: 50 });
    });

    it("drains 100k entries (record, claim, complete) exactly once with bounded indexes", async () => {
      const store = createMemoryStore();
      const total = 100_000;
      const consumers = ["a", "b"];
      const claimed = new Uint8Array(total);
      let recorded = 0;
      for (let batch = 0; batch < total / 1_000; batch++) {
        const entries = [];
        for (let i = 0; i < 1_000; i++) {
          const n = batch * 1_000 + i;
          const e = event({
            data: { n },
            priority: ((n % 5) + 1) as EventEnvelope["priority"],
            ...(n % 10 === 0 ? { key: `k${n % 100}` } : {}),
          });
          entries.push({ consumer: consumers[n % 2] as string, event: e, maxAttempts: 3 });
        }
        recorded += (await store.inbox.record({ entries })).inserted;
      }
      expect(recorded).toBe(total);

      let claims = 0;
      let maxHeapItems = 0;
      for (;;) {
        const entries = await store.inbox.claim({ consumers, limit: 1_000, leaseMs: 30_000 });
        if (entries.length === 0) break;
        for (const e of entries) {
          const n = (e.event.data as { n: number }).n;
          claimed[n] = (claimed[n] ?? 0) + 1;
        }
        claims += entries.length;
        const outcomes = await store.inbox.complete({ entries: entries.map(ref) });
        expect(outcomes.every((o) => o === "completed")).toBe(true);
        maxHeapItems = Math.max(maxHeapItems, memoryInternals(store).inbox.sizes().heapItems);
      }
      expect(claims).toBe(total);
      expect(claimed.every((c) => c === 1)).toBe(true);
      const stats = await store.inbox.stats();
      expect(stats).toMatchObject({
        pending: 0,
        inFlight: 0,
        completed: memoryStoreDefaults.retainCompleted,
      });
      const sizes = memoryInternals(store).inbox.sizes();
      expect(sizes.entries).toBe(memoryStoreDefaults.retainCompleted);
      expect(sizes.forgotten).toBe(total - memoryStoreDefaults.retainCompleted);
      // Stale lease items are compacted away: the indexes never hold much more than the live set.
      expect(sizes.heapItems).toBeLessThanOrEqual(2 * 1_024 + 2 * 1_000);
      expect(maxHeapItems).toBeLessThanOrEqual(total + 2 * 2_048);
    }, 30_000);
  });

  describe("outbox", () => {
    it("keeps published rows until cleanup, by its clock", async () => {
      const clock = createFakeClock();
      const store = createMemoryStore({ clock });
      await store.outbox.add({ topic: "t", events: [event(), event()] });
      const rows = await store.outbox.claim({ limit: 10, leaseMs: 1_000 });
      await store.outbox.markPublished({ entries: rows.map(ref) });
      clock.advance(999);
      expect(await store.outbox.cleanup({ olderThanMs: 1_000 })).toBe(0);
      clock.advance(1);
      expect(await store.outbox.cleanup({ olderThanMs: 1_000 })).toBe(2);
      expect(memoryInternals(store).outbox.sizes()).toMatchObject({ rows: 0, published: 0 });
    });
  });
});
