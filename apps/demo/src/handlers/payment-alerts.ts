import { AlertRaised, PaymentFailed } from "../events.js";
import type { HandlerDeps } from "./handler-deps.js";

/**
 * Registers the payment alert: a `payment.failed` above `alertThreshold` writes an alert and
 * publishes `alert.raised` as a follow-up in the same transaction (`ctx.publish`, through the
 * outbox), with the failed payment as its cause.
 */
export function registerPaymentAlerts({ ferry, repo, config }: HandlerDeps): void {
  ferry.on(
    PaymentFailed,
    async (event, ctx) => {
      const { amount, currency, orderId, paymentId, reason } = event.data;
      if (amount <= config.alertThreshold) return;
      const severity = amount > config.alertThreshold * 10 ? "critical" : "warning";
      const message = `payment ${paymentId} of ${amount.toFixed(2)} ${currency} for order ${orderId} failed: ${reason}`;
      const alertId = `alert-${event.id}`;
      await repo.writer(ctx.tx).insertAlert({
        id: alertId,
        severity,
        message,
        eventId: event.id,
        createdAt: new Date().toISOString(),
      });
      await ctx.publish(AlertRaised, { alertId, severity, message }, { priority: 1 });
    },
    { name: "payment-alerts" },
  );

  ferry.on(
    AlertRaised,
    async (event, ctx) => {
      ctx.logger.warn(`ALERT (${event.data.severity}): ${event.data.message}`, {
        alertId: event.data.alertId,
      });
    },
    { name: "page-on-call" },
  );
}
