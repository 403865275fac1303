import { registerAuditLog } from "./audit-log.js";
import { registerCustomerStats } from "./customer-stats.js";
import type { HandlerDeps } from "./handler-deps.js";
import { registerOrderNotifications } from "./order-notifications.js";
import { registerPaymentAlerts } from "./payment-alerts.js";
import { registerSubscriptionReminders } from "./subscription-reminders.js";
import { registerUserLifecycle } from "./user-lifecycle.js";

export type { HandlerDeps } from "./handler-deps.js";
export { FLAKY_FOREVER_CUSTOMER, WebhookDeliveryError } from "./order-notifications.js";

/** Registers every handler of the demo on the ferry (before `start()`). */
export function registerHandlers(deps: HandlerDeps): void {
  registerOrderNotifications(deps);
  registerCustomerStats(deps);
  registerPaymentAlerts(deps);
  registerSubscriptionReminders(deps);
  registerUserLifecycle(deps);
  registerAuditLog(deps);
}
