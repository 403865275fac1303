import { createEnvelope, createMemoryTransport, defineEvent, silentLogger } from "@eventferry/core";
import { createFakeClock } from "@eventferry/core/testing";
import { createMemoryStore } from "@eventferry/store";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createInbox } from "./create-inbox.js";

const Ping = defineEvent("ping", z.object({ n: z.number() }));
const CONSUMER = "default/ping";

/** Completes `n` entries through the store itself (as an earlier run of the inbox would have). */
async function completed(store: ReturnType<typeof createMemoryStore>, n: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => createEnvelope(Ping, { n: i }));
  await store.inbox.record({
    entries: events.map((event) => ({ consumer: CONSUMER, event, maxAttempts: 3 })),
  });
  const claimed = await store.inbox.claim({ consumers: [CONSUMER], limit: n, leaseMs: 60_000, worker: "w" });
  await store.inbox.complete({ entries: claimed.map((e) => ({ id: e.id, leaseToken: e.leaseToken })) });
}

describe("retention of completed entries", () => {
  it("deletes completed entries older than the retention when started, keeps younger ones", async () => {
    const clock = createFakeClock();
    const store = createMemoryStore({ clock, retainCompleted: Number.POSITIVE_INFINITY });
    await completed(store, 5);
    clock.advance(8 * 24 * 3_600_000); // 8 days later
    await completed(store, 2);
    const inbox = createInbox({ store, transport: createMemoryTransport(), logger: silentLogger });
    inbox.handle(Ping, async () => {});
    await inbox.start();
    try {
      await expect.poll(async () => (await store.inbox.stats()).completed).toBe(2);
    } finally {
      await inbox.stop();
    }
  });

  it("retention: false keeps every completed entry", async () => {
    const clock = createFakeClock();
    const store = createMemoryStore({ clock, retainCompleted: Number.POSITIVE_INFINITY });
    await completed(store, 3);
    clock.advance(30 * 24 * 3_600_000);
    const inbox = createInbox({
      store,
      transport: createMemoryTransport(),
      logger: silentLogger,
      retention: false,
    });
    inbox.handle(Ping, async () => {});
    await inbox.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await inbox.stop();
    expect((await store.inbox.stats()).completed).toBe(3);
  });

  it("rejects a retention that is not a duration", () => {
    expect(() =>
      createInbox({
        store: createMemoryStore(),
        transport: createMemoryTransport(),
        retention: "soon" as never,
      }),
    ).toThrow(/retention/);
  });
});
