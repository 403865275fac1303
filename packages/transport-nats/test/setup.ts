import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

/** The test server URL (env EVENTFERRY_TEST_NATS_URL, else the local default). */
export const NATS_URL = process.env.EVENTFERRY_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/** `host:port` servers of {@link NATS_URL} (no credentials, no query). */
export const NATS_SERVERS = NATS_URL.replace(/\?.*$/, "");

/**
 * True when NATS with JetStream answers. When it does not: locally the suites skip with a one-line
 * hint; on CI (`CI=true`) this throws so the run fails.
 */
export async function natsAvailable(): Promise<boolean> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers: NATS_SERVERS, timeout: 2_000 });
    await (await jetstreamManager(nc)).getAccountInfo();
    return true;
  } catch (error) {
    if (process.env.CI === "true")
      throw new Error(`NATS JetStream is not reachable at ${NATS_URL}: ${String(error)}`);
    console.warn(
      `[transport-nats] skipping integration tests: no NATS JetStream at ${NATS_URL} (set EVENTFERRY_TEST_NATS_URL)`,
    );
    return false;
  } finally {
    await nc?.close().catch(() => {});
  }
}

/** Top-level await in test files: `describe.runIf(available)`. */
export const available = await natsAvailable();

/** A stream prefix unique to this test (valid as a stream name). */
export function uniquePrefix(label: string): string {
  return `eft-${label}-${process.pid}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 64);
}

/** A connection for test helpers (publishing by hand, deleting streams). */
export function adminConnection(): Promise<NatsConnection> {
  return connect({ servers: NATS_SERVERS, timeout: 5_000 });
}

/** Deletes the stream of a prefix (and with it its consumers); no error when it does not exist. */
export async function deleteStream(nc: NatsConnection, stream: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.delete(stream);
  } catch (error) {
    if (!/not found/i.test(String((error as Error)?.message))) throw error;
  }
}

/** Whether a stream exists. */
export async function streamExists(nc: NatsConnection, stream: string): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
    return true;
  } catch (error) {
    if (/not found/i.test(String((error as Error)?.message))) return false;
    throw error;
  }
}
