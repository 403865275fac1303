import {
  ConfigError,
  type Duration,
  type Handler,
  isEventferryError,
  type Middleware,
  parseDuration,
} from "@eventferry/core";
import { wantsDeadLetter } from "../internal/dead-letter-request.js";
import { savepointOf } from "../internal/savepoint.js";
import { sleep } from "../internal/wakeup.js";

/** Options of {@link retry}. */
export interface RetryMiddlewareOptions {
  /** Tries within one attempt, the first included. @default 3 */
  attempts?: number;
  /** Pause between tries. @default "100ms" */
  delay?: Duration;
  /**
   * Which errors are worth another try. @default every error except those that ask to be
   * dead-lettered (`deadLetter: true`) and Eventferry errors that are not `retryable`
   * (a `ValidationError`, …)
   */
  when?: (error: unknown) => boolean;
}

/**
 * Retries a failing handler in process, inside the same attempt and transaction, for transient
 * errors (a deadlock, a flaky HTTP call): a short pause instead of a scheduled retry by the
 * handler's policy. When every try fails, the last error fails the attempt as usual.
 *
 * On stores with savepoints (SQLite, PostgreSQL) each try runs in its own savepoint, so a failed
 * try's writes through `ctx.tx` are undone before the next; on the memory store they are not.
 * Stops early when `ctx.signal` aborts (timeout, shutdown). Put `timeout()` inside it to give each
 * try its own time limit; the handler's `timeout` option bounds all tries together.
 *
 * @example
 * ferry.on(OrderCreated, handler, { middleware: [retry({ attempts: 3, delay: "50ms" })] })
 */
export function retry(options: RetryMiddlewareOptions = {}): Middleware {
  const attempts = options.attempts ?? 3;
  const problems: string[] = [];
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 100)
    problems.push("attempts must be an integer in 1..100");
  let delayMs = 100;
  try {
    if (options.delay !== undefined) delayMs = parseDuration(options.delay, "delay");
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (options.when !== undefined && typeof options.when !== "function")
    problems.push("when must be a function");
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:inbox] invalid retry() options: ${problems.join("; ")}`, { problems });
  }
  const when = options.when ?? isTransient;
  return (next: Handler): Handler =>
    async function retryMiddleware(event, ctx) {
      const savepoint = savepointOf(ctx);
      for (let tryNo = 1; ; tryNo++) {
        try {
          if (savepoint) await savepoint((client) => next(event, { ...ctx, tx: client }));
          else await next(event, ctx);
          return;
        } catch (error) {
          if (tryNo >= attempts || ctx.signal.aborted || !when(error)) throw error;
          ctx.logger.debug(`retrying ${event.type} ${event.id} in process (try ${tryNo + 1}/${attempts})`, {
            handler: ctx.handlerName,
            error: error instanceof Error ? error.message : String(error),
          });
          if (delayMs > 0) await sleep(delayMs, ctx.signal);
          if (ctx.signal.aborted) throw error;
        }
      }
    };
}

function isTransient(error: unknown): boolean {
  if (wantsDeadLetter(error)) return false;
  if (isEventferryError(error)) return error.retryable;
  return true;
}
