import { SubscriptionRenewalDue } from "../events.js";
import type { HandlerDeps } from "./handler-deps.js";

/**
 * Registers the renewal reminder: `subscription.renewal-due` is published delayed (its
 * `deliverAt` is in the store, so a restart does not forget it) and emails the customer when due.
 */
export function registerSubscriptionReminders({ ferry, repo }: HandlerDeps): void {
  ferry.on(
    SubscriptionRenewalDue,
    async (event, ctx) => {
      const { subscriptionId, email, plan, renewsAt } = event.data;
      await repo.writer(ctx.tx).insertNotification({
        id: `${event.id}:email`,
        channel: "email",
        recipient: email,
        subject: `Your ${plan} subscription renews soon`,
        body: `Subscription ${subscriptionId} renews at ${renewsAt}.`,
        eventId: event.id,
        eventType: event.type,
        sentAt: new Date().toISOString(),
      });
    },
    { name: "renewal-reminder" },
  );
}
