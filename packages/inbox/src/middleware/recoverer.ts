import { type Handler, HandlerError, type Middleware } from "@eventferry/core";

/**
 * Makes every failure an `Error`: a thrown string, object or `undefined` (a "panic"), and a
 * handler that throws synchronously or returns no promise, become a `HandlerError`
 * (`HANDLER_FAILED`, retryable) carrying the thrown value as `cause`, its text as the message and
 * a stack that names the handler, so the attempt's history and the dead letter say what happened.
 * `Error`s pass through unchanged. Put it first (outermost) so it also sees what the other
 * middleware throws.
 *
 * @example
 * ferry.on(OrderCreated, handler, { middleware: [recoverer(), retry()] })
 */
export function recoverer(): Middleware {
  return (next: Handler): Handler =>
    async function recovererMiddleware(event, ctx) {
      try {
        await next(event, ctx);
      } catch (thrown) {
        if (thrown instanceof Error) throw thrown;
        const error = new HandlerError(
          `[eventferry:inbox] handler "${ctx.handlerName}" threw a non-Error value: ${describe(thrown)}`,
          {
            cause: thrown,
            details: { eventId: event.id, type: event.type, handler: ctx.handlerName },
          },
        );
        Error.captureStackTrace?.(error, recovererMiddleware);
        error.stack = `${error.stack ?? error.message}\n    at handler "${ctx.handlerName}" for ${event.type} ${event.id}`;
        throw error;
      }
    };
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "string") return JSON.stringify(value.slice(0, 500));
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 500);
  } catch {
    return String(value).slice(0, 500);
  }
}
