// The demo's behaviour, run against each store (memory in the unit tests, SQLite in test/).
import { afterEach, describe, expect, it } from "vitest";
import type { DemoConfig } from "../src/config.js";
import { ADMIN_TOKEN, anOrder, eventually, startTestApp, type TestApp } from "./harness.js";

export function describeDemoScenarios(label: string, config: () => Partial<DemoConfig>): void {
  describe(`demo on ${label}`, () => {
    const running: TestApp[] = [];
    const start = async (overrides: Partial<DemoConfig> = {}, random?: () => number) => {
      const t = await startTestApp({ ...config(), ...overrides }, random);
      running.push(t);
      return t;
    };
    afterEach(async () => {
      await Promise.all(running.splice(0).map((t) => t.app.shutdown()));
    });

    it("turns an order into email, SMS and webhook notifications and customer stats", async () => {
      const t = await start();
      const created = await t.call("POST", "/orders", { json: anOrder("c-1") });
      expect(created.status).toBe(201);
      expect(created.body.order).toMatchObject({ customerId: "c-1", total: 28, currency: "USD" });
      const { id } = created.body.order;
      const second = await t.call("POST", "/orders", {
        json: anOrder("c-1", { items: [{ sku: "x", quantity: 1, unitPrice: 2 }] }),
      });
      expect(second.status).toBe(201);
      await t.app.ferry.whenIdle();

      expect((await t.call("GET", `/orders/${id}`)).body).toMatchObject({ id, customerId: "c-1" });
      const notifications = (await t.call("GET", "/notifications")).body.notifications;
      const forOrder = notifications.filter((n: { eventId: string }) => n.eventId === created.body.eventId);
      expect(forOrder.map((n: { channel: string }) => n.channel).sort()).toEqual(["email", "sms", "webhook"]);
      expect(forOrder.find((n: { channel: string }) => n.channel === "email")).toMatchObject({
        recipient: "c-1@example.com",
        subject: `Thanks for your order ${id}`,
      });
      const webhooks = await t.call("GET", "/notifications?channel=webhook");
      expect(webhooks.body.notifications).toHaveLength(2);

      const stats = await t.call("GET", "/customers/c-1/stats");
      expect(stats.status).toBe(200);
      expect(stats.body).toMatchObject({ customerId: "c-1", orders: 2, totalSpent: 30, failedPayments: 0 });
      expect((await t.call("GET", "/customers/nobody/stats")).status).toBe(404);

      const audit = (await t.call("GET", "/audit")).body.audit;
      expect(audit.map((a: { type: string }) => a.type)).toEqual(["order.created", "order.created"]);
    });

    it("writes the order and its event together, once per order id", async () => {
      const t = await start();
      const first = await t.call("POST", "/orders", { json: anOrder("c-2", { orderId: "o-fixed" }) });
      expect(first.status).toBe(201);
      const again = await t.call("POST", "/orders", { json: anOrder("c-2", { orderId: "o-fixed" }) });
      expect(again.status).toBe(409);
      expect(again.body.error).toBe("order o-fixed already exists");
      const events = (await t.call("GET", "/events?type=order.created")).body.events;
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ id: first.body.eventId, key: "c-2", data: { orderId: "o-fixed" } });
    });

    it("retries a flaky webhook until it goes through", async () => {
      const dice = [0, 0, 0.99]; // fails twice (below the 30% rate), then succeeds
      const t = await start({ adminToken: ADMIN_TOKEN, retryAttempts: 5 }, () => dice.shift() ?? 0.99);
      const created = await t.call("POST", "/orders", { json: anOrder("c-3", { phone: undefined }) });
      const webhook = await eventually(async () => {
        const list = (await t.call("GET", "/notifications?channel=webhook")).body.notifications;
        return list.find((n: { eventId: string }) => n.eventId === created.body.eventId);
      });
      expect(JSON.parse(webhook.body)).toMatchObject({ customerId: "c-3", attempt: 3 });
      expect((await t.admin("GET", "/admin/dead-letters")).body.deadLetters).toEqual([]);
    });

    it("dead-letters the webhook of flaky-forever; the admin API lists, retries and deletes it", async () => {
      const t = await start({ adminToken: ADMIN_TOKEN, retryAttempts: 2 });
      const created = await t.call("POST", "/orders", { json: anOrder("flaky-forever") });
      expect(created.status).toBe(201);
      const dead = await eventually(
        async () => (await t.admin("GET", "/admin/dead-letters")).body.deadLetters[0],
      );
      expect(dead).toMatchObject({
        consumer: "shop/notify-webhook",
        attempts: 2,
        event: { id: created.body.eventId, type: "order.created" },
        error: {
          name: "WebhookDeliveryError",
          message: "webhook endpoint of flaky-forever is down (HTTP 503)",
        },
      });
      expect(dead.history).toHaveLength(2);
      // The other handlers of the same event were not held back.
      await t.app.ferry.whenIdle();
      const channels = (await t.call("GET", "/notifications")).body.notifications.map(
        (n: { channel: string }) => n.channel,
      );
      expect(channels.sort()).toEqual(["email", "sms"]);

      const retried = await t.admin("POST", `/admin/dead-letters/${dead.id}/retry`);
      expect(retried).toMatchObject({ status: 200, body: { retried: [dead.id] } });
      // Retried with attempts reset: it fails again twice and comes back with a new deadAt.
      const again = await eventually(async () => {
        const d = (await t.admin("GET", `/admin/dead-letters/${dead.id}`)).body;
        return d.deadAt !== undefined && d.deadAt !== dead.deadAt ? d : undefined;
      });
      expect(again).toMatchObject({ id: dead.id, attempts: 2 });

      expect((await t.admin("DELETE", `/admin/dead-letters/${dead.id}`)).status).toBe(200);
      expect((await t.admin("GET", `/admin/dead-letters/${dead.id}`)).status).toBe(404);
      expect((await t.admin("DELETE", `/admin/dead-letters/${dead.id}`)).status).toBe(404);
      expect((await t.admin("POST", "/admin/dead-letters/unknown/retry")).status).toBe(404);
    });

    it("raises an alert for a payment failure over $1,000 and publishes alert.raised", async () => {
      const t = await start();
      const small = await t.call("POST", "/payments/failed", {
        json: { orderId: "o-1", customerId: "c-4", amount: 999, reason: "insufficient funds" },
      });
      expect(small.status).toBe(202);
      const big = await t.call("POST", "/payments/failed", {
        json: { orderId: "o-2", customerId: "c-4", amount: 2500, reason: "card declined" },
      });
      expect(big.body.alerts).toBe(true);
      await t.app.ferry.whenIdle();
      const alerts = (await t.call("GET", "/alerts")).body.alerts;
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ severity: "warning", eventId: big.body.eventId });
      expect(alerts[0].message).toContain("2500.00 USD for order o-2 failed: card declined");
      const raised = (await t.call("GET", "/events?type=alert.raised")).body.events;
      expect(raised).toHaveLength(1);
      expect(raised[0]).toMatchObject({ causationId: big.body.eventId, priority: 1 });
      expect((await t.call("GET", "/customers/c-4/stats")).body).toMatchObject({
        orders: 0,
        failedPayments: 2,
      });
    });

    it("sends the renewal reminder of a subscription when its delayed event is due", async () => {
      const t = await start({ renewalDelayMs: 150 });
      const created = await t.call("POST", "/subscriptions", {
        json: { customerId: "c-5", email: "c5@example.com", plan: "pro" },
      });
      expect(created.status).toBe(201);
      const reminderAt = Date.parse(created.body.reminderAt);
      expect(reminderAt).toBeGreaterThan(Date.now());
      await t.app.ferry.whenIdle();
      const before = (await t.call("GET", "/notifications")).body.notifications;
      expect(before.some((n: { eventType: string }) => n.eventType === "subscription.renewal-due")).toBe(
        false,
      );
      const reminder = await eventually(async () =>
        (await t.call("GET", "/notifications")).body.notifications.find(
          (n: { eventType: string }) => n.eventType === "subscription.renewal-due",
        ),
      );
      expect(Date.parse(reminder.sentAt)).toBeGreaterThanOrEqual(reminderAt);
      expect(reminder).toMatchObject({
        recipient: "c5@example.com",
        subject: "Your pro subscription renews soon",
      });
    });

    it("handles the user lifecycle: welcome on create, goodbye on delete", async () => {
      const t = await start();
      const created = await t.call("POST", "/users", {
        json: { userId: "u-1", email: "u1@example.com", name: "Ada" },
      });
      expect(created.status).toBe(201);
      expect(
        (await t.call("POST", "/users", { json: { userId: "u-1", email: "u1@example.com", name: "Ada" } }))
          .status,
      ).toBe(409);
      const deleted = await t.call("DELETE", "/users/u-1?reason=moved%20away");
      expect(deleted.body).toMatchObject({ userId: "u-1", status: "deleted" });
      expect((await t.call("DELETE", "/users/u-1")).status).toBe(404);
      await t.app.ferry.whenIdle();
      expect((await t.call("GET", "/users/u-1")).body).toMatchObject({ status: "deleted" });
      const subjects = (await t.call("GET", "/notifications")).body.notifications.map(
        (n: { subject: string }) => n.subject,
      );
      expect(subjects).toEqual(["Your account was closed", "Welcome, Ada"]);
    });

    it("queries and replays the event log by type, pattern, key and position", async () => {
      const t = await start();
      await t.call("POST", "/orders", { json: anOrder("k-1") });
      await t.call("POST", "/orders", { json: anOrder("k-2") });
      await t.call("POST", "/users", { json: { email: "k@example.com", name: "K" } });
      await t.app.ferry.whenIdle();
      const all = (await t.call("GET", "/events")).body;
      expect(all.events.map((e: { type: string }) => e.type)).toEqual([
        "order.created",
        "order.created",
        "user.created",
      ]);
      expect(all.next).toBeNull();
      expect((await t.call("GET", "/events?pattern=user.*")).body.events).toHaveLength(1);
      expect((await t.call("GET", "/events?key=k-2")).body.events[0].data.customerId).toBe("k-2");
      const page = (await t.call("GET", "/events?limit=2")).body;
      expect(page.events).toHaveLength(2);
      const rest = (await t.call("GET", `/events?after=${page.next}`)).body.events;
      expect(rest.map((e: { type: string }) => e.type)).toEqual(["user.created"]);
      expect((await t.call("GET", "/events?limit=0")).status).toBe(400);
    });

    it("reports health", async () => {
      const t = await start();
      const health = await t.call("GET", "/health");
      expect(health.status).toBe(200);
      expect(health.body.status).toBe("healthy");
    });
  });
}
