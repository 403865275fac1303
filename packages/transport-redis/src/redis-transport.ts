import { hostname } from "node:os";
import {
  ConfigError,
  componentMessage,
  createConsoleLogger,
  type EncodedEvent,
  EventferryError,
  type HealthReport,
  isValidTopic,
  type Logger,
  PublishError,
  type PublishOptions,
  redact,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportFeatures,
  ValidationError,
} from "@eventferry/core";
import { Cluster, type ClusterNode, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { classifyRedisError, configError, toTransportError } from "./classify-error.js";
import {
  type ConnectionErrorTracker,
  closeClient,
  describeClient,
  duplicateForBlocking,
  isCluster,
  LuaScript,
  quietErrors,
  type RedisClient,
} from "./internal/client.js";
import { DATA_FIELD, entryFields, eventProblem, matchesEnvelope } from "./internal/entry-codec.js";
import {
  COMPONENT,
  clientName,
  delayedKey,
  MAX_PREFIX_LENGTH,
  PREFIX_RE,
  randomSuffix,
  streamKey,
} from "./internal/names.js";
import { RedisSubscription } from "./internal/redis-subscription.js";
import { CLAIM_SCRIPT, CLEANUP_SCRIPT, NACK_SCRIPT } from "./internal/scripts.js";

/** Stream trimming applied on publish (once per batch, on its last XADD). */
export type RedisTrimOptions =
  | {
      /** Keep about this many entries (`XADD … MAXLEN ~ n`). */
      readonly maxLen: number;
      /** `true`: exact trimming (`=`), slower. @default false (`~`, whole macro nodes) */
      readonly exact?: boolean | undefined;
    }
  | {
      /** Drop entries older than this many ms (`XADD … MINID ~ <now - maxAgeMs>`, server clock). */
      readonly maxAgeMs: number;
      /** `true`: exact trimming (`=`). @default false */
      readonly exact?: boolean | undefined;
    };

/** Options of {@link createRedisTransport}. Give exactly one of `url`, `client`, `cluster`. */
export interface RedisTransportOptions {
  /**
   * `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS): the transport makes and owns
   * its connections and closes them on `close()`.
   */
  url?: string | undefined;
  /**
   * Your own ioredis client (`Redis`, including Sentinel, or `Cluster`): used for commands, never
   * closed by the transport. Blocking reads run on `client.duplicate()` connections, which the
   * transport owns.
   */
  client?: Redis | Cluster | undefined;
  /** A Redis Cluster the transport connects to and owns: startup nodes and ioredis Cluster options. */
  cluster?:
    | { readonly nodes: readonly ClusterNode[]; readonly options?: ClusterOptions | undefined }
    | undefined;
  /**
   * ioredis options for the connections made from `url` (TLS settings, `username`/`password`,
   * `sentinels` + `name`, `connectTimeout`, `commandTimeout`, `retryStrategy`, …). Passed through;
   * `lazyConnect` is always on.
   */
  redisOptions?: RedisOptions | undefined;
  /**
   * Key prefix: topic `orders` lives in stream `<prefix>:{orders}`, its nacked entries in
   * `<prefix>:{orders}:delayed:<group>`. Segments of `[A-Za-z0-9_.-]` separated by `:`.
   * @default "eventferry"
   */
  prefix?: string | undefined;
  /** Trimming on publish. @default none: streams grow until trimmed by you */
  trim?: RedisTrimOptions | undefined;
  /**
   * Longest `BLOCK` of a read, in ms. Bounds how late a subscription notices a nack made while it
   * is blocked; new entries wake it at once. @default 1000
   */
  blockMs?: number | undefined;
  /**
   * How often a subscription looks for redeliveries (nacks that came due, entries idle past the
   * ack timeout). @default min(5000, max(50, ackTimeoutMs / 4)) per subscription
   */
  claimIntervalMs?: number | undefined;
  /**
   * Consumers idle this long with no pending entries are deleted from their group (checked by
   * every subscription now and then, atomically). `false` never deletes. @default 3_600_000 (1 h)
   */
  deadConsumerIdleMs?: number | false | undefined;
  /**
   * Extra time past `BLOCK` after which a blocking read that got no answer is abandoned and its
   * connection replaced (a half-open socket). Also the default ioredis `socketTimeout` of the
   * command connections the transport makes (from `url` or `cluster`): a command left without any
   * answer this long destroys its socket and the client reconnects, instead of waiting forever on
   * a connection that went silent (set `redisOptions.socketTimeout` to change it). @default 10_000
   */
  watchdogMs?: number | undefined;
  /** Where a new consumer group starts: `"$"` (entries published after it was created) or `"0"` (the whole stream). @default "$" */
  groupStart?: "$" | "0" | undefined;
  /** Prefix of the connection names (CLIENT SETNAME), so `CLIENT LIST` shows whose they are. @default "eventferry" */
  connectionName?: string | undefined;
  /** @default a console logger at level "warn" */
  logger?: Logger | undefined;
}

/**
 * Defaults of the Redis transport.
 *
 * @example
 * createRedisTransport({ url, blockMs: redisTransportDefaults.blockMs * 2 });
 */
export const redisTransportDefaults = Object.freeze({
  prefix: "eventferry",
  blockMs: 1_000,
  deadConsumerIdleMs: 3_600_000,
  watchdogMs: 10_000,
  groupStart: "$" as const,
  connectionName: "eventferry",
  /** `SubscribeOptions.batchSize` when not given. */
  batchSize: 100,
  /** `SubscribeOptions.ackTimeoutMs` when not given. */
  ackTimeoutMs: 30_000,
  /** Longest a `health()` check waits for the server before it reports `unhealthy`. */
  healthTimeoutMs: 2_000,
  /** Events per pipeline; a bigger publish is sent as several pipelines, in order. */
  maxPipeline: 10_000,
});

/**
 * What the Redis transport can do. `persistent`: entries survive a restart of the process; a
 * restart of the server keeps them only with AOF/RDB persistence (see `health().details.durability`).
 *
 * @example
 * if (transport.features.delayedNack) await delivery.nack({ delayMs: 5_000 });
 */
export const redisTransportFeatures: TransportFeatures = Object.freeze({
  consumerGroups: true,
  persistent: true,
  delayedNack: true,
  redeliversUnacked: true,
  orderedPerTopic: true,
  maxPayloadBytes: 512 * 1024 * 1024,
});

/** The Redis Streams transport. */
export interface RedisTransport extends Transport {
  readonly name: "redis";
  /** The key prefix in use. */
  readonly prefix: string;
  /** The stream key of a topic, `<prefix>:{<topic>}` (for tools and tests). */
  streamKey(topic: string): string;
}

/**
 * A {@link Transport} on Redis Streams (ioredis): one stream per topic, consumer groups,
 * pipelined XADD per publish and XACK per `ackMany`, XREADGROUP BLOCK on a dedicated connection
 * per subscription, XAUTOCLAIM takeover of entries idle past `ackTimeoutMs`, delayed nacks in a
 * per-group sorted set. Validates its options synchronously (a `ConfigError` listing every
 * problem) and connects lazily.
 *
 * Semantics:
 * - **Publish**: one pipeline of `XADD <prefix>:{topic} * ef-id <id> ef-type <type> [ef-key <key>] data <payload>`
 *   per call (one round trip); entries of one call keep their order. A failed XADD rejects with a
 *   `PublishError` listing the ids that failed.
 * - **Subscribe**: `XGROUP CREATE … $ MKSTREAM` (an existing group is fine), then reads with the
 *   stable consumer name `options.consumer` (default: random per subscription). A vanished
 *   stream or group (NOGROUP, e.g. after a restart without persistence) is re-created.
 * - **attempt** is the entry's delivery count in the group's PEL.
 * - **nack** keeps the entry pending and puts it in `<prefix>:{topic}:delayed:<group>` with the
 *   server time + delay; a subscription of the group claims it when due (attempt + 1).
 * - **Crash**: entries a dead consumer did not ack are claimed by the others once idle for
 *   `ackTimeoutMs` (XAUTOCLAIM); a restarted worker with the same consumer name takes its own
 *   pending entries back at once.
 *
 * @example
 * const transport = createRedisTransport({ url: "redis://localhost:6379", prefix: "shop" });
 * await transport.publish("orders", [encodeEvent(envelope)]);
 * const sub = await transport.subscribe("orders", { group: "billing", consumer: "worker-1" });
 * for await (const batch of sub.batches()) { await handle(batch); await sub.ackMany(batch); }
 */
export function createRedisTransport(options: RedisTransportOptions): RedisTransport {
  const problems: string[] = [];
  const o = (options ?? {}) as RedisTransportOptions;
  const sources = [o.url, o.client, o.cluster].filter((x) => x !== undefined).length;
  if (sources !== 1) problems.push("give exactly one of url, client or cluster");
  if (o.url !== undefined) {
    if (typeof o.url !== "string") problems.push("url must be a string");
    else {
      try {
        const parsed = new URL(o.url);
        if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:")
          problems.push(`url must start with redis:// or rediss://, got ${parsed.protocol}//`);
      } catch {
        problems.push(`url is not a valid URL: ${redact(o.url)}`);
      }
    }
  }
  if (
    o.client !== undefined &&
    (typeof o.client !== "object" || o.client === null || typeof o.client.call !== "function")
  ) {
    problems.push("client must be an ioredis Redis or Cluster instance");
  }
  if (o.cluster !== undefined && (!Array.isArray(o.cluster.nodes) || o.cluster.nodes.length === 0)) {
    problems.push("cluster.nodes must be a non-empty array of startup nodes");
  }
  const prefix = o.prefix ?? redisTransportDefaults.prefix;
  if (typeof prefix !== "string" || !PREFIX_RE.test(prefix) || prefix.length > MAX_PREFIX_LENGTH) {
    problems.push(
      `prefix must be segments of [A-Za-z0-9_.-] separated by ":" (at most ${MAX_PREFIX_LENGTH} characters), got ${JSON.stringify(prefix)}`,
    );
  }
  const positive = (name: string, value: unknown, fallback: number): number => {
    const v = value ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      problems.push(`${name} must be a positive number, got ${String(value)}`);
      return fallback;
    }
    return v;
  };
  const blockMs = Math.ceil(positive("blockMs", o.blockMs, redisTransportDefaults.blockMs));
  const watchdogMs = positive("watchdogMs", o.watchdogMs, redisTransportDefaults.watchdogMs);
  const claimIntervalMs =
    o.claimIntervalMs === undefined ? undefined : positive("claimIntervalMs", o.claimIntervalMs, 1);
  const deadConsumerIdleMs =
    o.deadConsumerIdleMs === false
      ? false
      : positive("deadConsumerIdleMs", o.deadConsumerIdleMs, redisTransportDefaults.deadConsumerIdleMs);
  const groupStart = o.groupStart ?? redisTransportDefaults.groupStart;
  if (groupStart !== "$" && groupStart !== "0")
    problems.push(`groupStart must be "$" or "0", got ${String(groupStart)}`);
  const connectionName = o.connectionName ?? redisTransportDefaults.connectionName;
  if (typeof connectionName !== "string" || !/^[\x21-\x7e]{1,100}$/.test(connectionName)) {
    problems.push("connectionName must be 1-100 printable characters without spaces");
  }
  let trimArgs: (mode: number) => (string | number)[] = () => [];
  if (o.trim !== undefined) {
    const t = o.trim as { maxLen?: unknown; maxAgeMs?: unknown; exact?: unknown };
    const op = t.exact === true ? "=" : "~";
    if (t.maxLen !== undefined && t.maxAgeMs !== undefined)
      problems.push("trim: give maxLen or maxAgeMs, not both");
    else if (t.maxLen !== undefined) {
      if (!Number.isSafeInteger(t.maxLen) || (t.maxLen as number) < 0)
        problems.push(`trim.maxLen must be an integer >= 0, got ${String(t.maxLen)}`);
      const maxLen = t.maxLen as number;
      trimArgs = () => ["MAXLEN", op, maxLen];
    } else if (t.maxAgeMs !== undefined) {
      if (typeof t.maxAgeMs !== "number" || !Number.isFinite(t.maxAgeMs) || t.maxAgeMs <= 0)
        problems.push(`trim.maxAgeMs must be a positive number, got ${String(t.maxAgeMs)}`);
      const maxAgeMs = t.maxAgeMs as number;
      trimArgs = (serverNow) => ["MINID", op, `${Math.max(0, Math.floor(serverNow - maxAgeMs))}-0`];
    } else problems.push("trim needs maxLen or maxAgeMs");
  }
  if (problems.length > 0) throw configError("invalid options", problems);

  const logger = o.logger ?? createConsoleLogger("warn");
  const owned = o.client === undefined;
  const target = o.url !== undefined ? redact(o.url) : o.client ? describeClient(o.client) : "redis-cluster";
  const instance = randomSuffix();
  const connectionErrors: ConnectionErrorTracker = { last: undefined };
  /** toTransportError with the last connection error when the failure is about the connection. */
  const wrap = (error: unknown, operation: string): EventferryError => {
    const last = connectionErrors.last;
    const message = error instanceof Error ? error.message : String(error);
    const context =
      last !== undefined && classifyRedisError(error) === "connection" && !message.includes(last)
        ? `last connection error: ${last}`
        : undefined;
    return toTransportError(error, operation, target, context);
  };
  let client: RedisClient;
  if (o.client) client = o.client;
  else if (o.cluster) {
    client = new Cluster(o.cluster.nodes as ClusterNode[], {
      ...o.cluster.options,
      lazyConnect: true,
      redisOptions: {
        socketTimeout: watchdogMs,
        ...o.cluster.options?.redisOptions,
        connectionName: clientName(connectionName, "cmd", instance),
      },
    });
    quietErrors(client, logger, "cluster", connectionErrors);
  } else {
    client = new Redis(o.url as string, {
      // A half-open command connection (no answer, no close) would hang every command forever.
      socketTimeout: watchdogMs,
      ...o.redisOptions,
      lazyConnect: true,
      connectionName: clientName(connectionName, "cmd", instance),
    });
    quietErrors(client, logger, "cmd", connectionErrors);
  }

  const scripts = {
    claim: new LuaScript(CLAIM_SCRIPT),
    nack: new LuaScript(NACK_SCRIPT),
    cleanup: new LuaScript(CLEANUP_SCRIPT),
  };
  const subscriptions = new Set<RedisSubscription>();
  let closed = false;
  let closing: Promise<void> | undefined;
  /** Server clock minus local clock, learnt from XADD ids (for MINID trimming). */
  let clockOffsetMs = 0;

  const closedError = (operation: string): EventferryError =>
    new EventferryError("CLOSED", componentMessage(COMPONENT, `${operation} after close()`));

  const ensureGroup = async (stream: string, group: string, startId: string = groupStart): Promise<void> => {
    try {
      await client.call("XGROUP", "CREATE", stream, group, startId, "MKSTREAM");
    } catch (error) {
      if (classifyRedisError(error) === "group-exists") return;
      throw wrap(error, `creating consumer group "${group}" on ${stream}`);
    }
  };

  /** Learns the server clock's offset from the id XADD returned. */
  const learnClock = (id: unknown): void => {
    if (typeof id !== "string") return;
    const ms = Number(id.slice(0, id.indexOf("-")));
    if (Number.isFinite(ms)) clockOffsetMs = ms - Date.now();
  };

  /**
   * One event: one XADD without a pipeline. A pipeline (its command queue, promise and result
   * arrays) per single-event publish — the publish of a web request — outlived young-generation
   * collections and made them three times as long.
   */
  const publishOne = async (key: string, event: EncodedEvent): Promise<void> => {
    let id: unknown;
    try {
      id = await client.call(
        "XADD",
        key,
        ...trimArgs(Date.now() + clockOffsetMs),
        "*",
        ...entryFields(event),
      );
    } catch (error) {
      throw publishError([event.id], error);
    }
    learnClock(id);
  };

  const publishChunk = async (key: string, events: readonly EncodedEvent[]): Promise<void> => {
    if (events.length === 1) return publishOne(key, events[0] as EncodedEvent);
    const pipeline = client.pipeline();
    const last = events.length - 1;
    for (let i = 0; i < last; i++) {
      const event = events[i] as EncodedEvent;
      const payload = event.payload;
      if (
        typeof payload === "string" &&
        matchesEnvelope(payload, event.id, event.type, event.key ?? undefined)
      ) {
        pipeline.xadd(key, "*", DATA_FIELD, payload); // the common case, without an argument array
      } else {
        pipeline.call("XADD", key, "*", ...entryFields(event));
      }
    }
    pipeline.call(
      "XADD",
      key,
      ...trimArgs(Date.now() + clockOffsetMs),
      "*",
      ...entryFields(events[last] as EncodedEvent),
    );
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      throw publishError(
        events.map((e) => e.id),
        error,
      );
    }
    if (results === null)
      throw publishError(
        events.map((e) => e.id),
        new Error("the pipeline was discarded"),
      );
    let failed: string[] | undefined;
    let firstError: unknown;
    for (let i = 0; i < results.length; i++) {
      const error = (results[i] as [Error | null, unknown])[0];
      if (error) {
        failed ??= [];
        failed.push((events[i] as EncodedEvent).id);
        firstError ??= error;
      }
    }
    if (failed) throw publishError(failed, firstError);
    learnClock((results[last] as [Error | null, unknown])[1]);
  };

  const publishError = (failedIds: readonly string[], error: unknown): PublishError => {
    const cause = wrap(error, "publish");
    return new PublishError(
      componentMessage(COMPONENT, `publish of ${failedIds.length} event(s) failed: ${cause.message}`),
      { failedIds, cause, retryable: cause.retryable, details: { kind: cause.details?.kind } },
    );
  };

  const transport: RedisTransport = {
    name: "redis",
    features: redisTransportFeatures,
    prefix,
    streamKey: (topic) => streamKey(prefix, topic),

    async publish(topic: string, events: readonly EncodedEvent[], publishOptions?: PublishOptions) {
      if (closed) throw closedError("publish");
      if (!isValidTopic(topic)) throw invalidTopic(topic);
      const signal = publishOptions?.signal;
      if (signal?.aborted) {
        throw new EventferryError("ABORTED", componentMessage(COMPONENT, "publish aborted"), {
          cause: signal.reason,
        });
      }
      if (!Array.isArray(events)) {
        throw new ValidationError(componentMessage(COMPONENT, "publish expects an array of events"));
      }
      if (events.length === 0) return;
      const issues: string[] = [];
      for (let i = 0; i < events.length && issues.length < 10; i++) {
        const problem = eventProblem(events[i], i);
        if (problem !== undefined) issues.push(problem);
      }
      if (issues.length > 0) {
        throw new ValidationError(componentMessage(COMPONENT, `invalid events: ${issues.join("; ")}`), {
          issues,
        });
      }
      const key = streamKey(prefix, topic);
      const size = redisTransportDefaults.maxPipeline;
      for (let start = 0; start < events.length; start += size) {
        const chunk = start === 0 && events.length <= size ? events : events.slice(start, start + size);
        try {
          await publishChunk(key, chunk);
        } catch (error) {
          if (error instanceof PublishError && start + size < events.length) {
            // Later chunks were not sent: they failed too.
            const rest = events.slice(start + size).map((e) => e.id);
            throw new PublishError(error.message, {
              failedIds: [...error.failedIds, ...rest],
              cause: error.cause,
              retryable: error.retryable,
              ...(error.details ? { details: error.details } : {}),
            });
          }
          throw error;
        }
      }
    },

    async subscribe(topic: string, subscribeOptions: SubscribeOptions): Promise<Subscription> {
      if (closed) throw closedError("subscribe");
      const settings = validateSubscribe(topic, subscribeOptions);
      const stream = streamKey(prefix, topic);
      await ensureGroup(stream, settings.group);
      if (closed) throw closedError("subscribe");
      const consumer = settings.consumer ?? `${hostname()}-${process.pid}-${randomSuffix()}`;
      const subscription = new RedisSubscription({
        client,
        stream,
        delayed: delayedKey(prefix, topic, settings.group),
        group: settings.group,
        consumer,
        batchSize: settings.batchSize,
        ackTimeoutMs: settings.ackTimeoutMs,
        blockMs,
        claimIntervalMs: claimIntervalMs ?? Math.min(5_000, Math.max(50, settings.ackTimeoutMs / 4)),
        watchdogMs,
        deadConsumerIdleMs,
        signal: subscribeOptions.signal,
        logger,
        target,
        scripts,
        createBlocking: () =>
          duplicateForBlocking(client, clientName(connectionName, "sub", consumer), logger),
        ensureGroup: (startId) => ensureGroup(stream, settings.group, startId),
        transportClosed: () => closed,
        onClose: (s) => subscriptions.delete(s),
      });
      if (!subscription.closed) subscriptions.add(subscription);
      return subscription;
    },

    close() {
      if (closing) return closing;
      closed = true;
      closing = (async () => {
        await Promise.all([...subscriptions].map((s) => s.close()));
        if (owned) await closeClient(client);
      })();
      return closing;
    },

    async health(): Promise<HealthReport> {
      if (closed) return { status: "unhealthy", component: COMPONENT, reasons: ["closed"] };
      const started = performance.now();
      const details: Record<string, unknown> = { prefix, subscriptions: subscriptions.size, target };
      const status = await settledStatus(client, 1_000);
      if (status !== "ready" && status !== "wait") {
        // Known down (or not up within a second): say so at once instead of queueing a PING until
        // the client gives up.
        return {
          status: "unhealthy",
          component: COMPONENT,
          reasons: [
            componentMessage(
              COMPONENT,
              `not connected to ${target} (connection ${status}${
                connectionErrors.last === undefined ? "" : `; last connection error: ${connectionErrors.last}`
              })`,
            ),
          ],
          latencyMs: performance.now() - started,
          details,
        };
      }
      try {
        const node = isCluster(client) ? (client.nodes("master")[0] ?? client) : client;
        const check = (async () => {
          await client.call("PING");
          const latencyMs = performance.now() - started;
          const pipeline = node.pipeline();
          pipeline.call("INFO", "server");
          pipeline.call("INFO", "persistence");
          pipeline.call("CONFIG", "GET", "save");
          pipeline.call("CONFIG", "GET", "appendfsync");
          const results = (await pipeline.exec()) ?? [];
          return { latencyMs, results };
        })();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `Command timed out (no answer within ${redisTransportDefaults.healthTimeoutMs} ms)`,
                ),
              ),
            redisTransportDefaults.healthTimeoutMs,
          );
        });
        const { latencyMs, results } = await Promise.race([check, timeout]).finally(() =>
          clearTimeout(timer),
        );
        const info = (i: number): Record<string, string> =>
          parseInfo(results[i]?.[0] ? "" : String(results[i]?.[1] ?? ""));
        const config = (i: number): string | undefined => {
          const r = results[i];
          if (!r || r[0] || !Array.isArray(r[1])) return undefined;
          return r[1][1] === undefined ? undefined : String(r[1][1]);
        };
        const server = info(0);
        const persistence = info(1);
        details.serverVersion = server.redis_version;
        details.mode = server.redis_mode;
        details.durability = {
          aof: persistence.aof_enabled === undefined ? undefined : persistence.aof_enabled === "1",
          appendfsync: config(3),
          rdbSave: config(2),
          rdbLastSaveStatus: persistence.rdb_last_bgsave_status,
          loading: persistence.loading === undefined ? undefined : persistence.loading === "1",
        };
        return { status: "healthy", component: COMPONENT, reasons: [], latencyMs, details };
      } catch (error) {
        const wrapped = wrap(error, "health check");
        return {
          status: "unhealthy",
          component: COMPONENT,
          reasons: [wrapped.message],
          latencyMs: performance.now() - started,
          details,
        };
      }
    },
  };
  return transport;
}

