// The demo's behaviour, run against each configuration (memory in the unit tests; SQLite + store:,
// PostgreSQL + Redis and PostgreSQL + NATS in test/).
import { publishInTransaction } from "@eventferry/outbox";
import { createEnvelope } from "eventferry";
import { afterEach, describe, expect, it } from "vitest";
import type { DemoConfig } from "../src/config.js";
import { OrderCreated } from "../src/events.js";
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

    it("commits the order row and its outbox entry together, or neither", async () => {
      const t = await start();
      const order = {
        id: "o-rollback",
        customerId: "c-rb",
        email: "rb@example.com",
        items: [{ sku: "a", quantity: 1, unitPrice: 5 }],
        total: 5,
        currency: "USD",
        createdAt: new Date().toISOString(),
      };
      const event = createEnvelope(
        OrderCreated,
        {
          orderId: order.id,
          customerId: order.customerId,
          email: order.email,
          items: order.items,
          total: 5,
          currency: "USD",
        },
        { key: order.customerId },
      );
      await expect(
        t.app.ferry.store.transaction(async (tx) => {
          expect(await t.app.repo.writer(tx.client).insertOrder(order)).toBe(true);
          await publishInTransaction(tx, t.app.ferry.topic, [event]);
          throw new Error("the payment service said no");
        }),
      ).rejects.toThrow("the payment service said no");
      t.app.ferry.relay.wake();
      await t.app.ferry.whenIdle();
      expect((await t.call("GET", "/orders/o-rollback")).status).toBe(404);
      expect((await t.call("GET", "/events")).body.events).toEqual([]);
      expect((await t.call("GET", "/audit")).body.audit).toEqual([]);
      // The same order through the API commits both.
      const created = await t.call("POST", "/orders", { json: anOrder("c-rb", { orderId: "o-rollback" }) });
      expect(created.status).toBe(201);
      expect((await t.call("GET", "/orders/o-rollback")).status).toBe(200);
      expect((await t.call("GET", "/events")).body.events.map((e: { id: string }) => e.id)).toEqual([
        created.body.eventId,
      ]);
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
      const t = await start({ renewalDelayMs: 1_000 });
      const created = await t.call("POST", "/subscriptions", {
        json: { customerId: "c-5", email: "c5@example.com", plan: "pro" },
      });
      expect(created.status).toBe(201);
      const reminderAt = Date.parse(created.body.reminderAt);
      expect(reminderAt).toBeGreaterThan(Date.now());
      // subscription.created is handled at once; the reminder waits for its due time.
      await eventually(async () =>
        (await t.call("GET", "/audit")).body.audit.some(
          (a: { eventId: string }) => a.eventId === created.body.eventId,
        ),
      );
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

    it("reports health: the store, the transport and the health plugin's check", async () => {
      const t = await start();
      const health = await t.call("GET", "/health");
      expect(health.status).toBe(200);
      // "degraded" is an honest answer on a server that loses acknowledged writes (Redis without
      // AOF); the reason then says so, prefixed by the plugin.
      expect(["healthy", "degraded"]).toContain(health.body.status);
      for (const reason of health.body.reasons ?? []) expect(reason).toMatch(/^health: /);
      const components = JSON.stringify(health.body.details?.components ?? health.body);
      expect(components).toContain('"health"');
    });

    it("serves Prometheus metrics of what it handled", async () => {
      const t = await start();
      const created = await t.call("POST", "/orders", { json: anOrder("m-1") });
      expect(created.status).toBe(201);
      await eventually(async () =>
        (await t.call("GET", "/audit")).body.audit.some(
          (a: { eventId: string }) => a.eventId === created.body.eventId,
        ),
      );
      const metrics = await eventually(async () => {
        const res = await t.call("GET", "/metrics");
        return /eventferry_events_processed_total\{type="order\.created",handler="audit",[^}]*\} 1\n/.test(
          res.body,
        )
          ? res
          : undefined;
      });
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(metrics.body).toContain("# TYPE eventferry_events_processed_total counter");
      expect(metrics.body).toMatch(/eventferry_events_published_total\{type="order\.created",[^}]*\} 1\n/);
      expect(metrics.body).toContain("# TYPE eventferry_event_lag_seconds histogram");
      expect(metrics.body).toMatch(/eventferry_inbox_entries\{status="completed"\} \d+/);
    });

    it("answers bad requests with 400 and a clear message, and nothing internal", async () => {
      const t = await start();
      const replies = [
        await t.call("POST", "/orders", {
          json: { customerId: "c-1", email: "nope", items: [] },
        }),
        await t.call("POST", "/orders", { raw: '{"customerId": ' }),
        await t.call("POST", "/payments/failed", {
          json: { orderId: "o-1", customerId: "c-1", amount: -5, reason: "x" },
        }),
        await t.call("POST", "/subscriptions", { json: { customerId: "c-1", email: "a@example.com" } }),
        await t.call("GET", "/events?after=minus-one"),
        await t.call("GET", "/notifications?limit=100000"),
      ];
      for (const reply of replies) {
        expect(reply.status).toBe(400);
        expect(Object.keys(reply.body).sort()).toEqual(
          reply.body.issues ? ["error", "issues", "requestId"] : ["error", "requestId"],
        );
        expect(reply.body.error).not.toMatch(/\bat .+:\d+|node_modules|SQLITE|postgres|redis|nats|stack/i);
      }
      expect(replies[0]?.body.issues).toEqual(
        expect.arrayContaining([expect.stringMatching(/^email: /), expect.stringMatching(/^items: /)]),
      );
      expect(replies[1]?.body.error).toBe("request body is not valid JSON");
      expect(replies[2]?.body.error).toMatch(/^invalid body: amount: /);
      expect(replies[3]?.body.error).toContain("plan");
      // Nothing was written or published by the rejected requests.
      expect((await t.call("GET", "/events")).body.events).toEqual([]);
    });
  });
}
