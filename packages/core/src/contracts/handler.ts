import type { EventDefinition, EventInput } from "../define-event.js";
import type { EventEnvelope, Priority } from "../event.js";

/** A minimal structured logger; `console` fits. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options of one publish. Durations are milliseconds or strings like `"10m"`. */
export interface PublishEventOptions {
  /** Event id; a UUIDv7 when absent. Publishing the same id twice is a no-op. */
  id?: string;
  /** Ordering key: same key ⇒ handled one at a time, in order. */
  key?: string;
  /** 1 (highest) … 5. @default 3 */
  priority?: Priority;
  /** Deliver no earlier than this long from now. */
  delay?: number | string;
  /** Deliver no earlier than this instant. */
  deliverAt?: Date;
  correlationId?: string;
  causationId?: string;
  traceparent?: string;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

/** Publishes typed events; inside a handler it publishes through the handler's transaction. */
export type PublishFn = <D extends EventDefinition>(
  definition: D,
  data: EventInput<D>,
  options?: PublishEventOptions,
) => Promise<string>;

/** What a handler gets besides the event. */
export interface HandlerContext<TTx = unknown> {
  /**
   * The store's transaction that also marks this event processed: writes through it take effect
   * exactly once. (pg: a `PoolClient` inside `BEGIN`; SQLite: the `Database`; memory: a `MemoryTx`.)
   */
  readonly tx: TTx;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Maximum attempts before the event is dead-lettered. */
  readonly maxAttempts: number;
  /** Aborted on handler timeout and on shutdown past the drain timeout. */
  readonly signal: AbortSignal;
  /** Publishes follow-up events in the same transaction (causation and correlation set). */
  readonly publish: PublishFn;
  readonly logger: Logger;
  /** The handler's name (unique within its consumer group). */
  readonly handlerName: string;
  /** The consumer group. */
  readonly group: string;
}

/** An event handler. Throwing means: retry by policy, then dead-letter. */
export type Handler<TData = unknown, TTx = unknown> = (
  event: EventEnvelope<string, TData>,
  ctx: HandlerContext<TTx>,
) => Promise<void>;

/**
 * A decorator around a handler. `retry` may call `next` more than once. Return a named function
 * so stack traces name it.
 *
 * @example
 * const timing: Middleware = (next) => async function timing(event, ctx) {
 *   const t = performance.now(); try { await next(event, ctx) } finally { log(performance.now() - t) }
 * };
 */
export type Middleware = (next: Handler) => Handler;

/** Composes middleware: the first is outermost. */
export function composeMiddleware(middleware: readonly Middleware[], handler: Handler): Handler {
  let h = handler;
  for (let i = middleware.length - 1; i >= 0; i--) h = (middleware[i] as Middleware)(h);
  return h;
}
