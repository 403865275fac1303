import { definePlugin, type Logger, type Middleware } from "eventferry";

/** Logs every handler run, retry and dead letter: a plugin written against the public Plugin interface. */
export function loggingPlugin(log: Logger) {
  const timing: Middleware = (next) =>
    async function logged(event, ctx) {
      const started = performance.now();
      try {
        await next(event, ctx);
        log.info(`${ctx.handlerName} handled ${event.type}`, {
          id: event.id,
          ms: performance.now() - started,
        });
      } catch (error) {
        log.warn(`${ctx.handlerName} failed on ${event.type} (attempt ${ctx.attempt}/${ctx.maxAttempts})`, {
          id: event.id,
          error: error instanceof Error ? error.message : String(error),
        });
        throw error; // keep the retry policy in charge
      }
    };
  return definePlugin({
    name: "logging",
    setup(ctx) {
      log.info(`logging on store ${ctx.storeName}, transport ${ctx.transportName}`);
    },
    middleware: [timing],
    hooks: {
      onPublish: (events) => log.debug(`published ${events.length} event(s)`),
      onRetry: (event, _error, nextAt, info) =>
        log.info(`${info.handler} retries ${event.type} at ${nextAt.toISOString()}`, { id: event.id }),
      onDeadLetter: (event, _error, info) =>
        log.error(`${info.handler} dead-lettered ${event?.type ?? "a message"}: ${info.reason}`, {
          id: event?.id,
        }),
    },
  });
}
