import {
  ConfigError,
  componentMessage,
  type Duration,
  type EncodedEvent,
  EventferryError,
  type HealthReport,
  isEventferryError,
  isValidTopic,
  type Logger,
  PublishError,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  silentLogger,
  type Transport,
  type TransportFeatures,
  tryParseDuration,
  ValidationError,
} from "@eventferry/core";
import type { PubAck, StreamInfo } from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  headers as createHeaders,
  type NatsConnection,
  type TlsOptions,
} from "@nats-io/transport-node";
import { toTransportError } from "./classify-error.js";
import { type Connected, ConnectionHolder, type ConnectSettings } from "./internal/connection.js";
import {
  HEADER_ENCODED,
  HEADER_KEY,
  HEADER_PAYLOAD_FORMAT,
  HEADER_TYPE,
  headerSafe,
  MSG_ID_HEADER,
} from "./internal/headers.js";
import {
  COMPONENT,
  durableName,
  isValidStreamPrefix,
  isValidTopicPattern,
  topicFilterSubjects,
  topicSubject,
} from "./internal/names.js";
import { NatsSubscription } from "./internal/nats-subscription.js";
import { ensureConsumer, ensureStream, type StreamSettings } from "./internal/provision.js";
import { PublishWindow } from "./internal/publish-window.js";
import { type GatedFeature, natsGatedFeatures, supportsFeature } from "./server-features.js";

/** Options of {@link createNatsTransport}. Give `servers` (the transport connects and owns the connection) or `connection` (yours). */
export interface NatsTransportOptions {
  /**
   * Server URLs (`nats://host:4222`, `tls://host:4222`); the transport connects lazily on first
   * use and closes the connection in `close()`. Credentials go in `user`/`pass`/`token`/`creds`,
   * not in these URLs. @default "nats://127.0.0.1:4222" (when `connection` is not given)
   */
  servers?: string | readonly string[] | undefined;
  /** Your own connection: used as is, never closed by the transport. Excludes `servers` and auth options. */
  connection?: NatsConnection | undefined;
  /**
   * Names the stream and the subjects: stream `<streamPrefix>`, subjects `<streamPrefix>.<topic>`.
   * 1–64 characters of `[A-Za-z0-9_-]`. @default "eventferry"
   */
  streamPrefix?: string | undefined;
  /** User name (with `pass`). */
  user?: string | undefined;
  /** Password (with `user`); never appears in errors or logs. */
  pass?: string | undefined;
  /** Authentication token. */
  token?: string | undefined;
  /** Contents of a `.creds` file (JWT and NKey seed). */
  creds?: string | undefined;
  /** Path of a `.creds` file, read when connecting. */
  credsFile?: string | undefined;
  /** An NKey seed (`SU…`). */
  nkeySeed?: string | undefined;
  /** Path of a file holding an NKey seed, read when connecting. */
  nkeySeedFile?: string | undefined;
  /** TLS: `true` for the system CAs, or files/PEMs (`caFile`, `certFile`, `keyFile`, …). */
  tls?: boolean | TlsOptions | undefined;
  /** Connection name shown by the server's monitoring. @default "eventferry" */
  name?: string | undefined;
  /** Anything else `connect()` takes (reconnect timing, ping interval, …); overrides the above. */
  connectionOptions?: Partial<ConnectionOptions> | undefined;
  /** Connect timeout. @default "5s" */
  connectTimeout?: Duration | undefined;
  /** Stream storage. @default "file" */
  storage?: "file" | "memory" | undefined;
  /**
   * Stream retention: `limits` keeps messages until the limits below drop them (every group, even
   * one created later, reads them); `interest` drops a message once every consumer acked it.
   * @default "limits"
   */
  retention?: "limits" | "interest" | undefined;
  /** Oldest message the stream keeps (`0` = no limit). @default "7d" */
  maxAge?: Duration | undefined;
  /** Largest stream size in bytes (`-1` = no limit). @default -1 */
  maxBytes?: number | undefined;
  /** Most messages in the stream (`-1` = no limit). @default -1 */
  maxMsgs?: number | undefined;
  /** Stream replicas (clustered servers). @default 1 */
  replicas?: number | undefined;
  /** Window in which a re-published event id is dropped as a duplicate. @default "2m" */
  duplicateWindow?: Duration | undefined;
  /** Stream compression; `s2` needs nats-server 2.10+. @default "none" */
  compression?: "none" | "s2" | undefined;
  /** Create and update the stream and consumers (true) or only use existing ones (false). @default true */
  provision?: boolean | undefined;
  /** Publishes awaiting their PubAck at once, across all publish calls. @default 1000 */
  maxPendingPublishes?: number | undefined;
  /** How long a publish waits for its PubAck. @default "5s" */
  publishTimeout?: Duration | undefined;
  /** Max un-acked messages per consumer group (`max_ack_pending`). @default 10000 */
  maxAckPending?: number | undefined;
  /** How long one pull request waits on an empty stream before it is renewed. @default "10s" */
  fetchExpires?: Duration | undefined;
  /** Where pull failures and reconnects are logged. @default silentLogger */
  logger?: Logger | undefined;
}

