import {
  createEnvelope,
  type EventDefinition,
  type EventEnvelope,
  EventferryError,
  type HandlerContext,
  type Logger,
  type Plugin,
  type PublishEventOptions,
} from "@eventferry/core";
import { publishInTransaction } from "@eventferry/outbox";
import type { InboxEntry, Store } from "@eventferry/store";
import { toAttemptError } from "./attempt-error.js";
import type { RegisteredHandler } from "./registered-handler.js";

type Hooks = NonNullable<Plugin["hooks"]>;
type HookFn = <K extends keyof Hooks>(name: K, ...args: Parameters<NonNullable<Hooks[K]>>) => Promise<void>;

export type EntryOutcome =
  | { kind: "completed" }
  | { kind: "retry"; nextAt: Date }
  | { kind: "dead-lettered" }
  | { kind: "lease-lost" };

class LeaseLost extends EventferryError {
  constructor() {
    super("LEASE_LOST", "[eventferry:inbox] lease lost before completion; the transaction was rolled back");
  }
}

/**
 * Runs one claimed entry: the handler and the entry's completion in one store transaction, so the
 * handler's writes through `ctx.tx` take effect exactly once. A failure schedules a retry by the
 * handler's policy or, after the last attempt, dead-letters the entry.
 */
export async function runEntry(params: {
  entry: InboxEntry;
  handler: RegisteredHandler;
  store: Store;
  topic: string;
  group: string;
  logger: Logger;
  signal: AbortSignal;
  hook: HookFn;
  wakeRelay: () => void;
}): Promise<EntryOutcome> {
  const { entry, handler, store, logger } = params;
  const event = entry.event;
  const ref = { id: entry.id, leaseToken: entry.leaseToken };
  const info = { handler: handler.name, attempt: entry.attempt };
  await params.hook("onReceive", event, info);
  const started = performance.now();
  let published = false;
  try {
    await store.transaction(async (tx) => {
      const publish = async <D extends EventDefinition>(
        definition: D,
        data: Parameters<HandlerContext["publish"]>[1],
        options: PublishEventOptions = {},
      ): Promise<string> => {
        const next = createEnvelope(definition, data as never, {
          ...options,
          causationId: options.causationId ?? event.id,
          correlationId: options.correlationId ?? event.correlationId ?? event.id,
          ...(event.traceparent && !options.traceparent ? { traceparent: event.traceparent } : {}),
        }) as EventEnvelope;
        await publishInTransaction(tx, params.topic, [next]);
        published = true;
        return next.id;
      };
      const ctx: HandlerContext = {
        tx: tx.client,
        attempt: entry.attempt,
        maxAttempts: entry.maxAttempts,
        signal: params.signal,
        publish: publish as HandlerContext["publish"],
        logger,
        handlerName: handler.name,
        group: params.group,
      };
      await handler.run(event, ctx);
      const [outcome] = await tx.inbox.complete({ entries: [ref] });
      if (outcome !== "completed") throw new LeaseLost();
    });
  } catch (error) {
    if (error instanceof LeaseLost) {
      logger.warn("lease lost: another worker took the entry over; its effects were rolled back here", {
        entry: entry.id,
        handler: handler.name,
      });
      return { kind: "lease-lost" };
    }
    return fail(params, error);
  }
  if (published) params.wakeRelay();
  await params.hook("onProcessed", event, { ...info, durationMs: performance.now() - started });
  return { kind: "completed" };
}

async function fail(params: Parameters<typeof runEntry>[0], error: unknown): Promise<EntryOutcome> {
  const { entry, handler, store, logger } = params;
  const attemptError = toAttemptError(error);
  const info = { handler: handler.name, attempt: entry.attempt };
  if (entry.attempt >= entry.maxAttempts) {
    const reason = `max attempts (${entry.maxAttempts}) reached`;
    const outcome = await store.inbox.fail({
      id: entry.id,
      leaseToken: entry.leaseToken,
      error: attemptError,
      deadLetter: true,
      reason,
    });
    if (outcome === "lease-lost") return { kind: "lease-lost" };
    logger.warn(`dead-lettered ${entry.event.type} ${entry.event.id} after ${entry.attempt} attempt(s)`, {
      handler: handler.name,
      error: attemptError.message,
    });
    await params.hook("onDeadLetter", entry.event, error, { ...info, reason });
    return { kind: "dead-lettered" };
  }
  const delayMs = handler.policy.delayAfter(entry.attempt);
  const outcome = await store.inbox.fail({
    id: entry.id,
    leaseToken: entry.leaseToken,
    error: attemptError,
    retryInMs: delayMs,
  });
  if (outcome === "lease-lost") return { kind: "lease-lost" };
  const nextAt = new Date(Date.now() + delayMs);
  logger.debug(`retrying ${entry.event.type} ${entry.event.id} in ${delayMs} ms`, {
    handler: handler.name,
    attempt: entry.attempt,
    error: attemptError.message,
  });
  await params.hook("onRetry", entry.event, error, nextAt, info);
  return { kind: "retry", nextAt };
}
