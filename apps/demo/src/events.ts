import { defineEvent } from "eventferry";
import { z } from "zod";

const id = z.string().trim().min(1).max(100);
const money = z.number().finite().nonnegative();

/** One line of an order. */
export const orderItemSchema = z.object({
  sku: id,
  quantity: z.number().int().positive().max(10_000),
  unitPrice: money,
});

/** A customer placed an order (written with the order, through the outbox). */
export const OrderCreated = defineEvent(
  "order.created",
  z.object({
    orderId: id,
    customerId: id,
    email: z.email(),
    phone: z.string().max(32).optional(),
    items: z.array(orderItemSchema).min(1),
    total: money,
    currency: z.string().length(3),
  }),
  { description: "A customer placed an order." },
);

/** A payment attempt for an order failed. Amounts above the alert threshold raise an alert. */
export const PaymentFailed = defineEvent(
  "payment.failed",
  z.object({
    paymentId: id,
    orderId: id,
    customerId: id,
    amount: money,
    currency: z.string().length(3),
    reason: z.string().min(1).max(500),
  }),
  { description: "A payment attempt failed." },
);

/** A user signed up. */
export const UserCreated = defineEvent(
  "user.created",
  z.object({ userId: id, email: z.email(), name: z.string().min(1).max(200) }),
  { description: "A user signed up." },
);

/** A user closed their account. */
export const UserDeleted = defineEvent(
  "user.deleted",
  z.object({ userId: id, email: z.email(), reason: z.string().max(500) }),
  {
    description: "A user closed their account.",
  },
);

/** A subscription started; its renewal reminder is published at the same time, delayed. */
export const SubscriptionCreated = defineEvent(
  "subscription.created",
  z.object({ subscriptionId: id, customerId: id, email: z.email(), plan: id, renewsAt: z.iso.datetime() }),
  { description: "A subscription started." },
);

/** A subscription renews soon: a delayed event, delivered at its `deliverAt`. */
export const SubscriptionRenewalDue = defineEvent(
  "subscription.renewal-due",
  z.object({ subscriptionId: id, customerId: id, email: z.email(), plan: id, renewsAt: z.iso.datetime() }),
  { description: "A subscription renews soon (delayed event)." },
);

/** A large payment failure needs a human (published by the payment-alert handler). */
export const AlertRaised = defineEvent(
  "alert.raised",
  z.object({ alertId: id, severity: z.enum(["warning", "critical"]), message: z.string() }),
  { description: "Something needs a human." },
);

/** Every event the demo defines. */
export const demoEvents = [
  OrderCreated,
  PaymentFailed,
  UserCreated,
  UserDeleted,
  SubscriptionCreated,
  SubscriptionRenewalDue,
  AlertRaised,
] as const;
