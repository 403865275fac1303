import { OrderCreated, PaymentFailed } from "../events.js";
import type { HandlerDeps } from "./handler-deps.js";

/**
 * Registers the customer-stats read model: orders and money spent per customer from
 * `order.created`, failed payments from `payment.failed`. Both events are keyed by customer, so one
 * customer's updates run one at a time, in order.
 */
export function registerCustomerStats({ ferry, repo }: HandlerDeps): void {
  ferry.on(
    OrderCreated,
    async (event, ctx) => {
      await repo.writer(ctx.tx).addOrderToStats({
        customerId: event.data.customerId,
        total: event.data.total,
        at: event.occurredAt,
      });
    },
    { name: "customer-stats-orders" },
  );
  ferry.on(
    PaymentFailed,
    async (event, ctx) => {
      await repo.writer(ctx.tx).addFailedPaymentToStats({ customerId: event.data.customerId });
    },
    { name: "customer-stats-payments" },
  );
}