/**
 * Defaults of the NATS transport.
 *
 * @example
 * createNatsTransport({ maxPendingPublishes: natsTransportDefaults.maxPendingPublishes / 10 });
 */
export const natsTransportDefaults = Object.freeze({
  servers: "nats://127.0.0.1:4222",
  streamPrefix: "eventferry",
  name: "eventferry",
  connectTimeoutMs: 5_000,
  /**
   * Client PING interval of the connections the transport makes; two PINGs left unanswered mark
   * the connection stale and the client reconnects. The client library's 2 minutes would leave a
   * half-open connection (no answer, no close) unnoticed for 4-6 minutes; this finds one within
   * about 15-20 s. Override with `connectionOptions.pingInterval` / `maxPingOut`.
   */
  pingIntervalMs: 5_000,
  maxPingOut: 2,
  storage: "file" as const,
  retention: "limits" as const,
  maxAgeMs: 7 * 24 * 60 * 60 * 1000,
  maxBytes: -1,
  maxMsgs: -1,
  replicas: 1,
  duplicateWindowMs: 2 * 60 * 1000,
  compression: "none" as const,
  provision: true,
  maxPendingPublishes: 1_000,
  publishTimeoutMs: 5_000,
  maxAckPending: 10_000,
  fetchExpiresMs: 10_000,
  /** `SubscribeOptions.batchSize` when not given. */
  batchSize: 100,
  /** `SubscribeOptions.ackTimeoutMs` when not given. */
  ackTimeoutMs: 30_000,
  /** How long `health()` waits for each answer. */
  healthTimeoutMs: 2_000,
});

/**
 * What the NATS transport can do: everything in the contract. Messages are persistent (file
 * storage by default), nack delays use JetStream's `nak(delay)`, un-acked deliveries come back
 * after the ack wait, and a single subscriber of a group sees the topic in stream order.
 *
 * @example
 * if (natsTransportFeatures.delayedNack) console.log("retries wait on the server");
 */
export const natsTransportFeatures: TransportFeatures = Object.freeze({
  consumerGroups: true,
  persistent: true,
  delayedNack: true,
  redeliversUnacked: true,
  orderedPerTopic: true,
  maxPayloadBytes: 1024 * 1024,
});

/** The NATS transport: a {@link Transport} with its stream name and the server's gated features. */
export interface NatsTransport extends Transport {
  readonly name: "nats";
  /** The JetStream stream this transport publishes to and consumes from. */
  readonly stream: string;
  /** The subject prefix: topic `t` is subject `<streamPrefix>.t`. */
  readonly streamPrefix: string;
  /**
   * Connects (if not connected yet) and provisions the stream; resolves with its info. Optional:
   * publish and subscribe do it on first use.
   */
  ready(): Promise<StreamInfo>;
  /**
   * Which gated features the connected server supports (connects if needed).
   *
   * @example
   * (await transport.serverFeatures()).multiFilterConsumers; // false on nats-server 2.9
   */
  serverFeatures(): Promise<Readonly<Record<GatedFeature, boolean>>>;
}