function invalidTopic(topic: string): ConfigError {
  return new ConfigError(
    componentMessage(
      COMPONENT,
      `invalid topic ${JSON.stringify(topic)}: use dot-separated segments of [A-Za-z0-9_-]`,
    ),
  );
}

interface SubscribeSettings {
  group: string;
  consumer: string | undefined;
  batchSize: number;
  ackTimeoutMs: number;
}

function validateSubscribe(topic: string, options: SubscribeOptions): SubscribeSettings {
  const problems: string[] = [];
  if (!isValidTopic(topic))
    problems.push(`invalid topic ${JSON.stringify(topic)}: use dot-separated segments of [A-Za-z0-9_-]`);
  const group = options?.group;
  if (typeof group !== "string" || group.length === 0 || group.length > 200) {
    problems.push("group must be a non-empty string of at most 200 characters");
  }
  const consumer = options?.consumer;
  if (
    consumer !== undefined &&
    (typeof consumer !== "string" || consumer.length === 0 || consumer.length > 200)
  ) {
    problems.push("consumer must be a non-empty string of at most 200 characters");
  }
  const batchSize = options?.batchSize ?? redisTransportDefaults.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    problems.push(`batchSize must be an integer from 1 to 100000, got ${String(batchSize)}`);
  }
  const ackTimeoutMs = options?.ackTimeoutMs ?? redisTransportDefaults.ackTimeoutMs;
  if (typeof ackTimeoutMs !== "number" || !Number.isFinite(ackTimeoutMs) || ackTimeoutMs <= 0) {
    problems.push(`ackTimeoutMs must be a positive number, got ${String(ackTimeoutMs)}`);
  }
  if (problems.length > 0) throw configError("invalid subscribe options", problems);
  return { group, consumer, batchSize, ackTimeoutMs };
}

/**
 * The client's status, waiting up to `ms` for a connection attempt in progress to end
 * (`connecting`/`reconnecting` → `ready`, or still not ready).
 */
async function settledStatus(client: RedisClient, ms: number): Promise<string> {
  const status = (client as { status?: string }).status ?? "ready";
  if (status !== "connecting" && status !== "reconnecting" && status !== "connect") return status;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  await new Promise<void>((resolve) => {
    onReady = resolve;
    client.once("ready", onReady);
    timer = setTimeout(resolve, ms);
  });
  clearTimeout(timer);
  if (onReady) client.off("ready", onReady);
  return (client as { status?: string }).status ?? "ready";
}

/** `INFO` text → map of `name: value`. */
function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const at = line.indexOf(":");
    if (at > 0 && !line.startsWith("#")) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}
