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
import type { InboxEntry, Store, StoreTx } from "@eventferry/store";
import { toAttemptError } from "@eventferry/store";
import { deadLetterReason, wantsDeadLetter } from "./dead-letter-request.js";
import type { RegisteredHandler } from "./registered-handler.js";
import { withSavepoint } from "./savepoint.js";

type Hooks = NonNullable<Plugin["hooks"]>;
type HookFn = <K extends keyof Hooks>(name: K, ...args: Parameters<NonNullable<Hooks[K]>>) => Promise<void>;

export type EntryOutcome =
  | { kind: "completed" }
  | { kind: "retry"; nextAt: Date }
  | { kind: "dead-lettered" }
  | { kind: "lease-lost" };

export class LeaseLost extends EventferryError {
  constructor() {
    super("LEASE_LOST", "[eventferry:inbox] lease lost before completion; the transaction was rolled back");
  }
}

/**
 * The context a handler gets: `ctx.tx` is the transaction's client; `ctx.publish` adds to the
 * outbox in the same transaction, with causation and correlation ids taken from `event` (none for
 * a batch, whose `event` is undefined). Carries the store's savepoint for `retry()`.
 */
export function handlerContext(params: {
  tx: StoreTx;
  event: EventEnvelope | undefined;
  attempt: number;
  maxAttempts: number;
  signal: AbortSignal;
  topic: string;
  group: string;
  logger: Logger;
  handlerName: string;
  onPublish: () => void;
}): HandlerContext {
  const { tx, event } = params;
  const publish = async <D extends EventDefinition>(
    definition: D,
    data: Parameters<HandlerContext["publish"]>[1],
    options: PublishEventOptions = {},
  ): Promise<string> => {
    const next = createEnvelope(
      definition,
      data as never,
      event
        ? {
            ...options,
            causationId: options.causationId ?? event.id,
            correlationId: options.correlationId ?? event.correlationId ?? event.id,
            ...(event.traceparent && !options.traceparent ? { traceparent: event.traceparent } : {}),
          }
        : options,
    ) as EventEnvelope;
    await publishInTransaction(tx, params.topic, [next]);
    params.onPublish();
    return next.id;
  };
  const ctx: HandlerContext = {
    tx: tx.client,
    attempt: params.attempt,
    maxAttempts: params.maxAttempts,
    signal: params.signal,
    publish: publish as HandlerContext["publish"],
    logger: params.logger,
    handlerName: params.handlerName,
    group: params.group,
  };
  return withSavepoint(ctx, tx);
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
      const ctx = handlerContext({
        tx,
        event,
        attempt: entry.attempt,
        maxAttempts: entry.maxAttempts,
        signal: params.signal,
        topic: params.topic,
        group: params.group,
        logger,
        handlerName: handler.name,
        onPublish: () => {
          published = true;
        },
      });
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
    return failEntry(params, error);
  }
  if (published) params.wakeRelay();
  await params.hook("onProcessed", event, { ...info, durationMs: performance.now() - started });
  return { kind: "completed" };
}

/**
 * Settles a failed attempt of a claimed entry: a retry by the handler's policy, or the dead
 * letters after the last attempt or when the error asks for it (`deadLetter: true`).
 */
export async function failEntry(
  params: {
    entry: InboxEntry;
    handler: RegisteredHandler;
    store: Store;
    logger: Logger;
    hook: HookFn;
  },
  error: unknown,
): Promise<EntryOutcome> {
  const { entry, handler, store, logger } = params;
  const attemptError = toAttemptError(error);
  const info = { handler: handler.name, attempt: entry.attempt };
  const forced = wantsDeadLetter(error);
  if (forced || entry.attempt >= entry.maxAttempts) {
    const reason = forced ? deadLetterReason(error) : `max attempts (${entry.maxAttempts}) reached`;
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
