import {
  composeMiddleware,
  type EventDefinition,
  type EventEnvelope,
  type Handler,
  type HandlerContext,
  HandlerError,
  type Middleware,
  parseDuration,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  type TypeMatcher,
} from "@eventferry/core";
import type { HandlerOptions } from "../handler-options.js";

/** A handler as the engine runs it: its consumer name, matcher, policy and composed function. */
export interface RegisteredHandler {
  readonly name: string;
  /** `${group}/${name}`: the inbox entries' consumer. */
  readonly consumer: string;
  readonly definition: EventDefinition | undefined;
  readonly matches: TypeMatcher;
  readonly policy: RetryPolicy;
  readonly timeoutMs: number;
  /**
   * The attempt: plugins' middleware (outermost) → handler middleware → the user's function, all
   * within `timeoutMs`. The caller's `ctx.signal` MUST come from an AbortController the timeout may
   * abort: pass it as `ctx.signal` and keep the controller in `ctx` via {@link attemptContext}.
   */
  readonly run: Handler;
  /** Set for handlers registered by `handleBatch`: the dispatcher claims and runs them in batches. */
  readonly batch?: RegisteredBatch | undefined;
}

/** The batch side of a handler registered by `handleBatch`. */
export interface RegisteredBatch {
  readonly maxSize: number;
  readonly maxWaitMs: number;
  /** The user's batch function within `timeoutMs` (the built-in timeout, as for `run`). */
  readonly run: (events: readonly EventEnvelope[], ctx: HandlerContext) => Promise<void>;
}

export function buildBatchHandler(params: {
  name: string;
  consumer: string;
  definition: EventDefinition | undefined;
  matches: TypeMatcher;
  fn: (events: readonly EventEnvelope[], ctx: HandlerContext) => Promise<void>;
  retry: RetryOptions | false | undefined;
  timeoutMs: number;
  maxSize: number;
  maxWaitMs: number;
  defaultRetry: RetryPolicy;
}): RegisteredHandler {
  const policy =
    params.retry === false
      ? retryPolicy({ attempts: 1 })
      : params.retry
        ? retryPolicy(params.retry)
        : params.defaultRetry;
  const runBatch = (events: readonly EventEnvelope[], ctx: HandlerContext) =>
    withTimeout((c) => params.fn(events, c), ctx, params.timeoutMs, {
      eventIds: events.map((e) => e.id),
      handler: ctx.handlerName,
    });
  return {
    name: params.name,
    consumer: params.consumer,
    definition: params.definition,
    matches: params.matches,
    policy,
    timeoutMs: params.timeoutMs,
    run: (event, ctx) => runBatch([event], ctx),
    batch: { maxSize: params.maxSize, maxWaitMs: params.maxWaitMs, run: runBatch },
  };
}

export function buildHandler(params: {
  name: string;
  consumer: string;
  definition: EventDefinition | undefined;
  matches: TypeMatcher;
  fn: Handler<unknown, unknown>;
  options: HandlerOptions;
  defaultRetry: RetryPolicy;
  defaultTimeoutMs: number;
  pluginMiddleware: readonly Middleware[];
}): RegisteredHandler {
  const { options } = params;
  const policy =
    options.retry === false
      ? retryPolicy({ attempts: 1 })
      : options.retry
        ? retryPolicy(options.retry)
        : params.defaultRetry;
  const timeoutMs =
    options.timeout === undefined ? params.defaultTimeoutMs : parseDuration(options.timeout, "timeout");
  const composed = composeMiddleware(
    [...params.pluginMiddleware, ...(options.middleware ?? [])],
    params.fn as Handler,
  );
  const run: Handler = (event, ctx) =>
    withTimeout((c) => composed(event, c), ctx, timeoutMs, {
      eventId: event.id,
      type: event.type,
      handler: ctx.handlerName,
    });
  return {
    name: params.name,
    consumer: params.consumer,
    definition: params.definition,
    matches: params.matches,
    policy,
    timeoutMs,
    run,
  };
}

const controllers = new WeakMap<AbortSignal, AbortController>();

/**
 * Registers the controller behind an attempt's `ctx.signal`, so the built-in timeout aborts it
 * directly (one controller per attempt, no second one per timeout).
 */
export function attemptSignal(controller: AbortController): AbortSignal {
  controllers.set(controller.signal, controller);
  return controller.signal;
}

/**
 * Runs `run` and fails the attempt with a retryable `HandlerError` (`HANDLER_TIMEOUT`) after
 * `ms`, aborting `ctx.signal` so cooperative handlers stop, even if the handler ignores it.
 */
async function withTimeout(
  run: (ctx: HandlerContext) => Promise<void>,
  ctx: HandlerContext,
  ms: number,
  details: Record<string, unknown>,
): Promise<void> {
  let controller = controllers.get(ctx.signal);
  let onParentAbort: (() => void) | undefined;
  const parent = ctx.signal;
  if (!controller) {
    // A caller without a registered controller: derive one from its signal.
    const own = new AbortController();
    onParentAbort = () => own.abort(parent.reason);
    if (parent.aborted) own.abort(parent.reason);
    else parent.addEventListener("abort", onParentAbort, { once: true });
    controller = own;
    ctx = { ...ctx, signal: own.signal };
  }
  const target = controller;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new HandlerError(`[eventferry:inbox] handler timed out after ${ms} ms`, {
        code: "HANDLER_TIMEOUT",
        details,
      });
      target.abort(err);
      reject(err);
    }, ms);
    timer.unref?.();
  });
  try {
    return await Promise.race([run(ctx), timedOut]);
  } finally {
    clearTimeout(timer);
    if (onParentAbort) parent.removeEventListener("abort", onParentAbort);
  }
}
