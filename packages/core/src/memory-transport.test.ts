import { describe, expect, it } from "vitest";
import type { Delivery, Subscription } from "./contracts/transport.js";
import { ConfigError, EventferryError, isEventferryError, PublishError } from "./errors.js";
import type { EncodedEvent } from "./event.js";
import { createMemoryTransport, memoryTransportFeatures } from "./memory-transport.js";
import { createFakeClock } from "./testing/fake-clock.js";
import { describeTransportConformance } from "./testing/transport-conformance.js";

describeTransportConformance("memory", {
  create: () => createMemoryTransport(),
  ackTimeoutMs: 100,
});

/** Lets every pending promise continuation run (one macrotask turn). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(promise: Promise<T>): { readonly settled: boolean; readonly promise: Promise<T> } {
  const state = { settled: false, promise };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

function events(count: number, prefix = "e", from = 0): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${from + i}`,
    type: "test.happened",
    payload: `{"i":${from + i}}`,
  }));
}

async function next(iterator: AsyncIterator<Delivery>): Promise<Delivery> {
  const result = await iterator.next();
  if (result.done === true) throw new Error("iteration ended");
  return result.value;
}

/** The next batch of a `batches()` iterator; throws when the iteration ended. */
async function batchOf(result: Promise<IteratorResult<readonly Delivery[]>>): Promise<readonly Delivery[]> {
  const r = await result;
  if (r.done === true) throw new Error("iteration ended");
  return r.value;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("createMemoryTransport", () => {
  it("has name memory and its features", () => {
    const transport = createMemoryTransport();
    expect(transport.name).toBe("memory");
    expect(transport.features).toEqual({
      consumerGroups: true,
      persistent: false,
      delayedNack: true,
      redeliversUnacked: true,
      orderedPerTopic: true,
    });
    expect(transport.features).toBe(memoryTransportFeatures);
  });

  it("validates options synchronously, listing every problem", () => {
    let error: unknown;
    try {
      createMemoryTransport({ maxMessagesPerTopic: 0, clock: {} as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(2);
    expect((error as ConfigError).message).toMatch(/^\[eventferry:transport-memory\]/);
  });

  it("rejects invalid topics and subscribe options with a ConfigError", async () => {
    const transport = createMemoryTransport();
    expect(await rejection(transport.publish("bad topic", events(1)))).toBeInstanceOf(ConfigError);
    expect(await rejection(transport.publish("", events(1)))).toBeInstanceOf(ConfigError);
    expect(await rejection(transport.subscribe("a..b", { group: "g" }))).toBeInstanceOf(ConfigError);
    const error = await rejection(transport.subscribe("ok", { group: "", batchSize: 0, ackTimeoutMs: -1 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(3);
    await transport.close();
  });

  it("rejects malformed events and an aborted publish", async () => {
    const transport = createMemoryTransport();
    const malformed = await rejection(transport.publish("t", [{ id: 1 } as unknown as EncodedEvent]));
    expect(isEventferryError(malformed) && malformed.code).toBe("VALIDATION_FAILED");
    const aborted = await rejection(transport.publish("t", events(1), { signal: AbortSignal.abort() }));
    expect(isEventferryError(aborted) && aborted.code).toBe("ABORTED");
    expect(transport.stats().retained).toBe(0);
    await transport.close();
  });

  it("delivers a copy: the publisher mutating its objects afterwards changes nothing", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g" });
    const fields = { a: "1" };
    const sent = [
      { id: "x", type: "t.x", key: "k", payload: fields } as {
        id: string;
        type: string;
        key: string;
        payload: Record<string, string>;
      },
    ];
    await transport.publish("t", sent);
    sent[0]!.id = "changed";
    fields.a = "changed";
    const delivery = await next(sub[Symbol.asyncIterator]());
    expect(delivery.event).toEqual({ id: "x", type: "t.x", key: "k", payload: { a: "1" } });
    expect(Object.isFrozen(delivery.event)).toBe(true);
    expect(Object.isFrozen(delivery.event.payload)).toBe(true);
    await transport.close();
  });

  it("omits an absent key instead of carrying key: undefined", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g" });
    await transport.publish("t", events(1));
    const delivery = await next(sub[Symbol.asyncIterator]());
    expect("key" in delivery.event).toBe(false);
    await transport.close();
  });
});

describe("memory transport: retention", () => {
  it("a group that subscribes later sees what was published before any group existed", async () => {
    const transport = createMemoryTransport();
    await transport.publish("t", events(3));
    expect(transport.stats().retained).toBe(3);
    const sub = await transport.subscribe("t", { group: "late" });
    const iterator = sub[Symbol.asyncIterator]();
    const got = [await next(iterator), await next(iterator), await next(iterator)];
    expect(got.map((d) => d.event.id)).toEqual(["e-0", "e-1", "e-2"]);
    await sub.ackMany(got);
    expect(transport.stats().retained).toBe(0);
    await transport.close();
  });

  it("keeps a message until every existing group acked it; a new group starts at the oldest retained", async () => {
    const transport = createMemoryTransport();
    const a = await transport.subscribe("t", { group: "a" });
    const b = await transport.subscribe("t", { group: "b" });
    await transport.publish("t", events(4));
    await a.ackMany(await batchOf(a.batches()[Symbol.asyncIterator]().next()));
    expect(transport.stats().retained).toBe(4); // b has acked nothing yet
    const fromB = await batchOf(b.batches()[Symbol.asyncIterator]().next());
    await fromB[0]!.ack();
    await fromB[1]!.ack();
    expect(transport.stats().retained).toBe(2);
    // A group created now starts at the oldest message still retained: e-2.
    const c = await transport.subscribe("t", { group: "c" });
    const fromC = await batchOf(c.batches()[Symbol.asyncIterator]().next());
    expect(fromC.map((d) => d.event.id)).toEqual(["e-2", "e-3"]);
    await c.ackMany(fromC);
    await b.ackMany(fromB.slice(2));
    expect(transport.stats().retained).toBe(0);
    await transport.close();
  });

  it("frees acked messages even when they are acked out of order", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g", batchSize: 10 });
    await transport.publish("t", events(10));
    const batch = await batchOf(sub.batches()[Symbol.asyncIterator]().next());
    for (const delivery of [...batch].reverse().slice(0, 9)) await delivery.ack();
    expect(transport.stats().retained).toBe(10); // e-0 is still un-acked
    await batch[0]!.ack();
    expect(transport.stats().retained).toBe(0);
    await transport.close();
  });

  it("rejects a publish beyond maxMessagesPerTopic with a retryable PublishError, and accepts again once drained", async () => {
    const transport = createMemoryTransport({ maxMessagesPerTopic: 5 });
    const sub = await transport.subscribe("t", { group: "g" });
    await transport.publish("t", events(4));
    const error = await rejection(transport.publish("t", events(2, "x")));
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).failedIds).toEqual(["x-0", "x-1"]);
    expect((error as PublishError).retryable).toBe(true);
    expect(transport.stats().retained).toBe(4); // all or nothing
    await transport.publish("other", events(5)); // the bound is per topic
    const batch = await batchOf(sub.batches()[Symbol.asyncIterator]().next());
    await sub.ackMany(batch);
    await transport.publish("t", events(5, "y"));
    expect(transport.stats().perTopic.t!.retained).toBe(5);
    await transport.close();
  });

  it("holds at most a batch or two while 100k messages are published and acked, and nothing afterwards", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("bulk", { group: "g", batchSize: 1_000 });
    const batches = sub.batches()[Symbol.asyncIterator]();
    let maxRetained = 0;
    let received = 0;
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      await transport.publish("bulk", events(1_000, "b", i * 1_000));
      maxRetained = Math.max(maxRetained, transport.stats().retained);
      const batch = await batchOf(batches.next());
      received += batch.length;
      await sub.ackMany(batch);
    }
    const elapsed = performance.now() - started;
    expect(received).toBe(100_000);
    expect(maxRetained).toBeLessThanOrEqual(1_000);
    const stats = transport.stats();
    expect(stats.retained).toBe(0);
    expect(stats.pending).toBe(0);
    expect(stats.inFlight).toBe(0);
    expect(stats.timers).toBe(0); // every batch's lease timer was cleared on ack
    expect(elapsed).toBeLessThan(5_000); // far above 20k/s; in practice hundreds of thousands per second
    await transport.close();
  });

  it("drains a 100k backlog to zero retained messages", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("bulk", { group: "g", batchSize: 500 });
    for (let i = 0; i < 100; i++) await transport.publish("bulk", events(1_000, "b", i * 1_000));
    expect(transport.stats().retained).toBe(100_000);
    let received = 0;
    for await (const batch of sub.batches()) {
      received += batch.length;
      await sub.ackMany(batch);
      if (received === 100_000) break;
    }
    expect(transport.stats()).toMatchObject({ retained: 0, pending: 0, inFlight: 0, ready: 0, timers: 0 });
    await transport.close();
  });
});

