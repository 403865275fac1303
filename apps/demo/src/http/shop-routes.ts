import { randomUUID } from "node:crypto";
import { type MetricsPlugin, PROMETHEUS_CONTENT_TYPE } from "@eventferry/metrics";
import { publishInTransaction } from "@eventferry/outbox";
import { createEnvelope, type Eventferry, type StoredEvent } from "eventferry";
import type { DemoConfig } from "../config.js";
import {
  OrderCreated,
  PaymentFailed,
  SubscriptionCreated,
  SubscriptionRenewalDue,
  UserCreated,
  UserDeleted,
} from "../events.js";
import type { Order, ShopRepository, Subscription, User } from "../repository/shop-repository.js";
import { tourText } from "../tour.js";
import { HttpError, parseOr400 } from "./http-error.js";
import {
  createOrderBody,
  createSubscriptionBody,
  createUserBody,
  deleteUserQuery,
  eventsQuery,
  listQuery,
  notificationsQuery,
  paymentFailedBody,
} from "./request-schemas.js";
import type { Route } from "./route.js";

/** What the routes work with. */
export interface RouteDeps {
  readonly ferry: Eventferry;
  readonly repo: ShopRepository;
  /** The metrics plugin the ferry runs with. */
  readonly metrics: MetricsPlugin;
  readonly config: DemoConfig;
  /** The server's base URL, for the tour. */
  readonly baseUrl: () => string;
}

const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
const cents = (n: number) => Math.round(n * 100) / 100;

/**
 * The shop's routes. Writes that create an event go through the store's transaction and the
 * outbox (`publishInTransaction`): the row and its event commit together, or neither does.
 */
