import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { healthPlugin, type MetricsPlugin, metricsPlugin } from "@eventferry/metrics";
import { ConfigError, createConsoleLogger, createEventferry, type Eventferry, type Logger } from "eventferry";
import type { DemoConfig } from "./config.js";
import { demoEvents } from "./events.js";
import { registerHandlers } from "./handlers/index.js";
import { createHttpServer } from "./http/server.js";
import { openAdapters } from "./open-adapters.js";
import { activityLogPlugin } from "./plugins/activity-log.js";
import { createShopRepository, type ShopRepository } from "./repository/shop-repository.js";

/** Options of {@link startApp} that tests replace. */
export interface StartAppOptions {
  /** The demo's log. @default a console logger at `config.logLevel`, prefix "demo" */
  logger?: Logger;
  /** Eventferry's log. @default a console logger at `config.logLevel` */
  ferryLogger?: Logger;
  /** The webhook provider's dice. @default Math.random */
  random?: () => number;
}

/** A running demo: the HTTP server, the ferry and the shop's data. */
export interface DemoApp {
  /** e.g. `http://127.0.0.1:3000` (the real port when `config.port` was 0). */
  readonly url: string;
  readonly server: Server;
  readonly ferry: Eventferry;
  readonly repo: ShopRepository;
  /** The metrics plugin (Prometheus text at `GET /metrics`). */
  readonly metrics: MetricsPlugin;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight handlers finish (within
   * `config.shutdownTimeoutMs`), stops the ferry, closes the transport and the store. Idempotent.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts the demo: opens the store and transport, creates the ferry with the shop's handlers,
 * creates the shop's tables, starts consuming, and listens on `config.host:config.port`.
 *
 * @example
 * const app = await startApp(loadConfig(process.env));
 * console.log(app.url);
 */
export async function startApp(config: DemoConfig, options: StartAppOptions = {}): Promise<DemoApp> {
  const logger = options.logger ?? createConsoleLogger(config.logLevel, "demo");
  const ferryLogger = options.ferryLogger ?? createConsoleLogger(config.logLevel);
  const adapters = await openAdapters({ store: config.store, transport: config.transport }, logger);
  let ferry: Eventferry | undefined;
  let server: Server | undefined;
  try {
    const metrics = metricsPlugin({ statsInterval: "5s" });
    ferry = await createEventferry({
      store: adapters.store,
      transport: adapters.transport,
      events: demoEvents,
      group: "shop",
      concurrency: config.concurrency,
      retry: {
        attempts: config.retryAttempts,
        backoff: "exponential",
        delay: config.retryDelayMs,
        maxDelay: config.retryMaxDelayMs,
      },
      logger: ferryLogger,
      // The health plugin first: it reads the transport's own report before others wrap it.
      plugins: [healthPlugin({ interval: "5s" }), metrics, activityLogPlugin(logger)],
    });
    // The adapter itself (not the ferry's decorated view): the PostgreSQL repository reads its schema and pool.
    const repo = createShopRepository(adapters.store);
    await repo.migrate();
    registerHandlers({ ferry, repo, config, logger, random: options.random ?? Math.random });
    await ferry.start();

    let url = "";
    const httpServer = createHttpServer({ ferry, repo, metrics, config, logger, baseUrl: () => url });
    server = httpServer;
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", (error: NodeJS.ErrnoException) => {
        if (error.code !== "EADDRINUSE" && error.code !== "EACCES" && error.code !== "EADDRNOTAVAIL") {
          reject(error);
          return;
        }
        const problem = `cannot listen on ${config.host}:${config.port} (${error.code}); choose another PORT or HOST`;
        reject(new ConfigError(`[demo] ${problem}`, { problems: [problem], cause: error }));
      });
      httpServer.listen(config.port, config.host, () => {
        httpServer.removeAllListeners("error");
        resolve();
      });
    });
    const address = httpServer.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    url = `http://${host}:${address.port}`;

    const runningFerry = ferry;
    let stopping: Promise<void> | undefined;
    const shutdown = (): Promise<void> => {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          // Requests in progress finish; keep-alive connections still open after the drain time are cut.
          const force = setTimeout(() => httpServer.closeAllConnections(), config.shutdownTimeoutMs);
          force.unref();
          httpServer.close(() => {
            clearTimeout(force);
            resolve();
          });
          httpServer.closeIdleConnections();
        });
        await runningFerry.stop({ timeout: config.shutdownTimeoutMs });
        await adapters.close();
      })();
      return stopping;
    };
    return { url, server: httpServer, ferry: runningFerry, repo, metrics, shutdown };
  } catch (error) {
    server?.close();
    await ferry?.stop().catch(() => {});
    await adapters.close();
    throw error;
  }
}
