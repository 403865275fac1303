import type { Logger } from "eventferry";

/** What {@link handleSignals} needs from the process (a test passes its own). */
export interface SignalTarget {
  once(signal: "SIGINT" | "SIGTERM", listener: () => void): unknown;
}

/**
 * Shuts down gracefully on the first SIGINT or SIGTERM (`shutdown()`, then `exit(0)`; `exit(1)`
 * when shutdown fails). A second signal while shutting down exits at once with code 1.
 *
 * @example
 * handleSignals(process, app.shutdown, (code) => process.exit(code), logger);
 */
export function handleSignals(
  target: SignalTarget,
  shutdown: () => Promise<void>,
  exit: (code: number) => void,
  logger: Logger,
): void {
  let shuttingDown = false;
  const onSignal = (signal: "SIGINT" | "SIGTERM") => () => {
    if (shuttingDown) {
      logger.warn(`${signal} again: exiting without waiting`);
      exit(1);
      return;
    }
    shuttingDown = true;
    logger.info(`${signal}: shutting down (finishing in-flight handlers)`);
    // Listen again, so a second signal forces the exit.
    target.once("SIGINT", onSignal("SIGINT"));
    target.once("SIGTERM", onSignal("SIGTERM"));
    shutdown().then(
      () => {
        logger.info("stopped");
        exit(0);
      },
      (error: unknown) => {
        logger.error("shutdown failed", { error: error instanceof Error ? error.message : String(error) });
        exit(1);
      },
    );
  };
  target.once("SIGINT", onSignal("SIGINT"));
  target.once("SIGTERM", onSignal("SIGTERM"));
}