describe("memory transport: timing with a fake clock", () => {
  it("redelivers a delayed nack exactly at the delay, not a millisecond before", async () => {
    const clock = createFakeClock();
    const transport = createMemoryTransport({ clock });
    const sub = await transport.subscribe("t", { group: "g", ackTimeoutMs: 60_000 });
    const iterator = sub[Symbol.asyncIterator]();
    await transport.publish("t", events(1));
    const first = await next(iterator);
    await first.nack({ delayMs: 5_000 });
    const redelivery = track(next(iterator));
    clock.advance(4_999);
    await flush();
    expect(redelivery.settled).toBe(false);
    expect(transport.stats()).toMatchObject({ delayed: 1, ready: 0, inFlight: 0, pending: 1 });
    clock.advance(1);
    const again = await redelivery.promise;
    expect(again.event.id).toBe("e-0");
    expect(again.attempt).toBe(2);
    await again.ack();
    expect(transport.stats()).toMatchObject({ retained: 0, pending: 0, timers: 0 });
    await transport.close();
  });

  it("redelivers an un-acked delivery when its lease expires, even to a live subscriber", async () => {
    const clock = createFakeClock();
    const transport = createMemoryTransport({ clock });
    const sub = await transport.subscribe("t", { group: "g", ackTimeoutMs: 1_000 });
    const iterator = sub[Symbol.asyncIterator]();
    await transport.publish("t", events(1));
    const first = await next(iterator);
    const redelivery = track(next(iterator));
    clock.advance(999);
    await flush();
    expect(redelivery.settled).toBe(false);
    clock.advance(1);
    const second = await redelivery.promise;
    expect(second.event.id).toBe("e-0");
    expect(second.attempt).toBe(2);
    // The expired delivery can no longer nack it …
    await first.nack();
    expect(transport.stats()).toMatchObject({ inFlight: 1, ready: 0 });
    // … and its lease expires again while nobody acks: attempt 3.
    const third = track(next(iterator));
    clock.advance(1_000);
    expect((await third.promise).attempt).toBe(3);
    await transport.close();
  });

  it("an ack from an expired delivery still acks the message (like XACK)", async () => {
    const clock = createFakeClock();
    const transport = createMemoryTransport({ clock });
    const sub = await transport.subscribe("t", { group: "g", ackTimeoutMs: 1_000 });
    const iterator = sub[Symbol.asyncIterator]();
    await transport.publish("t", events(1));
    const first = await next(iterator);
    clock.advance(1_000);
    expect(transport.stats().ready).toBe(1);
    await first.ack();
    expect(transport.stats()).toMatchObject({ ready: 0, retained: 0, pending: 0 });
    const more = track(iterator.next());
    clock.advance(10_000);
    await flush();
    expect(more.settled).toBe(false); // nothing comes back
    await sub.close();
    expect(await more.promise).toEqual({ done: true, value: undefined });
    await transport.close();
  });

  it("one lease timer per fetched batch, cleared once the batch is settled", async () => {
    const clock = createFakeClock();
    const transport = createMemoryTransport({ clock });
    const sub = await transport.subscribe("t", { group: "g", batchSize: 10, ackTimeoutMs: 1_000 });
    await transport.publish("t", events(25));
    const batches = sub.batches()[Symbol.asyncIterator]();
    const one = await batchOf(batches.next());
    const two = await batchOf(batches.next());
    expect([one.length, two.length]).toEqual([10, 10]);
    expect(clock.pending()).toBe(2);
    await sub.ackMany(one);
    expect(clock.pending()).toBe(1);
    await two[0]!.nack({ delayMs: 100 });
    await sub.ackMany(two.slice(1));
    expect(clock.pending()).toBe(1); // the nack delay timer only
    await transport.close();
    expect(clock.pending()).toBe(0);
  });

  it("a closed subscriber's deliveries go to another subscriber at once, attempt 2", async () => {
    const clock = createFakeClock();
    const transport = createMemoryTransport({ clock });
    const dying = await transport.subscribe("t", { group: "g", ackTimeoutMs: 60_000 });
    const survivor = await transport.subscribe("t", { group: "g", ackTimeoutMs: 60_000 });
    const waiting = track(survivor.batches()[Symbol.asyncIterator]().next());
    await flush();
    const taken = dying.batches()[Symbol.asyncIterator]();
    await transport.publish("t", events(3));
    // The survivor was blocked first, so it was served first; take the rest by the other one.
    const first = await batchOf(waiting.promise);
    expect(first.map((d) => d.event.id)).toEqual(["e-0", "e-1", "e-2"]);
    await transport.publish("t", events(2, "f"));
    const theirs = await batchOf(taken.next());
    expect(theirs.map((d) => d.attempt)).toEqual([1, 1]);
    await dying.close();
    const back = await batchOf(survivor.batches()[Symbol.asyncIterator]().next());
    expect(back.map((d) => [d.event.id, d.attempt])).toEqual([
      ["f-0", 2],
      ["f-1", 2],
    ]);
    await transport.close();
  });

  it("redeliveries come before new messages", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g", batchSize: 2 });
    await transport.publish("t", events(4));
    const batches = sub.batches()[Symbol.asyncIterator]();
    const [a, b] = await batchOf(batches.next());
    await b!.nack();
    await a!.ack();
    const nextBatch = await batchOf(batches.next());
    expect(nextBatch.map((d) => [d.event.id, d.attempt])).toEqual([
      ["e-1", 2],
      ["e-2", 1],
    ]);
    await transport.close();
  });
});

