import { type Handler, HandlerError, type Middleware } from "@eventferry/core";

/**
 * Fails an attempt that runs longer than `ms`: aborts the handler's `ctx.signal` (so cooperative
 * handlers stop) and rejects with a retryable `HandlerError` (code `HANDLER_TIMEOUT`) even if the
 * handler ignores the signal. Its transaction then rolls back.
 *
 * The inbox applies one per handler from the `timeout` option; use this for finer control.
 *
 * @example
 * ferry.on(Slow, handler, { middleware: [timeout(5_000)] })
 */
export function timeout(ms: number): Middleware {
  return (next: Handler): Handler =>
    async function timeoutMiddleware(event, ctx) {
      const controller = new AbortController();
      const parent = ctx.signal;
      const onParentAbort = () => controller.abort(parent.reason);
      if (parent.aborted) controller.abort(parent.reason);
      else parent.addEventListener("abort", onParentAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new HandlerError(`[eventferry:inbox] handler timed out after ${ms} ms`, {
            code: "HANDLER_TIMEOUT",
            details: { eventId: event.id, type: event.type, handler: ctx.handlerName },
          });
          controller.abort(err);
          reject(err);
        }, ms);
        timer.unref?.();
      });
      try {
        return await Promise.race([next(event, { ...ctx, signal: controller.signal }), timedOut]);
      } finally {
        clearTimeout(timer);
        parent.removeEventListener("abort", onParentAbort);
      }
    };
}
