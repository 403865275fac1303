// `pnpm demo:load`: drives a running demo with a steady or burst load and shows a live progress line.
import { loadToolEnv } from "./config.js";
import { LoadUsageError, loadUsage, parseLoadArgs } from "./load/load-options.js";
import { runLoad } from "./load/run-load.js";

async function main(): Promise<number> {
  let options: ReturnType<typeof parseLoadArgs>;
  try {
    options = parseLoadArgs(process.argv.slice(2), loadToolEnv(process.env).url);
  } catch (error) {
    if (!(error instanceof LoadUsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${loadUsage}\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${loadUsage}\n`);
    return 0;
  }
  const tty = process.stdout.isTTY === true;
  let live = false;
  const summary = await runLoad(options, {
    line(text) {
      process.stdout.write(`${live ? "\n" : ""}${text}\n`);
      live = false;
    },
    progress(text) {
      if (tty) {
        process.stdout.write(`\r\x1b[K${text}`);
        live = true;
      } else process.stdout.write(`${text}\n`);
    },
    now: () => performance.now(),
  });
  return summary.exitCode;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
