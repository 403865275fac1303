import type { Duration, EventEnvelope, HandlerContext, RetryOptions } from "@eventferry/core";

/**
 * The context of a batch handler: `ctx.tx` is the one transaction whose commit completes every
 * event of the batch. `attempt` is the highest attempt among the batch's events, `maxAttempts`
 * the lowest limit; `ctx.publish` sets no causation id (a follow-up has no single cause).
 */
export type BatchContext<TTx = unknown> = HandlerContext<TTx>;

/**
 * A batch handler: gets up to `maxSize` events at once. Throwing fails the attempt of every event
 * of the batch (each retried or dead-lettered by its own attempt count).
 */
export type BatchHandler<TData = unknown, TTx = unknown> = (
  events: readonly EventEnvelope<string, TData>[],
  ctx: BatchContext<TTx>,
) => Promise<void>;

/** Options of one batch handler (`handleBatch`, `ferry.onBatch`). */
export interface BatchHandlerOptions {
  /**
   * Unique within the consumer group; it names the handler's inbox entries.
   * @default the definition's type, or the pattern
   */
  name?: string;
  /** Most events in one batch, 1..10000. @default 100 */
  maxSize?: number;
  /**
   * How long to wait for more events when fewer than `maxSize` are due, counted from the first
   * claimed one; shorter than the inbox's `lease`. @default "100ms"
   */
  maxWait?: Duration;
  /** Retry policy of each event of the batch; `false` means one attempt. @default the inbox's `retry` */
  retry?: RetryOptions | false;
  /**
   * Aborts `ctx.signal` and fails the batch after this long; at most the lease minus `maxWait`.
   * @default the inbox's `handlerTimeout`
   */
  timeout?: Duration;
}

/** Defaults of {@link BatchHandlerOptions}. */
export const batchHandlerDefaults = { maxSize: 100, maxWaitMs: 100 } as const;
