// The demo on its default setup: the embedded SQLite store, and the store itself as the queue.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { anOrder, eventually, startTestApp } from "./harness.js";
import { describeDemoScenarios } from "./scenarios.js";

const dir = mkdtempSync(join(tmpdir(), "eventferry-demo-"));
let files = 0;
const sqliteConfig = () => ({ store: `sqlite:${join(dir, `demo-${++files}.db`)}`, transport: "store:" });

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeDemoScenarios("SQLite with the store: transport", sqliteConfig);

describe("demo on SQLite across a restart", () => {
  it("keeps orders, read models and delayed reminders in the database file", async () => {
    const config = { ...sqliteConfig(), renewalDelayMs: 800 };
    const first = await startTestApp(config);
    const order = await first.call("POST", "/orders", { json: anOrder("c-restart") });
    expect(order.status).toBe(201);
    const subscription = await first.call("POST", "/subscriptions", {
      json: { customerId: "c-restart", email: "r@example.com", plan: "basic" },
    });
    expect(subscription.status).toBe(201);
    await first.app.ferry.whenIdle();
    const early = (await first.call("GET", "/notifications")).body.notifications;
    expect(early.some((n: { eventType: string }) => n.eventType === "subscription.renewal-due")).toBe(false);
    await first.app.shutdown();

    const second = await startTestApp(config);
    try {
      expect((await second.call("GET", `/orders/${order.body.order.id}`)).status).toBe(200);
      expect((await second.call("GET", "/customers/c-restart/stats")).body).toMatchObject({ orders: 1 });
      // The reminder was published before the restart; its due time was kept in the store.
      const reminder = await eventually(async () =>
        (await second.call("GET", "/notifications")).body.notifications.find(
          (n: { eventType: string }) => n.eventType === "subscription.renewal-due",
        ),
      );
      expect(reminder.eventId).toBe(subscription.body.reminderEventId);
    } finally {
      await second.app.shutdown();
    }
  });
});