export function shopRoutes({ ferry, repo, metrics, config, baseUrl }: RouteDeps): Route[] {
  /** Writes business rows and their events in one transaction, then wakes the relay. */
  const writeWithEvents = async <T>(
    write: (writer: ReturnType<ShopRepository["writer"]>) => Promise<T>,
    events: (result: T) => ReturnType<typeof createEnvelope>[],
  ): Promise<T> => {
    const result = await ferry.store.transaction(async (tx) => {
      const r = await write(repo.writer(tx.client));
      await publishInTransaction(tx, ferry.topic, events(r));
      return r;
    });
    ferry.relay.wake();
    return result;
  };

  return [
    {
      method: "GET",
      path: "/",
      handle: async () => ({ status: 200, text: tourText(baseUrl(), config.adminToken !== undefined) }),
    },
    {
      method: "GET",
      path: "/health",
      async handle() {
        const report = await ferry.health();
        return { status: report.status === "unhealthy" ? 503 : 200, json: report };
      },
    },
    {
      method: "GET",
      path: "/metrics",
      handle: async () => ({
        status: 200,
        text: await metrics.toPrometheus(),
        contentType: PROMETHEUS_CONTENT_TYPE,
      }),
    },
    {
      method: "POST",
      path: "/orders",
      async handle(ctx) {
        const body = parseOr400(createOrderBody, await ctx.body(), "body");
        const order: Order = {
          id: body.orderId ?? newId("ord"),
          customerId: body.customerId,
          email: body.email,
          ...(body.phone === undefined ? {} : { phone: body.phone }),
          items: body.items,
          total: cents(body.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0)),
          currency: body.currency,
          createdAt: new Date().toISOString(),
        };
        const event = createEnvelope(
          OrderCreated,
          {
            orderId: order.id,
            customerId: order.customerId,
            email: order.email,
            ...(order.phone === undefined ? {} : { phone: order.phone }),
            items: [...order.items],
            total: order.total,
            currency: order.currency,
          },
          { key: order.customerId, metadata: { requestId: ctx.requestId } },
        );
        const inserted = await writeWithEvents(
          (w) => w.insertOrder(order),
          (isNew) => (isNew ? [event] : []),
        );
        if (!inserted) throw new HttpError(409, `order ${order.id} already exists`);
        return { status: 201, json: { order, eventId: event.id } };
      },
    },
    {
      method: "GET",
      path: "/orders/:id",
      async handle(ctx) {
        const order = await repo.reader.getOrder(ctx.params.id as string);
        if (!order) throw new HttpError(404, `order ${ctx.params.id} not found`);
        return { status: 200, json: order };
      },
    },
    {
      method: "POST",
      path: "/payments/failed",
      async handle(ctx) {
        const body = parseOr400(paymentFailedBody, await ctx.body(), "body");
        const data = { ...body, paymentId: body.paymentId ?? newId("pay") };
        const eventId = await ferry.publish(PaymentFailed, data, {
          key: data.customerId,
          metadata: { requestId: ctx.requestId },
        });
        return {
          status: 202,
          json: { eventId, payment: data, alerts: data.amount > config.alertThreshold },
        };
      },
    },
    {
      method: "POST",
      path: "/users",
      async handle(ctx) {
        const body = parseOr400(createUserBody, await ctx.body(), "body");
        const user: User = {
          id: body.userId ?? newId("usr"),
          email: body.email,
          name: body.name,
          status: "active",
          createdAt: new Date().toISOString(),
        };
        const event = createEnvelope(
          UserCreated,
          { userId: user.id, email: user.email, name: user.name },
          { key: user.id },
        );
        const inserted = await writeWithEvents(
          (w) => w.insertUser(user),
          (isNew) => (isNew ? [event] : []),
        );
        if (!inserted) throw new HttpError(409, `user ${user.id} already exists`);
        return { status: 201, json: { user, eventId: event.id } };
      },
    },
    {
      method: "GET",
      path: "/users/:id",
      async handle(ctx) {
        const user = await repo.reader.getUser(ctx.params.id as string);
        if (!user) throw new HttpError(404, `user ${ctx.params.id} not found`);
        return { status: 200, json: user };
      },
    },
    {
      method: "DELETE",
      path: "/users/:id",
      async handle(ctx) {
        const { reason } = parseOr400(deleteUserQuery, ctx.query, "query");
        const userId = ctx.params.id as string;
        const user = await repo.reader.getUser(userId);
        if (!user || user.status === "deleted") throw new HttpError(404, `user ${userId} not found`);
        const event = createEnvelope(UserDeleted, { userId, email: user.email, reason }, { key: userId });
        const deleted = await writeWithEvents(
          (w) => w.markUserDeleted(userId),
          (changed) => (changed ? [event] : []),
        );
        if (!deleted) throw new HttpError(404, `user ${userId} not found`);
        return { status: 200, json: { userId, status: "deleted", eventId: event.id } };
      },
    },
    {
      method: "POST",
      path: "/subscriptions",
      async handle(ctx) {
        const body = parseOr400(createSubscriptionBody, await ctx.body(), "body");
        const now = Date.now();
        const subscription: Subscription = {
          id: body.subscriptionId ?? newId("sub"),
          customerId: body.customerId,
          email: body.email,
          plan: body.plan,
          renewsAt: new Date(now + 30 * 24 * 3_600_000).toISOString(),
          createdAt: new Date(now).toISOString(),
        };
        const data = {
          subscriptionId: subscription.id,
          customerId: subscription.customerId,
          email: subscription.email,
          plan: subscription.plan,
          renewsAt: subscription.renewsAt,
        };
        const created = createEnvelope(SubscriptionCreated, data, { key: subscription.customerId });
        // Delayed delivery: the reminder's deliverAt is stored with it, so a restart keeps it.
        const reminder = createEnvelope(SubscriptionRenewalDue, data, {
          key: subscription.id,
          delay: config.renewalDelayMs,
          causationId: created.id,
        });
        const inserted = await writeWithEvents(
          (w) => w.insertSubscription(subscription),
          (isNew) => (isNew ? [created, reminder] : []),
        );
        if (!inserted) throw new HttpError(409, `subscription ${subscription.id} already exists`);
        return {
          status: 201,
          json: {
            subscription,
            eventId: created.id,
            reminderEventId: reminder.id,
            reminderAt: reminder.deliverAt,
          },
        };
      },
    },
    {
      method: "GET",
      path: "/customers/:id/stats",
      async handle(ctx) {
        const stats = await repo.reader.getCustomerStats(ctx.params.id as string);
        if (!stats) throw new HttpError(404, `no stats for customer ${ctx.params.id} yet`);
        return { status: 200, json: stats };
      },
    },
    {
      method: "GET",
      path: "/notifications",
      async handle(ctx) {
        const q = parseOr400(notificationsQuery, ctx.query, "query");
        return { status: 200, json: { notifications: await repo.reader.listNotifications(q) } };
      },
    },
    {
      method: "GET",
      path: "/alerts",
      async handle(ctx) {
        const q = parseOr400(listQuery, ctx.query, "query");
        return { status: 200, json: { alerts: await repo.reader.listAlerts(q) } };
      },
    },
    {
      method: "GET",
      path: "/audit",
      async handle(ctx) {
        const q = parseOr400(listQuery, ctx.query, "query");
        return { status: 200, json: { audit: await repo.reader.listAudit(q) } };
      },
    },
    {
      method: "GET",
      path: "/events",
      async handle(ctx) {
        const q = parseOr400(eventsQuery, ctx.query, "query");
        const events: StoredEvent[] = [];
        for await (const event of ferry.read({
          ...(q.type === undefined ? {} : { types: q.type.split(",").map((t) => t.trim()) }),
          ...(q.pattern === undefined ? {} : { pattern: q.pattern }),
          ...(q.key === undefined ? {} : { key: q.key }),
          ...(q.after === undefined ? {} : { afterPosition: q.after }),
          limit: q.limit,
        })) {
          events.push(event);
        }
        const last = events.at(-1);
        return {
          status: 200,
          json: { events, next: events.length === q.limit && last ? last.position : null },
        };
      },
    },
  ];
}
