// Idempotent provisioning of the stream of a prefix and the durable pull consumer of a
// (topic, group). Safe when several processes provision the same names at once.
import { ConfigError, componentMessage } from "@eventferry/core";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  StoreCompression,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { classifyNatsError, toTransportError } from "../classify-error.js";
import { natsGatedFeatures, supportsFeature } from "../server-features.js";
import { COMPONENT, streamSubjects } from "./names.js";

/** The stream settings the transport manages. */
export interface StreamSettings {
  readonly name: string;
  readonly prefix: string;
  readonly storage: "file" | "memory";
  readonly retention: "limits" | "interest";
  /** 0 = unlimited. */
  readonly maxAgeMs: number;
  /** -1 = unlimited. */
  readonly maxBytes: number;
  /** -1 = unlimited. */
  readonly maxMsgs: number;
  readonly replicas: number;
  readonly duplicateWindowMs: number;
  readonly compression: "none" | "s2";
  /** Create/update the stream (true) or only check that it exists (false). */
  readonly provision: boolean;
}

/** The consumer settings of one subscription. */
export interface ConsumerSettings {
  readonly stream: string;
  readonly name: string;
  readonly filterSubjects: readonly string[];
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly topic: string;
  readonly group: string;
  readonly provision: boolean;
}

function desiredStream(
  settings: StreamSettings,
  serverVersion: string | undefined,
): Partial<StreamConfig> & { name: string } {
  if (settings.compression === "s2" && !supportsFeature(serverVersion, "streamCompression")) {
    throw gated(
      `stream compression "s2" needs nats-server ${natsGatedFeatures.streamCompression} or later`,
      serverVersion,
    );
  }
  const config: Partial<StreamConfig> & { name: string } = {
    name: settings.name,
    subjects: streamSubjects(settings.prefix),
    storage: settings.storage === "memory" ? StorageType.Memory : StorageType.File,
    retention: settings.retention === "interest" ? RetentionPolicy.Interest : RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(settings.maxAgeMs),
    max_bytes: settings.maxBytes,
    max_msgs: settings.maxMsgs,
    num_replicas: settings.replicas,
    duplicate_window: nanos(settings.duplicateWindowMs),
  };
  if (settings.compression === "s2") config.compression = StoreCompression.S2;
  return config;
}

function gated(problem: string, serverVersion: string | undefined): ConfigError {
  const message = `${problem}; the server is ${serverVersion ?? "of an unknown version"}`;
  return new ConfigError(componentMessage(COMPONENT, message), {
    problems: [message],
    details: { serverVersion },
  });
}

/** Fields the transport manages that differ between the stream and the settings. */
function streamDrift(info: StreamInfo, desired: Partial<StreamConfig>): string[] {
  const have = info.config;
  const drift: string[] = [];
  const subjects = have.subjects ?? [];
  for (const subject of desired.subjects ?? []) if (!subjects.includes(subject)) drift.push("subjects");
  if (have.max_age !== desired.max_age) drift.push("max_age");
  if (have.max_bytes !== desired.max_bytes) drift.push("max_bytes");
  if (have.max_msgs !== desired.max_msgs) drift.push("max_msgs");
  if (have.num_replicas !== desired.num_replicas) drift.push("num_replicas");
  if (have.duplicate_window !== desired.duplicate_window) drift.push("duplicate_window");
  if (desired.compression !== undefined && have.compression !== desired.compression)
    drift.push("compression");
  return drift;
}

const ALREADY_IN_USE = 10058;