interface Settings {
  readonly stream: StreamSettings;
  readonly maxPendingPublishes: number;
  readonly publishTimeoutMs: number;
  readonly maxAckPending: number;
  readonly fetchExpiresMs: number;
  readonly logger: Logger;
}

/**
 * A {@link Transport} on NATS JetStream with the v3 client (`@nats-io/transport-node` +
 * `@nats-io/jetstream`).
 *
 * Layout: one stream per `streamPrefix` (named after it) holding subjects `<streamPrefix>.>`;
 * topic `t` is subject `<streamPrefix>.t`; each (topic, group) is one durable pull consumer
 * (explicit acks, `ack_wait` = the subscription's `ackTimeoutMs`, `max_ack_pending` bounded,
 * delivery from the start of the stream). Topics may be patterns on the subscribe side (`*` one
 * segment, a trailing `**` any depth): a NATS extension beyond the `Transport` contract.
 *
 * Publishing is asynchronous with at most `maxPendingPublishes` PubAcks awaited at once; each
 * message carries `Nats-Msg-Id` = the event id, so a re-publish within `duplicateWindow` is
 * dropped by the server. Consuming pulls with `fetch` no further ahead than `batchSize`;
 * `nack({ delayMs })` is `nak(delay)`; `attempt` is JetStream's delivery count.
 *
 * Validates options synchronously (one `ConfigError` listing every problem) and connects lazily.
 *
 * @example
 * const transport = createNatsTransport({ servers: "nats://127.0.0.1:4222", streamPrefix: "shop" });
 * await transport.publish("orders", [encodeEvent(envelope)]);
 * const sub = await transport.subscribe("orders", { group: "billing", batchSize: 100 });
 * for await (const batch of sub.batches()) { await handle(batch); await sub.ackMany(batch); }
 */
