// The demo's entry point: env → config → app, the banner, and the signals.
import { createConsoleLogger, redact } from "eventferry";
import { startApp } from "./app.js";
import { loadConfig } from "./config.js";
import { handleSignals } from "./shutdown.js";
import { describeStartupError } from "./startup-error.js";
import { tourText } from "./tour.js";

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createConsoleLogger(config.logLevel, "demo");
  const app = await startApp(config, { logger });
  handleSignals(process, app.shutdown, (code) => process.exit(code), logger);
  const where = `store ${redact(config.store)}, transport ${redact(config.transport)}`;
  process.stdout.write(
    `\nListening on ${app.url} (${where}); Ctrl+C stops.\n\n${tourText(app.url, config.adminToken !== undefined)}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${describeStartupError(error)}\n`);
  process.exit(1);
});
