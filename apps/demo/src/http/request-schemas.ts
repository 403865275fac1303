import { z } from "zod";
import { orderItemSchema } from "../events.js";

const id = z.string().trim().min(1).max(100);
const currency = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be a 3-letter ISO currency code, like USD")
  .default("USD");

/** `POST /orders`. `orderId` is optional: give one to make the request idempotent. */
export const createOrderBody = z.strictObject({
  orderId: id.optional(),
  customerId: id,
  email: z.email(),
  phone: z
    .string()
    .regex(/^\+?[0-9 ()-]{5,20}$/, "must be a phone number")
    .optional(),
  items: z.array(orderItemSchema).min(1, "must have at least one item").max(100),
  currency,
});

/** `POST /payments/failed`. */
export const paymentFailedBody = z.strictObject({
  paymentId: id.optional(),
  orderId: id,
  customerId: id,
  amount: z.number().finite().positive(),
  currency,
  reason: z.string().trim().min(1).max(500).default("card declined"),
});

/** `POST /users`. */
export const createUserBody = z.strictObject({
  userId: id.optional(),
  email: z.email(),
  name: z.string().trim().min(1).max(200),
});

/** `POST /subscriptions`. */
export const createSubscriptionBody = z.strictObject({
  subscriptionId: id.optional(),
  customerId: id,
  email: z.email(),
  plan: id,
});

const limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt);

/** `GET /events`: query and replay the log. */
export const eventsQuery = z.strictObject({
  type: z.string().trim().min(1).optional(),
  pattern: z.string().trim().min(1).optional(),
  key: z.string().trim().min(1).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: limit(500, 50),
});

/** `GET /notifications`. */
export const notificationsQuery = z.strictObject({
  channel: z.enum(["email", "sms", "webhook"]).optional(),
  limit: limit(500, 50),
});

/** `GET /alerts`, `GET /audit`. */
export const listQuery = z.strictObject({ limit: limit(500, 50) });

/** `GET /admin/dead-letters`. */
export const deadLettersQuery = z.strictObject({
  consumer: z.string().trim().min(1).optional(),
  type: z.string().trim().min(1).optional(),
  after: z.string().trim().min(1).optional(),
  limit: limit(500, 50),
});

/** `DELETE /users/:id`. */
export const deleteUserQuery = z.strictObject({ reason: z.string().max(500).default("") });