export function createNatsTransport(options: NatsTransportOptions = {}): NatsTransport {
  const { settings, connect, connection } = validateOptions(options);
  const holder = new ConnectionHolder({
    connection,
    settings: connect,
    publishTimeoutMs: settings.publishTimeoutMs,
  });
  const window = new PublishWindow(settings.maxPendingPublishes);
  const subscriptions = new Set<NatsSubscription>();
  const stream = settings.stream.name;
  const prefix = settings.stream.prefix;
  let streamReady: Promise<StreamInfo> | undefined;
  let closed = false;
  let serverVersion: string | undefined;

  const closedError = (operation: string): EventferryError =>
    new EventferryError("CLOSED", componentMessage(COMPONENT, `${operation} after close()`));

  /** Connects and provisions the stream once; a failure is forgotten so the next call retries. */
  const ready = async (): Promise<Connected> => {
    const connected = await holder.get();
    serverVersion = connected.nc.info?.version;
    if (streamReady === undefined) {
      const attempt = ensureStream(connected.jsm, settings.stream, serverVersion);
      streamReady = attempt;
      attempt.catch(() => {
        if (streamReady === attempt) streamReady = undefined;
      });
    }
    await streamReady;
    return connected;
  };

  const publish = async (
    topic: string,
    events: readonly EncodedEvent[],
    publishOptions?: PublishOptions,
  ): Promise<void> => {
    if (closed) throw closedError("publish");
    if (!isValidTopic(topic)) {
      throw new ConfigError(
        componentMessage(
          COMPONENT,
          `invalid topic "${String(topic)}": use dot-separated segments of [A-Za-z0-9_-]`,
        ),
      );
    }
    if (!Array.isArray(events)) {
      throw new ValidationError(componentMessage(COMPONENT, "publish expects an array of events"));
    }
    const signal = publishOptions?.signal;
    if (signal?.aborted) {
      throw new EventferryError("ABORTED", componentMessage(COMPONENT, "publish aborted"), {
        cause: signal.reason,
      });
    }
    if (events.length === 0) return;
    const payloads: Uint8Array[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) payloads[i] = encodePayload(events[i]);

    let connected: Connected;
    try {
      connected = await ready();
    } catch (error) {
      const cause = toTransportError(error, "publish");
      throw new PublishError(
        componentMessage(
          COMPONENT,
          `publish of ${events.length} event(s) to "${topic}" failed: ${stripComponent(cause.message)}`,
        ),
        { cause, failedIds: events.map((event) => event.id), retryable: cause.retryable, details: { topic } },
      );
    }
    if (closed) throw closedError("publish");
    const { acks } = connected;
    const subject = topicSubject(prefix, topic);
    const timeout = settings.publishTimeoutMs;
    const failures: { id: string; error: unknown }[] = [];
    let duplicates = 0;

    await new Promise<void>((resolve) => {
      let pending = 0;
      let launched = 0;
      let finishedLaunching = false;
      const settle = (): void => {
        pending--;
        window.release();
        if (pending === 0 && finishedLaunching) resolve();
      };
      const launch = (i: number): void => {
        const event = events[i] as EncodedEvent;
        pending++;
        let sent: Promise<PubAck>;
        try {
          const h = createHeaders();
          let msgID = event.id;
          let type = event.type;
          let key = event.key;
          let encoded: string | undefined;
          if (!headerSafe(msgID)) {
            msgID = encodeURIComponent(msgID);
            encoded = "id";
          }
          if (!headerSafe(type)) {
            type = encodeURIComponent(type);
            encoded = encoded === undefined ? "type" : `${encoded},type`;
          }
          if (key !== undefined && key !== "" && !headerSafe(key)) {
            key = encodeURIComponent(key);
            encoded = encoded === undefined ? "key" : `${encoded},key`;
          }
          h.set(HEADER_TYPE, type);
          if (key !== undefined && key !== "") h.set(HEADER_KEY, key);
          if (typeof event.payload !== "string") h.set(HEADER_PAYLOAD_FORMAT, "fields");
          if (encoded !== undefined) h.set(HEADER_ENCODED, encoded);
          h.set(MSG_ID_HEADER, msgID);
          sent = acks.publish(subject, payloads[i] as Uint8Array, h, timeout);
        } catch (error) {
          sent = Promise.reject(error);
        }
        sent.then(
          (ack) => {
            if (ack.duplicate) duplicates++;
            settle();
          },
          (error: unknown) => {
            failures.push({ id: event.id, error });
            settle();
          },
        );
      };
      const run = async (): Promise<void> => {
        while (launched < events.length) {
          if (closed || signal?.aborted) break;
          if (!window.tryAcquire()) {
            await window.acquire();
            if (closed || signal?.aborted) {
              window.release();
              break;
            }
          }
          launch(launched++);
        }
        for (let i = launched; i < events.length; i++) {
          failures.push({
            id: (events[i] as EncodedEvent).id,
            error: closed ? closedError("publish") : (signal?.reason ?? new Error("aborted")),
          });
        }
        finishedLaunching = true;
        if (pending === 0) resolve();
      };
      void run();
    });

    if (failures.length > 0) {
      const first = toTransportError(failures[0]?.error, "publish");
      const failedIds = failures.map((failure) => failure.id);
      throw new PublishError(
        componentMessage(
          COMPONENT,
          `${failures.length} of ${events.length} event(s) to "${topic}" were not published: ${stripComponent(first.message)}`,
        ),
        {
          cause: first,
          failedIds,
          retryable: first.retryable || first.code === "CLOSED" || first.code === "ABORTED",
          details: { topic, subject, duplicates },
        },
      );
    }
  };

  const subscribe = async (topic: string, subscribeOptions: SubscribeOptions): Promise<Subscription> => {
    if (closed) throw closedError("subscribe");
    const resolved = validateSubscribe(topic, subscribeOptions);
    const filterSubjects = topicFilterSubjects(prefix, topic);
    const connected = await ready();
    if (closed) throw closedError("subscribe");
    const name = durableName(topic, resolved.group);
    await ensureConsumer(
      connected.jsm,
      {
        stream,
        name,
        filterSubjects,
        ackWaitMs: resolved.ackTimeoutMs,
        maxAckPending: settings.maxAckPending,
        topic,
        group: resolved.group,
        provision: settings.stream.provision,
      },
      serverVersion,
    );
    let consumer: Awaited<ReturnType<typeof connected.js.consumers.get>>;
    try {
      consumer = await connected.js.consumers.get(stream, name);
    } catch (error) {
      throw toTransportError(error, `binding consumer ${name}`);
    }
    if (closed) throw closedError("subscribe");
    const subscription = new NatsSubscription({
      consumer,
      stream,
      batchSize: resolved.batchSize,
      fetchExpiresMs: settings.fetchExpiresMs,
      termWithReason: supportsFeature(serverVersion, "termReason"),
      signal: subscribeOptions.signal,
      onClose: (done) => subscriptions.delete(done),
      onError: (error) =>
        settings.logger.warn(isEventferryError(error) ? error.message : String(error), {
          component: COMPONENT,
          topic,
          group: resolved.group,
        }),
    });
    if (!subscription.closed) subscriptions.add(subscription);
    return subscription;
  };

  const withTimeout = <T>(promise: Promise<T>, what: string): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: no answer within ${natsTransportDefaults.healthTimeoutMs} ms`)),
          natsTransportDefaults.healthTimeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const health = async (): Promise<HealthReport> => {
    const started = performance.now();
    const base = {
      stream,
      streamPrefix: prefix,
      publishesInFlight: window.inFlight,
      subscriptions: subscriptions.size,
      reconnects: holder.state.reconnects,
      disconnects: holder.state.disconnects,
    };
    if (closed) return { status: "unhealthy", component: COMPONENT, reasons: ["closed"], details: base };
    let connected: Connected;
    try {
      connected = await withTimeout(holder.get(), "connect");
    } catch (error) {
      const reported = toTransportError(error, "health check");
      return {
        status: "unhealthy",
        component: COMPONENT,
        reasons: [reported.message],
        latencyMs: performance.now() - started,
        details: { ...base, connected: false },
      };
    }
    const { nc, jsm } = connected;
    const info = nc.info;
    const reasons: string[] = [];
    const details: Record<string, unknown> = {
      ...base,
      connected: holder.state.connected && !nc.isClosed(),
      ownConnection: !holder.external,
      server: {
        version: info?.version,
        name: info?.server_name,
        id: info?.server_id,
        host: info?.host,
        port: info?.port,
        jetstream: info?.jetstream === true,
        maxPayload: info?.max_payload,
      },
      gatedFeatures: gatedFeatures(info?.version),
    };
    const pullErrors = [...subscriptions].map((s) => s.lastError).filter((e): e is string => e !== undefined);
    if (pullErrors.length > 0) details.pullErrors = pullErrors;
    let rttMs: number | undefined;
    try {
      rttMs = await withTimeout(nc.rtt(), "rtt");
      details.rttMs = rttMs;
    } catch (error) {
      reasons.push(toTransportError(error, "rtt").message);
    }
    try {
      const account = await withTimeout(jsm.getAccountInfo(), "account info");
      details.account = {
        memory: account.memory,
        storage: account.storage,
        streams: account.streams,
        consumers: account.consumers,
        limits: account.limits,
      };
    } catch (error) {
      reasons.push(toTransportError(error, "JetStream account info").message);
    }
    try {
      const streamInfo = await withTimeout(jsm.streams.info(stream), "stream info");
      details.streams = [
        {
          name: streamInfo.config.name,
          storage: streamInfo.config.storage,
          retention: streamInfo.config.retention,
          replicas: streamInfo.config.num_replicas,
          subjects: streamInfo.config.subjects,
          messages: streamInfo.state.messages,
          bytes: streamInfo.state.bytes,
          consumers: streamInfo.state.consumer_count,
          firstSeq: streamInfo.state.first_seq,
          lastSeq: streamInfo.state.last_seq,
        },
      ];
    } catch (error) {
      const reported = toTransportError(error, `stream ${stream} info`);
      if ((reported.details as { kind?: string } | undefined)?.kind === "not-found") {
        details.streams = [];
        details.streamNote = `stream ${stream} is created on first publish or subscribe`;
      } else {
        reasons.push(reported.message);
      }
    }
    const connectedNow = holder.state.connected && !nc.isClosed();
    if (!connectedNow) reasons.unshift("disconnected from the server (reconnecting)");
    if (pullErrors.length > 0) reasons.push(...pullErrors);
    const status = !connectedNow ? "unhealthy" : reasons.length > 0 ? "degraded" : "healthy";
    return {
      status,
      component: COMPONENT,
      reasons,
      latencyMs: rttMs ?? performance.now() - started,
      details,
    };
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const subscription of [...subscriptions]) await subscription.close();
    const current = holder.current;
    if (current !== undefined && !current.nc.isClosed()) {
      // Acks and naks are fire-and-forget protocol messages: make sure they left before closing.
      await withTimeout(current.nc.flush(), "flush").catch(() => {});
    }
    await holder.close();
  };

  return {
    name: "nats",
    features: natsTransportFeatures,
    stream,
    streamPrefix: prefix,
    publish,
    subscribe,
    close,
    health,
    async ready() {
      if (closed) throw closedError("ready");
      await ready();
      return streamReady as Promise<StreamInfo>;
    },
    async serverFeatures() {
      if (closed) throw closedError("serverFeatures");
      const { nc } = await holder.get();
      return gatedFeatures(nc.info?.version);
    },
  };
}

function gatedFeatures(version: string | undefined): Record<GatedFeature, boolean> {
  const out = {} as Record<GatedFeature, boolean>;
  for (const feature of Object.keys(natsGatedFeatures) as GatedFeature[]) {
    out[feature] = supportsFeature(version, feature);
  }
  return out;
}

/** `[eventferry:transport-nats] x` → `x`, to nest a message in another. */
function stripComponent(message: string): string {
  const marker = `[eventferry:${COMPONENT}] `;
  return message.startsWith(marker) ? message.slice(marker.length) : message;
}

const encoder = new TextEncoder();

function encodePayload(event: EncodedEvent | undefined): Uint8Array {
  if (
    typeof event !== "object" ||
    event === null ||
    typeof event.id !== "string" ||
    event.id.length === 0 ||
    typeof event.type !== "string" ||
    (typeof event.payload !== "string" && (typeof event.payload !== "object" || event.payload === null))
  ) {
    throw new ValidationError(
      componentMessage(
        COMPONENT,
        "every event needs a non-empty string id, a string type and a string or object payload",
      ),
    );
  }
  return encoder.encode(typeof event.payload === "string" ? event.payload : JSON.stringify(event.payload));
}

interface ResolvedSubscribe {
  group: string;
  batchSize: number;
  ackTimeoutMs: number;
}

function validateSubscribe(topic: string, options: SubscribeOptions): ResolvedSubscribe {
  const problems: string[] = [];
  if (!isValidTopicPattern(topic)) {
    problems.push(
      `invalid topic "${String(topic)}": use dot-separated segments of [A-Za-z0-9_-] ("*" for one segment and a trailing "**" are allowed when subscribing)`,
    );
  }
  const group = options?.group;
  if (typeof group !== "string" || group.length === 0 || group.length > 200) {
    problems.push("group must be a non-empty string of at most 200 characters");
  }
  const consumer = options?.consumer;
  if (consumer !== undefined && (typeof consumer !== "string" || consumer.length === 0)) {
    problems.push("consumer must be a non-empty string");
  }
  const batchSize = options?.batchSize ?? natsTransportDefaults.batchSize;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    problems.push(`batchSize must be an integer from 1 to 10000, got ${String(batchSize)}`);
  }
  const ackTimeoutMs = options?.ackTimeoutMs ?? natsTransportDefaults.ackTimeoutMs;
  if (typeof ackTimeoutMs !== "number" || !Number.isFinite(ackTimeoutMs) || ackTimeoutMs < 1) {
    problems.push(`ackTimeoutMs must be a positive number, got ${String(ackTimeoutMs)}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid subscribe options: ${problems.join("; ")}`), {
      problems,
    });
  }
  return { group: group as string, batchSize, ackTimeoutMs: Math.ceil(ackTimeoutMs) };
}

interface Validated {
  settings: Settings;
  connect: ConnectSettings | undefined;
  connection: NatsConnection | undefined;
}

function validateOptions(options: NatsTransportOptions): Validated {
  const problems: string[] = [];
  if (typeof options !== "object" || options === null) {
    throw new ConfigError(componentMessage(COMPONENT, "options must be an object"));
  }
  const duration = (value: Duration | undefined, name: string, fallback: number, min = 0): number => {
    if (value === undefined) return fallback;
    const ms = tryParseDuration(value);
    if (ms === undefined || ms < min) {
      problems.push(
        `${name} must be a duration of at least ${min} ms (ms, or "10s", "5m", "7d"), got ${describe(value)}`,
      );
      return fallback;
    }
    return ms;
  };
  const integer = (
    value: number | undefined,
    name: string,
    fallback: number,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
      return fallback;
    }
    return value;
  };
  const oneOf = <T extends string>(
    value: T | undefined,
    name: string,
    allowed: readonly T[],
    fallback: T,
  ): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) {
      problems.push(
        `${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${describe(value)}`,
      );
      return fallback;
    }
    return value;
  };
  const text = (value: string | undefined, name: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.length === 0) {
      problems.push(`${name} must be a non-empty string`);
      return undefined;
    }
    return value;
  };

  const streamPrefix = options.streamPrefix ?? natsTransportDefaults.streamPrefix;
  if (!isValidStreamPrefix(streamPrefix)) {
    problems.push(`streamPrefix must be 1-64 characters of [A-Za-z0-9_-], got ${describe(streamPrefix)}`);
  }
  const maxAgeMs = duration(options.maxAge, "maxAge", natsTransportDefaults.maxAgeMs);
  const duplicateWindowMs = duration(
    options.duplicateWindow,
    "duplicateWindow",
    natsTransportDefaults.duplicateWindowMs,
    100,
  );
  const effectiveDuplicateWindow = maxAgeMs > 0 ? Math.min(duplicateWindowMs, maxAgeMs) : duplicateWindowMs;
  if (options.duplicateWindow !== undefined && maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) {
    problems.push("duplicateWindow must not be longer than maxAge");
  }
  const stream: StreamSettings = {
    name: streamPrefix,
    prefix: streamPrefix,
    storage: oneOf(options.storage, "storage", ["file", "memory"], natsTransportDefaults.storage),
    retention: oneOf(options.retention, "retention", ["limits", "interest"], natsTransportDefaults.retention),
    maxAgeMs,
    maxBytes:
      options.maxBytes === -1
        ? -1
        : integer(options.maxBytes, "maxBytes (or -1)", natsTransportDefaults.maxBytes, 1),
    maxMsgs:
      options.maxMsgs === -1
        ? -1
        : integer(options.maxMsgs, "maxMsgs (or -1)", natsTransportDefaults.maxMsgs, 1),
    replicas: integer(options.replicas, "replicas", natsTransportDefaults.replicas, 1, 5),
    duplicateWindowMs: effectiveDuplicateWindow,
    compression: oneOf(options.compression, "compression", ["none", "s2"], natsTransportDefaults.compression),
    provision: options.provision ?? natsTransportDefaults.provision,
  };
  if (typeof stream.provision !== "boolean") problems.push("provision must be a boolean");
  const publishTimeoutMs = duration(
    options.publishTimeout,
    "publishTimeout",
    natsTransportDefaults.publishTimeoutMs,
    1,
  );
  const settings: Settings = {
    stream,
    maxPendingPublishes: integer(
      options.maxPendingPublishes,
      "maxPendingPublishes",
      natsTransportDefaults.maxPendingPublishes,
      1,
      100_000,
    ),
    publishTimeoutMs,
    maxAckPending: integer(
      options.maxAckPending,
      "maxAckPending",
      natsTransportDefaults.maxAckPending,
      1,
      1_000_000,
    ),
    fetchExpiresMs: duration(
      options.fetchExpires,
      "fetchExpires",
      natsTransportDefaults.fetchExpiresMs,
      1_000,
    ),
    logger: options.logger ?? silentLogger,
  };

  const connection = options.connection;
  let connect: ConnectSettings | undefined;
  if (connection !== undefined) {
    if (
      typeof connection !== "object" ||
      connection === null ||
      typeof (connection as NatsConnection).request !== "function"
    ) {
      problems.push("connection must be a NatsConnection from @nats-io/transport-node's connect()");
    }
    for (const key of [
      "servers",
      "user",
      "pass",
      "token",
      "creds",
      "credsFile",
      "nkeySeed",
      "nkeySeedFile",
      "tls",
      "connectionOptions",
    ] as const) {
      if (options[key] !== undefined)
        problems.push(`${key} cannot be combined with connection (configure your connection instead)`);
    }
  } else {
    const servers = options.servers ?? natsTransportDefaults.servers;
    const list = typeof servers === "string" ? [servers] : Array.isArray(servers) ? [...servers] : [];
    if (list.length === 0) problems.push("servers must be a URL or a non-empty array of URLs");
    for (const server of list) {
      if (typeof server !== "string" || !/^(?:(?:nats|tls):\/\/)?[^\s/@]+$/i.test(server)) {
        problems.push(
          `servers: ${describe(typeof server === "string" ? server.replace(/\/\/[^@/]*@/, "//***@") : server)} is not a host:port or nats://host:port URL without credentials`,
        );
      }
    }
    const user = text(options.user, "user");
    const pass = options.pass;
    if (pass !== undefined && typeof pass !== "string") problems.push("pass must be a string");
    if ((user === undefined) !== (pass === undefined)) problems.push("user and pass go together");
    const token = text(options.token, "token");
    const creds = text(options.creds, "creds");
    const credsFile = text(options.credsFile, "credsFile");
    const nkeySeed = text(options.nkeySeed, "nkeySeed");
    const nkeySeedFile = text(options.nkeySeedFile, "nkeySeedFile");
    const methods = [
      user !== undefined,
      token !== undefined,
      creds !== undefined || credsFile !== undefined,
      nkeySeed !== undefined || nkeySeedFile !== undefined,
    ].filter(Boolean).length;
    if (methods > 1)
      problems.push(
        "use one authentication method: user/pass, token, creds/credsFile or nkeySeed/nkeySeedFile",
      );
    if (creds !== undefined && credsFile !== undefined) problems.push("give creds or credsFile, not both");
    if (nkeySeed !== undefined && nkeySeedFile !== undefined)
      problems.push("give nkeySeed or nkeySeedFile, not both");
    const tls = options.tls;
    if (tls !== undefined && typeof tls !== "boolean" && (typeof tls !== "object" || tls === null)) {
      problems.push("tls must be a boolean or TLS options");
    }
    const connectTimeoutMs = duration(
      options.connectTimeout,
      "connectTimeout",
      natsTransportDefaults.connectTimeoutMs,
      1,
    );
    const name = text(options.name, "name") ?? natsTransportDefaults.name;
    const connectionOptions: Partial<ConnectionOptions> = {
      servers: list as string[],
      name,
      timeout: connectTimeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      reconnectJitter: 100,
      pingInterval: natsTransportDefaults.pingIntervalMs,
      maxPingOut: natsTransportDefaults.maxPingOut,
      waitOnFirstConnect: false,
      // The client builds two Error objects per request (every JetStream publish) to keep the
      // caller's stack for a timeout; the transport reports its own context. 14% of the CPU of
      // NATS → PostgreSQL end to end, measured.
      noAsyncTraces: true,
    };
    if (user !== undefined) {
      connectionOptions.user = user;
      connectionOptions.pass = pass as string;
    }
    if (token !== undefined) connectionOptions.token = token;
    if (tls === true) connectionOptions.tls = {};
    else if (typeof tls === "object" && tls !== null) connectionOptions.tls = { ...tls };
    if (options.connectionOptions !== undefined) {
      if (typeof options.connectionOptions !== "object" || options.connectionOptions === null) {
        problems.push("connectionOptions must be an object");
      } else Object.assign(connectionOptions, options.connectionOptions);
    }
    connect = { connectionOptions, creds, credsFile, nkeySeed, nkeySeedFile };
  }
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(COMPONENT, `invalid options: ${problems.join("; ")}`), {
      problems,
    });
  }
  return { settings, connect, connection };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return value === null ? "null" : typeof value;
}