/**
 * Creates the stream when it is missing, updates the managed limits when they drifted, and
 * rejects with a `ConfigError` when the existing stream cannot serve (another storage type or
 * retention, which JetStream cannot change in place). With `provision: false` only checks that it
 * exists.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  settings: StreamSettings,
  serverVersion: string | undefined,
): Promise<StreamInfo> {
  const desired = desiredStream(settings, serverVersion);
  for (let attempt = 0; ; attempt++) {
    let info: StreamInfo | undefined;
    try {
      info = await jsm.streams.info(settings.name);
    } catch (error) {
      if (classifyNatsError(error) !== "not-found")
        throw toTransportError(error, `stream ${settings.name} info`);
    }
    if (info === undefined) {
      if (!settings.provision) {
        const problem = `stream ${settings.name} does not exist and provision is off; create it with subjects ${streamSubjects(settings.prefix).join(", ")}`;
        throw new ConfigError(componentMessage(COMPONENT, problem), { problems: [problem] });
      }
      try {
        return await jsm.streams.add(desired);
      } catch (error) {
        if (apiCode(error) === ALREADY_IN_USE && attempt < 3) continue; // created meanwhile
        throw toTransportError(error, `creating stream ${settings.name}`);
      }
    }
    if (settings.provision) {
      const have = info.config;
      const problems: string[] = [];
      if (have.storage !== desired.storage) {
        problems.push(
          `stream ${settings.name} exists with ${have.storage} storage, configured ${desired.storage} (storage cannot change; delete the stream or change the option)`,
        );
      }
      if (have.retention !== desired.retention) {
        problems.push(
          `stream ${settings.name} exists with ${have.retention} retention, configured ${desired.retention} (retention cannot change; delete the stream or change the option)`,
        );
      }
      if (problems.length > 0) {
        throw new ConfigError(componentMessage(COMPONENT, problems.join("; ")), { problems });
      }
      if (streamDrift(info, desired).length > 0) {
        const subjects = [...new Set([...(have.subjects ?? []), ...(desired.subjects ?? [])])];
        try {
          return await jsm.streams.update(settings.name, { ...have, ...desired, subjects });
        } catch (error) {
          throw toTransportError(error, `updating stream ${settings.name}`);
        }
      }
    }
    return info;
  }
}

function apiCode(error: unknown): number {
  const apiError = (error as { apiError?: unknown } | null)?.apiError;
  if (typeof apiError !== "function") return 0;
  try {
    const api = (apiError as () => { err_code?: number }).call(error);
    return typeof api?.err_code === "number" ? api.err_code : 0;
  } catch {
    return 0;
  }
}

/**
 * Creates the durable pull consumer when it is missing, or updates its ack wait and max ack
 * pending when they differ (the last subscriber to join a group sets them).
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  settings: ConsumerSettings,
  serverVersion: string | undefined,
): Promise<ConsumerInfo> {
  if (settings.filterSubjects.length > 1 && !supportsFeature(serverVersion, "multiFilterConsumers")) {
    throw gated(
      `topic pattern "${settings.topic}" needs a consumer with several filter subjects (${settings.filterSubjects.join(", ")}), which needs nats-server ${natsGatedFeatures.multiFilterConsumers} or later; use "*" segments, "**" alone, or upgrade the server`,
      serverVersion,
    );
  }
  const ackWait = nanos(settings.ackWaitMs);
  for (let attempt = 0; ; attempt++) {
    let info: ConsumerInfo | undefined;
    try {
      info = await jsm.consumers.info(settings.stream, settings.name);
    } catch (error) {
      if (classifyNatsError(error) !== "not-found") {
        throw toTransportError(error, `consumer ${settings.name} info`);
      }
    }
    if (info === undefined) {
      if (!settings.provision) {
        const problem = `consumer ${settings.name} of stream ${settings.stream} does not exist and provision is off`;
        throw new ConfigError(componentMessage(COMPONENT, problem), { problems: [problem] });
      }
      const config: Partial<ConsumerConfig> = {
        durable_name: settings.name,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ackWait,
        max_ack_pending: settings.maxAckPending,
        deliver_policy: DeliverPolicy.All,
        max_deliver: -1,
      };
      if (settings.filterSubjects.length === 1) config.filter_subject = settings.filterSubjects[0] as string;
      else config.filter_subjects = [...settings.filterSubjects];
      if (supportsFeature(serverVersion, "consumerMetadata")) {
        config.metadata = { eventferry_topic: settings.topic, eventferry_group: settings.group };
      }
      try {
        return await jsm.consumers.add(settings.stream, config);
      } catch (error) {
        if (attempt < 3 && /already exists|already in use/i.test(String((error as Error)?.message))) continue;
        throw toTransportError(error, `creating consumer ${settings.name} on stream ${settings.stream}`);
      }
    }
    const have = info.config;
    if (
      settings.provision &&
      (have.ack_wait !== ackWait || have.max_ack_pending !== settings.maxAckPending)
    ) {
      try {
        return await jsm.consumers.update(settings.stream, settings.name, {
          ack_wait: ackWait,
          max_ack_pending: settings.maxAckPending,
        });
      } catch (error) {
        throw toTransportError(error, `updating consumer ${settings.name} on stream ${settings.stream}`);
      }
    }
    return info;
  }
}
