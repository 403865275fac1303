import type { EventData, EventEnvelope } from "eventferry";
import { OrderCreated } from "../events.js";
import type { Channel, ShopWriter } from "../repository/shop-repository.js";
import type { HandlerDeps } from "./handler-deps.js";

/** The customer whose webhook endpoint never answers: their orders end in the dead letters. */
export const FLAKY_FOREVER_CUSTOMER = "flaky-forever";

/** A (simulated) webhook delivery that failed; the handler throws it, so the inbox retries. */
export class WebhookDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookDeliveryError";
  }
}

type OrderEvent = EventEnvelope<string, EventData<typeof OrderCreated>>;

function send(
  writer: ShopWriter,
  event: OrderEvent,
  channel: Channel,
  recipient: string,
  subject: string,
  body: string,
) {
  return writer.insertNotification({
    id: `${event.id}:${channel}`,
    channel,
    recipient,
    subject,
    body,
    eventId: event.id,
    eventType: event.type,
    sentAt: new Date().toISOString(),
  });
}

/**
 * Registers the three notification handlers of `order.created`: email, SMS (when the order has a
 * phone number) and a webhook to the customer's endpoint. The providers are simulated: each writes
 * what it would send to the notifications table, in the handler's transaction, so a notification
 * exists exactly once. The webhook fails at random (`webhookFailureRate`) to show retries, and
 * always for the customer `flaky-forever` to show dead letters.
 */
export function registerOrderNotifications({ ferry, repo, config, random }: HandlerDeps): void {
  const retry = {
    attempts: config.retryAttempts,
    backoff: "exponential" as const,
    delay: config.retryDelayMs,
    maxDelay: config.retryMaxDelayMs,
  };

  ferry.on(
    OrderCreated,
    async (event, ctx) => {
      const { orderId, email, total, currency } = event.data;
      await send(
        repo.writer(ctx.tx),
        event,
        "email",
        email,
        `Thanks for your order ${orderId}`,
        `We received your order ${orderId} of ${total.toFixed(2)} ${currency}.`,
      );
    },
    { name: "notify-email", retry },
  );

  ferry.on(
    OrderCreated,
    async (event, ctx) => {
      const { orderId, phone } = event.data;
      if (phone === undefined) return;
      await send(repo.writer(ctx.tx), event, "sms", phone, "order", `Order ${orderId} received.`);
    },
    { name: "notify-sms", retry },
  );

  ferry.on(
    OrderCreated,
    async (event, ctx) => {
      const { orderId, customerId } = event.data;
      if (customerId === FLAKY_FOREVER_CUSTOMER) {
        throw new WebhookDeliveryError(`webhook endpoint of ${customerId} is down (HTTP 503)`);
      }
      if (random() < config.webhookFailureRate) {
        throw new WebhookDeliveryError(
          `webhook endpoint of ${customerId} timed out (attempt ${ctx.attempt})`,
        );
      }
      await send(
        repo.writer(ctx.tx),
        event,
        "webhook",
        `https://hooks.example.com/${encodeURIComponent(customerId)}`,
        "order.created",
        JSON.stringify({ orderId, customerId, attempt: ctx.attempt }),
      );
    },
    { name: "notify-webhook", retry },
  );
}
