import {
  composeMiddleware,
  type EventDefinition,
  type Handler,
  type Middleware,
  parseDuration,
  type RetryPolicy,
  retryPolicy,
  type TypeMatcher,
} from "@eventferry/core";
import type { HandlerOptions } from "../handler-options.js";
import { timeout } from "../middleware/timeout.js";

/** A handler as the engine runs it: its consumer name, matcher, policy and composed function. */
export interface RegisteredHandler {
  readonly name: string;
  /** `${group}/${name}`: the inbox entries' consumer. */
  readonly consumer: string;
  readonly definition: EventDefinition | undefined;
  readonly matches: TypeMatcher;
  readonly policy: RetryPolicy;
  readonly timeoutMs: number;
  /** Plugins' middleware (outermost) → handler middleware → timeout → the user's function. */
  readonly run: Handler;
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
  const run = composeMiddleware(
    [...params.pluginMiddleware, ...(options.middleware ?? []), timeout(timeoutMs)],
    params.fn as Handler,
  );
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
