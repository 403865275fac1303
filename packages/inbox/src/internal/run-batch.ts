import type { Logger, Plugin } from "@eventferry/core";
import type { InboxEntry, Store } from "@eventferry/store";
import type { RegisteredHandler } from "./registered-handler.js";
import { type EntryOutcome, failEntry, handlerContext, LeaseLost } from "./run-entry.js";

type Hooks = NonNullable<Plugin["hooks"]>;
type HookFn = <K extends keyof Hooks>(name: K, ...args: Parameters<NonNullable<Hooks[K]>>) => Promise<void>;

/**
 * Runs claimed entries of one batch handler: its function and the completion of every entry in
 * one store transaction. A failure fails each entry's attempt by its own count (retry or dead
 * letter); a lease lost on any entry rolls the batch back and gives the others back unused.
 * Returns one outcome per entry, in order.
 */
export async function runBatch(params: {
  entries: readonly InboxEntry[];
  handler: RegisteredHandler;
  store: Store;
  topic: string;
  group: string;
  logger: Logger;
  signal: AbortSignal;
  hook: HookFn;
  wakeRelay: () => void;
}): Promise<EntryOutcome[]> {
  const { entries, handler, store, logger, hook } = params;
  const batch = handler.batch;
  if (!batch) throw new Error(`handler "${handler.name}" is not a batch handler`);
  for (const entry of entries)
    await hook("onReceive", entry.event, { handler: handler.name, attempt: entry.attempt });
  const refs = entries.map((e) => ({ id: e.id, leaseToken: e.leaseToken }));
  const started = performance.now();
  let published = false;
  let lost: readonly boolean[] | undefined;
  try {
    await store.transaction(async (tx) => {
      const ctx = handlerContext({
        tx,
        event: undefined,
        attempt: Math.max(...entries.map((e) => e.attempt)),
        maxAttempts: Math.min(...entries.map((e) => e.maxAttempts)),
        signal: params.signal,
        topic: params.topic,
        group: params.group,
        logger,
        handlerName: handler.name,
        onPublish: () => {
          published = true;
        },
      });
      await batch.run(
        entries.map((e) => e.event),
        ctx,
      );
      const outcomes = await tx.inbox.complete({ entries: refs });
      if (outcomes.some((o) => o !== "completed")) {
        lost = outcomes.map((o) => o !== "completed");
        throw new LeaseLost();
      }
    });
  } catch (error) {
    if (error instanceof LeaseLost) {
      // Entries still ours (their completion was rolled back) go back unused.
      const mask = lost ?? entries.map(() => true);
      const keep = refs.filter((_, i) => !mask[i]);
      logger.warn(
        "lease lost on a batch: another worker took an entry over; the batch was rolled back here",
        {
          handler: handler.name,
          lost: mask.filter(Boolean).length,
        },
      );
      if (keep.length > 0) {
        await store.inbox
          .release({ entries: keep })
          .catch((e) => logger.warn("releasing a rolled-back batch failed", { error: e }));
      }
      return entries.map(() => ({ kind: "lease-lost" }) as const);
    }
    const outcomes: EntryOutcome[] = [];
    for (const entry of entries)
      outcomes.push(await failEntry({ entry, handler, store, logger, hook }, error));
    return outcomes;
  }
  if (published) params.wakeRelay();
  const durationMs = performance.now() - started;
  for (const entry of entries) {
    await hook("onProcessed", entry.event, { handler: handler.name, attempt: entry.attempt, durationMs });
  }
  return entries.map(() => ({ kind: "completed" }) as const);
}
