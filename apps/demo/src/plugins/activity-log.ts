import { definePlugin, type Logger, type Plugin } from "eventferry";

/**
 * A plugin that narrates the ferry's work in the demo's log: retries at `info` (so the flaky
 * webhook's retries are visible), each handled event at `debug`. Dead letters are already logged by
 * Eventferry itself at `warn`.
 */
export function activityLogPlugin(logger: Logger): Plugin {
  return definePlugin({
    name: "demo-activity-log",
    hooks: {
      onRetry(event, error, nextAt, info) {
        const message = error instanceof Error ? error.message : String(error);
        const inMs = Math.max(0, nextAt.getTime() - Date.now());
        logger.info(
          `${info.handler}: attempt ${info.attempt} of ${event.type} failed (${message}); retrying in ${inMs} ms`,
          {
            eventId: event.id,
          },
        );
      },
      onProcessed(event, info) {
        logger.debug(`${info.handler}: handled ${event.type}`, {
          eventId: event.id,
          attempt: info.attempt,
          ms: Math.round(info.durationMs),
        });
      },
    },
  });
}
