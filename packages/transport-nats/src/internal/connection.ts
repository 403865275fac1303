// The transport's connection: connected lazily on first use, shared by publishing, consuming and
// health, and watched for disconnects and reconnects. A caller's own connection is used as is and
// never closed here.
import { readFile } from "node:fs/promises";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { toTransportError } from "../classify-error.js";
import { PubAcks } from "./pub-acks.js";

/** How to reach the server: what {@link ConnectionHolder} passes to `connect()`. */
export interface ConnectSettings {
  readonly connectionOptions: Partial<ConnectionOptions>;
  /** A creds file (JWT + NKey seed) read at connect time. */
  readonly credsFile: string | undefined;
  /** Creds file contents given inline. */
  readonly creds: string | undefined;
  /** An NKey seed (`SU…`) given inline. */
  readonly nkeySeed: string | undefined;
  /** A file holding the NKey seed, read at connect time. */
  readonly nkeySeedFile: string | undefined;
}

/** Connection state seen from the status stream. */
export interface ConnectionState {
  /** False between a `disconnect` and the next `reconnect`. */
  connected: boolean;
  reconnects: number;
  disconnects: number;
  lastError: string | undefined;
}

/** The connection with its JetStream clients. */
export interface Connected {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Publishes with their PubAcks on one subscription (see pub-acks.ts). */
  readonly acks: PubAcks;
}

export class ConnectionHolder {
  readonly state: ConnectionState = { connected: false, reconnects: 0, disconnects: 0, lastError: undefined };
  readonly #own: NatsConnection | undefined;
  readonly #settings: ConnectSettings | undefined;
  readonly #publishTimeoutMs: number;
  #connecting: Promise<Connected> | undefined;
  #connected: Connected | undefined;
  #closed = false;

  constructor(options: {
    connection: NatsConnection | undefined;
    settings: ConnectSettings | undefined;
    publishTimeoutMs: number;
  }) {
    this.#own = options.connection;
    this.#settings = options.settings;
    this.#publishTimeoutMs = options.publishTimeoutMs;
  }

  /** True when the connection is the caller's (never closed by the transport). */
  get external(): boolean {
    return this.#own !== undefined;
  }

  /** The connection if it is up already (no connect attempt). */
  get current(): Connected | undefined {
    return this.#connected;
  }

  /** Connects on first use; a failed attempt is forgotten, so the next call tries again. */
  get(): Promise<Connected> {
    if (this.#connected !== undefined) return Promise.resolve(this.#connected);
    if (this.#connecting === undefined) {
      const attempt = this.#connect();
      this.#connecting = attempt;
      attempt.then(
        (connected) => {
          this.#connected = connected;
        },
        () => {
          if (this.#connecting === attempt) this.#connecting = undefined;
        },
      );
    }
    return this.#connecting;
  }

  async #connect(): Promise<Connected> {
    let nc: NatsConnection;
    if (this.#own !== undefined) {
      nc = this.#own;
    } else {
      const settings = this.#settings as ConnectSettings;
      const options: Partial<ConnectionOptions> = { ...settings.connectionOptions };
      try {
        const authenticator = await this.#authenticator(settings);
        if (authenticator !== undefined) options.authenticator = authenticator;
      } catch (error) {
        throw toTransportError(error, "reading credentials");
      }
      try {
        nc = await connect(options);
      } catch (error) {
        this.state.lastError = toTransportError(error, "connect").message;
        throw toTransportError(error, `connect to ${describeServers(options.servers)}`);
      }
    }
    if (this.#closed) {
      if (this.#own === undefined) await nc.close().catch(() => {});
      throw toTransportError(new Error("closed connection"), "connect");
    }
    this.state.connected = !nc.isClosed();
    void this.#watch(nc);
    try {
      const jsm = await jetstreamManager(nc, { timeout: this.#publishTimeoutMs });
      const js = jetstream(nc, { timeout: this.#publishTimeoutMs });
      return { nc, js, jsm, acks: new PubAcks(nc, this.#publishTimeoutMs) };
    } catch (error) {
      if (this.#own === undefined) await nc.close().catch(() => {});
      throw toTransportError(error, "opening JetStream");
    }
  }

  async #authenticator(settings: ConnectSettings): Promise<ConnectionOptions["authenticator"] | undefined> {
    const encoder = new TextEncoder();
    if (settings.creds !== undefined) return credsAuthenticator(encoder.encode(settings.creds));
    if (settings.credsFile !== undefined) {
      return credsAuthenticator(new Uint8Array(await readFile(settings.credsFile)));
    }
    if (settings.nkeySeed !== undefined) return nkeyAuthenticator(encoder.encode(settings.nkeySeed.trim()));
    if (settings.nkeySeedFile !== undefined) {
      const seed = (await readFile(settings.nkeySeedFile, "utf8")).trim();
      return nkeyAuthenticator(encoder.encode(seed));
    }
    return undefined;
  }

  async #watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const status of nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.state.connected = false;
            this.state.disconnects++;
            break;
          case "reconnect":
            this.state.connected = true;
            this.state.reconnects++;
            break;
          case "error":
            this.state.lastError = toTransportError(
              (status as { error?: unknown }).error ?? "error",
              "connection",
            ).message;
            break;
          case "close":
            this.state.connected = false;
            break;
        }
      }
    } catch {
      // the status iterator ends with the connection
    }
    this.state.connected = false;
  }

  /** Closes the connection if it is ours (draining what was written); idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connecting;
    this.#connecting = undefined;
    let connected = this.#connected;
    this.#connected = undefined;
    if (connected === undefined && pending !== undefined) {
      connected = await pending.catch(() => undefined);
    }
    connected?.acks.close(new Error("closed connection"));
    if (connected === undefined || this.#own !== undefined) return;
    if (!connected.nc.isClosed()) await connected.nc.close().catch(() => {});
  }
}

/** The server list for messages: host and port only (credentials never live in `servers`). */
export function describeServers(servers: string | string[] | undefined): string {
  if (servers === undefined) return "nats://127.0.0.1:4222";
  const list = Array.isArray(servers) ? servers : [servers];
  return list.join(",");
}