describe("memory transport: subscriptions", () => {
  it("breaking out of iteration returns fetched but unseen deliveries without counting an attempt", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g", batchSize: 10 });
    await transport.publish("t", events(5));
    for await (const delivery of sub) {
      await delivery.ack();
      break;
    }
    expect(transport.stats()).toMatchObject({ inFlight: 0, ready: 4 });
    const rest: Delivery[] = [];
    for await (const delivery of sub) {
      rest.push(delivery);
      await delivery.ack();
      if (rest.length === 4) break;
    }
    expect(rest.map((d) => [d.event.id, d.attempt])).toEqual([
      ["e-1", 1],
      ["e-2", 1],
      ["e-3", 1],
      ["e-4", 1],
    ]);
    expect(transport.stats().retained).toBe(0);
    await transport.close();
  });

  it("an idle subscriber takes nothing: a waiting one gets everything", async () => {
    const transport = createMemoryTransport();
    const idle = await transport.subscribe("t", { group: "g" });
    const busy = await transport.subscribe("t", { group: "g" });
    const receiving = busy.batches()[Symbol.asyncIterator]();
    await transport.publish("t", events(3));
    expect((await batchOf(receiving.next())).length).toBe(3);
    expect(transport.stats().perTopic.t!.groups.g).toMatchObject({ inFlight: 3, subscribers: 2 });
    await idle.close();
    await transport.close();
  });

  it("serves blocked subscribers in turn, so a group shares the work", async () => {
    const transport = createMemoryTransport();
    const subs: Subscription[] = [];
    for (let i = 0; i < 3; i++) subs.push(await transport.subscribe("t", { group: "g", batchSize: 5 }));
    const waits = subs.map((sub) => sub.batches()[Symbol.asyncIterator]().next());
    await transport.publish("t", events(15));
    const got = await Promise.all(waits.map(batchOf));
    expect(got.map((batch) => batch.map((d) => d.event.id))).toEqual([
      ["e-0", "e-1", "e-2", "e-3", "e-4"],
      ["e-5", "e-6", "e-7", "e-8", "e-9"],
      ["e-10", "e-11", "e-12", "e-13", "e-14"],
    ]);
    await transport.close();
  });

  it("a subscription with an already aborted signal ends at once", async () => {
    const transport = createMemoryTransport();
    await transport.publish("t", events(1));
    const sub = await transport.subscribe("t", { group: "g", signal: AbortSignal.abort() });
    expect(await sub[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
    expect(transport.stats()).toMatchObject({ subscriptions: 0, inFlight: 0 });
    await transport.close();
  });

  it("ack and nack settle once: a nack after an ack does not redeliver", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g" });
    await transport.publish("t", events(1));
    const delivery = await next(sub[Symbol.asyncIterator]());
    await delivery.ack();
    await delivery.nack();
    await delivery.ack();
    expect(transport.stats()).toMatchObject({ retained: 0, pending: 0, ready: 0 });
    await transport.close();
  });

  it("after close: subscribe rejects CLOSED, acks and nacks are harmless, health is unhealthy", async () => {
    const transport = createMemoryTransport();
    const sub = await transport.subscribe("t", { group: "g" });
    await transport.publish("t", events(2));
    const iterator = sub[Symbol.asyncIterator]();
    const a = await next(iterator);
    const b = await next(iterator);
    await transport.close();
    await a.ack();
    await b.nack({ delayMs: 10 });
    const error = await rejection(transport.subscribe("t", { group: "g" }));
    expect(error).toBeInstanceOf(EventferryError);
    expect((error as EventferryError).code).toBe("CLOSED");
    const health = await transport.health();
    expect(health).toMatchObject({ status: "unhealthy", component: "transport-memory", reasons: ["closed"] });
  });

  it("health reports topics and pending counts per group", async () => {
    const transport = createMemoryTransport();
    await transport.subscribe("orders", { group: "billing" });
    await transport.publish("orders", events(3));
    const health = await transport.health();
    expect(health.status).toBe("healthy");
    expect(health.reasons).toEqual([]);
    expect(health.details).toMatchObject({
      topics: 1,
      retained: 3,
      pending: 3,
      subscriptions: 1,
      perTopic: {
        orders: {
          retained: 3,
          published: 3,
          groups: { billing: { backlog: 3, inFlight: 0, delayed: 0, ready: 0, pending: 3, subscribers: 1 } },
        },
      },
    });
    await transport.close();
  });
});
