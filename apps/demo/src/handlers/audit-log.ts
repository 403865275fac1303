import type { HandlerDeps } from "./handler-deps.js";

/** Registers the audit log: every event (`**`) is recorded once, in the handler's transaction. */
export function registerAuditLog({ ferry, repo }: HandlerDeps): void {
  ferry.on(
    "**",
    async (event, ctx) => {
      await repo.writer(ctx.tx).insertAudit({
        eventId: event.id,
        type: event.type,
        key: event.key ?? null,
        occurredAt: event.occurredAt,
        handledAt: new Date().toISOString(),
      });
    },
    { name: "audit" },
  );
}
