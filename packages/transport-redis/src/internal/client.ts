// The ioredis clients of a transport: the command client (ours or the caller's), blocking
// duplicates for subscriptions, script calls with a NOSCRIPT fallback, and quiet shutdown.
import { createHash } from "node:crypto";
import type { Logger } from "@eventferry/core";
import { redact } from "@eventferry/core";
import type { Cluster, Redis } from "ioredis";

/** A standalone/Sentinel client or a Cluster client. */
export type RedisClient = Redis | Cluster;

/** True for an ioredis `Cluster` (checked by its flag, so duplicate installs of ioredis work). */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: unknown }).isCluster === true;
}

/**
 * Options forced on every blocking connection: wait offline while reconnecting, resend the read
 * after a reconnect, and no socket timeout (a read legitimately waits `blockMs` for data; the
 * subscription's watchdog replaces a blocking connection that stays silent past it).
 */
const BLOCKING_OVERRIDES = {
  lazyConnect: true,
  maxRetriesPerRequest: null,
  enableOfflineQueue: true,
  autoResendUnfulfilledCommands: true,
  socketTimeout: undefined,
} as const;

/** A new connection like `client` (same server, credentials, TLS), named `name`, for blocking reads. */
export function duplicateForBlocking(
  client: RedisClient,
  name: string,
  logger: Logger,
  tracker?: ConnectionErrorTracker,
): RedisClient {
  let dup: RedisClient;
  if (isCluster(client)) {
    const redisOptions = {
      ...(client.options.redisOptions ?? {}),
      connectionName: name,
      socketTimeout: undefined,
    };
    dup = client.duplicate([], { ...BLOCKING_OVERRIDES, redisOptions, lazyConnect: true });
  } else {
    dup = client.duplicate({ ...BLOCKING_OVERRIDES, connectionName: name });
  }
  quietErrors(dup, logger, name, tracker);
  return dup;
}

/** The last connection error seen by a transport's clients (cleared when one becomes ready). */
export interface ConnectionErrorTracker {
  last: string | undefined;
}

/**
 * Routes a client's `error` events to the logger at debug level (ioredis retries by itself) and
 * remembers the last one, so "max retries" and timeouts can say what went wrong (a refused
 * connection, an untrusted certificate, bad credentials).
 */
export function quietErrors(
  client: RedisClient,
  logger: Logger,
  name: string,
  tracker?: ConnectionErrorTracker,
): void {
  client.on("error", (error: unknown) => {
    const message = redact(error instanceof Error ? error.message : String(error));
    if (tracker) tracker.last = message;
    logger.debug(`redis connection ${name}: ${message}`);
  });
  if (tracker) {
    client.on("ready", () => {
      tracker.last = undefined;
    });
  }
}

/** Closes a client we own: QUIT when connected (bounded), else disconnect. Never throws. */
export async function closeClient(client: RedisClient, timeoutMs = 2_000): Promise<void> {
  const status = (client as { status?: string }).status;
  if (status === "end") return;
  if (status !== "ready") {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit().then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
    if ((client as { status?: string }).status !== "end") client.disconnect();
  }
}

/** A Lua script run by EVALSHA, falling back to EVAL once when the server does not know it (after a restart). */
export class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(
    client: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await client.call("EVALSHA", this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.call("EVAL", this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Where a caller's client points, for messages: never credentials. */
export function describeClient(client: RedisClient): string {
  if (isCluster(client)) {
    const nodes = (client as unknown as { startupNodes?: unknown[] }).startupNodes ?? [];
    const first = nodes[0] as { host?: string; port?: number } | string | number | undefined;
    const where =
      typeof first === "object" && first !== null
        ? `${first.host ?? "127.0.0.1"}:${first.port ?? 6379}`
        : String(first ?? "?");
    return `redis-cluster://${where}`;
  }
  const o = client.options;
  if (o.sentinels && o.sentinels.length > 0) return `redis-sentinel://${o.name ?? "?"}`;
  if (o.path) return `redis+unix://${o.path}`;
  return `${o.tls ? "rediss" : "redis"}://${o.host ?? "127.0.0.1"}:${o.port ?? 6379}/${o.db ?? 0}`;
}
