import { UserCreated, UserDeleted } from "../events.js";
import type { HandlerDeps } from "./handler-deps.js";

/** Registers the user lifecycle: a welcome email on `user.created`, a goodbye email on `user.deleted`. */
export function registerUserLifecycle({ ferry, repo }: HandlerDeps): void {
  ferry.on(
    UserCreated,
    async (event, ctx) => {
      await repo.writer(ctx.tx).insertNotification({
        id: `${event.id}:email`,
        channel: "email",
        recipient: event.data.email,
        subject: `Welcome, ${event.data.name}`,
        body: `Your account ${event.data.userId} is ready.`,
        eventId: event.id,
        eventType: event.type,
        sentAt: new Date().toISOString(),
      });
    },
    { name: "welcome-email" },
  );

  ferry.on(
    UserDeleted,
    async (event, ctx) => {
      await repo.writer(ctx.tx).insertNotification({
        id: `${event.id}:email`,
        channel: "email",
        recipient: event.data.email,
        subject: "Your account was closed",
        body: `Account ${event.data.userId} was closed${event.data.reason ? `: ${event.data.reason}` : "."}`,
        eventId: event.id,
        eventType: event.type,
        sentAt: new Date().toISOString(),
      });
    },
    { name: "goodbye-email" },
  );
}
