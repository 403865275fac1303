import {
  type CodecLimits,
  ConfigError,
  codecDefaults,
  createConsoleLogger,
  createEnvelope,
  createRegistry,
  type Duration,
  type EncodedEvent,
  type EventData,
  type EventDefinition,
  type EventEnvelope,
  EventferryError,
  type EventInput,
  type EventRegistry,
  encodeEvent,
  type Handler,
  type HealthReport,
  isEventDefinition,
  isEventferryError,
  type Logger,
  type Plugin,
  type PluginContext,
  PublishError,
  type PublishEventOptions,
  parseDuration,
  redact,
  type Transport,
  ValidationError,
} from "@eventferry/core";
import {
  type BatchHandler,
  type BatchHandlerOptions,
  createInbox,
  type HandlerOptions,
  type Inbox,
  type InboxOptions,
  type ProcessedResult,
  type WhenProcessedOptions,
} from "@eventferry/inbox";
import {
  type AnyModelEvents,
  createOutboxRelay,
  isModelEvents,
  type ModelEventName,
  type OutboxRelay,
  type OutboxRelayOptions,
} from "@eventferry/outbox";
import type {
  AppendResult,
  DeadLetter,
  DeadLetterQuery,
  EventQuery,
  Store,
  StoredEvent,
} from "@eventferry/store";
import { aggregateHealth, type HealthCheck } from "./internal/aggregate-health.js";
import { decorateStore, decorateTransport } from "./internal/decorate-transport.js";
import { runHooks } from "./internal/run-hooks.js";
import {
  type AdapterPackageOverrides,
  type LoadedStore,
  loadStoreAdapter,
  resolveTransportWith,
} from "./resolve-adapters.js";

/**
 * Options of {@link createEventferry}. Durations are milliseconds or strings like `"30s"`.
 *
 * Adapters are given as instances or as URLs. Instances you pass stay yours: `stop()` never
 * closes them. Adapters created from URLs belong to the ferry and `stop()` closes them.
 */
export interface EventferryOptions<TClient = unknown>
  extends Pick<
    InboxOptions<TClient>,
    | "plugins"
    | "group"
    | "topic"
    | "worker"
    | "concurrency"
    | "batchSize"
    | "lease"
    | "pollInterval"
    | "retry"
    | "handlerTimeout"
    | "logger"
    | "codec"
    | "admission"
    | "retention"
  > {
  /**
   * The durable store: an instance, or a URL resolved by scheme (`memory:`, `sqlite:./path.db`,
   * `postgres://…`; see `adapterPackages`). A store instance types `ctx.tx` in handlers.
   * @default "sqlite:./.eventferry/events.db" (needs `@eventferry/store-sqlite`)
   */
  store?: Store<TClient> | string;
  /**
   * The transport: an instance, or a URL resolved by scheme (`memory:`, `redis://…`, `nats://…`,
   * `store:` — the store's own queue: its adapter's `createStoreTransport`, the memory transport
   * for the memory store).
   * @default "store:"
   */
  transport?: Transport | string;
  /** Extra scheme → package mappings for adapters outside this repository. */
  adapters?: AdapterPackageOverrides;
  /** Event definitions known up front (validated at handle time, schemas registered at start). */
  events?: readonly EventDefinition[];
  /**
   * Models made by `defineModelEvents` (from `@eventferry/outbox`): their `created`, `updated`
   * and `deleted` definitions are registered like `events`. A model whose `topic` is not the
   * ferry's `topic` is a `ConfigError` (its events would never reach these handlers).
   */
  models?: readonly AnyModelEvents[];
  /** A registry to use (`events` are added to it). @default a new registry */
  registry?: EventRegistry;
  /** Run `store.migrate()` while creating the ferry. @default true */
  migrate?: boolean;
  /** The outbox relay (re-sends events whose direct publish failed, and handlers' follow-ups). */
  relay?: Pick<OutboxRelayOptions, "batchSize" | "pollInterval" | "lease" | "retention" | "cleanupInterval">;
}

/** Defaults of {@link EventferryOptions}. */
export const eventferryDefaults: {
  readonly store: "sqlite:./.eventferry/events.db";
  readonly transport: "store:";
  readonly migrate: true;
  readonly topic: "events";
  readonly healthTimeoutMs: 5000;
} = Object.freeze({
  store: "sqlite:./.eventferry/events.db",
  transport: "store:",
  migrate: true,
  topic: "events",
  healthTimeoutMs: 5000,
} as const);

/** One event of {@link Eventferry.publishMany}. */
export interface PublishItem<D extends EventDefinition = EventDefinition> {
  readonly event: D;
  readonly data: EventInput<D>;
  readonly options?: Omit<PublishEventOptions, "signal"> | undefined;
}

/** The dead letters of the ferry's store (every consumer group's). */
export interface EventferryDeadLetters {
  /** Lists dead letters in id order (`after` pages on). */
  list(query?: DeadLetterQuery): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  /**
   * Puts dead letters back to pending with their attempts reset, due now. Entries that never
   * decoded cannot be retried and are skipped. Returns the ids retried.
   */
  retry(ids: readonly string[]): Promise<string[]>;
  /** Deletes dead letters (all matching the filter when `ids` is absent); returns how many. */
  purge(params?: { ids?: readonly string[]; consumer?: string }): Promise<number>;
}

/**
 * A running composition of a store, a transport, the inbox (handlers), the outbox relay and
 * plugins. `TClient` is the store's transaction client, the type of `ctx.tx` in handlers.
 */
export interface Eventferry<TClient = unknown> {
  /**
   * Registers a handler for a definition (typed `event.data`; the definition is added to the
   * registry) or a glob pattern over event types (`order.*`: one segment, `**`: any depth; data
   * `unknown`). Each handler has its own inbox entry per event: one failing never re-runs another.
   * Register handlers before `start()`. Returns the ferry.
   *
   * @example
   * ferry.on(OrderCreated, async (event, ctx) => { await ctx.tx.query("insert …", [event.data.orderId]) },
   *   { retry: { attempts: 5, backoff: "exponential", maxDelay: "15m" } });
   */
  on<D extends EventDefinition>(
    definition: D,
    handler: Handler<EventData<D>, TClient>,
    options?: HandlerOptions,
  ): Eventferry<TClient>;
  on(pattern: string, handler: Handler<unknown, TClient>, options?: HandlerOptions): Eventferry<TClient>;
  /**
   * Registers a batch handler (see `Inbox.handleBatch`): it gets up to `maxSize` events at once,
   * waiting at most `maxWait` for more, in one transaction whose commit completes all of them; a
   * failure retries or dead-letters each event by the policy. Returns the ferry.
   *
   * @example
   * ferry.onBatch(OrderCreated, async (events, ctx) => {
   *   await ctx.tx.query("insert into invoices select * from unnest($1::text[])", [events.map((e) => e.data.orderId)]);
   * }, { maxSize: 500, maxWait: "50ms" });
   */
  onBatch<D extends EventDefinition>(
    definition: D,
    handler: BatchHandler<EventData<D>, TClient>,
    options?: BatchHandlerOptions,
  ): Eventferry<TClient>;
  onBatch(
    pattern: string,
    handler: BatchHandler<unknown, TClient>,
    options?: BatchHandlerOptions,
  ): Eventferry<TClient>;
  /**
   * Registers a handler for one lifecycle event of a model made by `defineModelEvents`:
   * `ferry.onModel(User, "created", h)` is `ferry.on(User.created, h)` (typed `event.data`; the
   * model's definitions are registered). Throws a `ConfigError` when the model's `topic` is not
   * the ferry's. Returns the ferry.
   *
   * @example
   * ferry.onModel(User, "updated", async (event, ctx) => {
   *   if (event.data.before?.email !== event.data.after.email) await sendConfirmation(event.data.after);
   * });
   */
  onModel<M extends AnyModelEvents, E extends ModelEventName>(
    model: M,
    event: E,
    handler: Handler<EventData<M[E]>, TClient>,
    options?: HandlerOptions,
  ): Eventferry<TClient>;
  /**
   * Validates `data`, appends the event to the store's log and publishes it to the transport.
   * Resolves with the event id once the event is durable: if the transport refuses it, the event
   * goes to the outbox and the relay delivers it later. Publishing an id already in the log is a
   * no-op that resolves with the id.
   *
   * Throws a `ValidationError` (nothing stored) for invalid data or options, or an event that
   * cannot be encoded — code `PAYLOAD_TOO_LARGE` when it is over the codec's limit (1 MiB encoded);
   * a `PublishError` when the store refuses the event or neither the transport nor the outbox takes it.
   *
   * @example
   * const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 }, { key: "customer-7", delay: "10m" });
   */
  publish<D extends EventDefinition>(
    definition: D,
    data: EventInput<D>,
    options?: PublishEventOptions,
  ): Promise<string>;
  /**
   * Publishes many events with one append and one transport publish. All are validated (and
   * encoded) first: one invalid or oversized item fails the call with a `ValidationError` naming
   * its index and nothing is stored. Resolves with the ids in input order.
   *
   * @example
   * await ferry.publishMany(orders.map((o) => ({ event: OrderCreated, data: o, options: { key: o.customerId } })));
   */
  publishMany<const T extends readonly EventDefinition[]>(
    items: { readonly [K in keyof T]: PublishItem<T[K]> },
    options?: { signal?: AbortSignal },
  ): Promise<string[]>;
  /**
   * Sets up plugins (once, in array order), registers the definitions' JSON Schemas in the store,
   * starts the outbox relay and the inbox, then fires `onStart`. Idempotent.
   *
   * A ferry without handlers is a producer: it starts no inbox and does not join the consumer
   * group. Every process of one group MUST register the same handlers: the transport shares the
   * group's messages among its members.
   */
  start(): Promise<void>;
  /**
   * Stops the inbox (in-flight handlers finish within `timeout`, then their signals abort), stops
   * the relay, fires `onStop`, then closes the store and transport the ferry created from URLs.
   * Idempotent; a stopped ferry cannot be restarted. @default timeout "30s"
   */
  stop(options?: { timeout?: Duration }): Promise<void>;
  /**
   * Resolves when the outbox is empty and (when started) the inbox has nothing in flight or due.
   * Delayed events and scheduled retries are not waited for. Rejects after `timeout`.
   * @default timeout "30s"
   */
  whenIdle(options?: { timeout?: Duration }): Promise<void>;
  /**
   * Resolves when every handler of this ferry matching the event (or only `options.handler`) has
   * finished it — completed or dead-lettered — with each handler's status, also when that
   * happened before the call; rejects with a `WhenProcessedTimeoutError` after `timeout`. Sees
   * what this process handled (see `Inbox.whenProcessed`): for tests and demos.
   * @default timeout "30s"
   *
   * @example
   * const id = await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });
   * const { ok } = await ferry.whenProcessed(id, { timeout: "5s" });
   */
  whenProcessed(eventId: string, options?: WhenProcessedOptions): Promise<ProcessedResult>;
  /** Reads the store's log in position order (replay). */
  read(query?: EventQuery): AsyncIterable<StoredEvent>;
  /**
   * One report over the store, the transport and the plugins' health checks; its status is the
   * worst of theirs, the parts are in `details.components`. A check that throws or takes longer
   * than `timeout` counts as unhealthy. @default timeout "5s"
   */
  health(options?: { timeout?: Duration }): Promise<HealthReport>;
  readonly deadLetters: EventferryDeadLetters;
  /** The store (decorated by plugins). */
  readonly store: Store<TClient>;
  /** The transport (decorated by plugins). */
  readonly transport: Transport;
  readonly inbox: Inbox<TClient>;
  readonly relay: OutboxRelay;
  readonly registry: EventRegistry;
  /** The topic published to and consumed. */
  readonly topic: string;
  /** True between a successful `start()` and `stop()`. */
  readonly running: boolean;
}

/**
 * Creates an Eventferry: resolves the store and transport (URLs load their adapter package),
 * applies the plugins' decorators, migrates the store and builds the inbox and the outbox relay.
 * Nothing is consumed until {@link Eventferry.start}; publishing works right away.
 *
 * Throws a `ConfigError` for invalid options, an unknown scheme or an adapter package that is
 * not installed (code `ADAPTER_MISSING`, naming the package to install). Passwords in URLs never
 * reach a message.
 *
 * @example
 * const ferry = await createEventferry({ store: "memory:", transport: "memory:" });
 * ferry.on(OrderCreated, async (event) => console.log(event.data.total));
 * await ferry.start();
 * await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });
 */
export async function createEventferry<TClient = unknown>(
  options: EventferryOptions<TClient> = {},
): Promise<Eventferry<TClient>> {
  const plugins = validatePlugins(options.plugins);
  const logger = options.logger ?? createConsoleLogger("warn");
  const registry = options.registry ?? createRegistry();
  if (options.events) registry.register(...options.events);
  const topic = options.topic ?? eventferryDefaults.topic;
  if (options.models !== undefined) {
    for (const model of Array.isArray(options.models) ? options.models : [options.models]) {
      registry.register(...checkModel(model, topic).definitions);
    }
  }

  const owned: Array<{ name: string; close: () => Promise<void> }> = [];
  const closeOwned = async (): Promise<void> => {
    for (const resource of owned.splice(0).reverse()) {
      try {
        await resource.close();
      } catch (error) {
        logger.warn(`closing the ${resource.name} failed`, { error: redact(messageOf(error)) });
      }
    }
  };

  try {
    const storeConfig = options.store ?? eventferryDefaults.store;
    let rawStore: Store<TClient>;
    let loaded: LoadedStore | undefined;
    if (typeof storeConfig === "string") {
      loaded = await loadStoreAdapter(storeConfig, { adapters: options.adapters });
      rawStore = loaded.store as Store<TClient>;
      owned.push({ name: "store", close: () => rawStore.close() });
    } else {
      rawStore = storeConfig;
    }
    const transportConfig = options.transport ?? eventferryDefaults.transport;
    let rawTransport: Transport;
    if (typeof transportConfig === "string") {
      rawTransport = await resolveTransportWith(transportConfig, {
        store: rawStore as Store,
        loaded,
        adapters: options.adapters,
      });
      owned.push({ name: "transport", close: () => rawTransport.close() });
    } else {
      rawTransport = transportConfig;
    }

    const store = decorateStore(rawStore, plugins);
    const transport = decorateTransport(rawTransport, plugins);
    const inbox = createInbox<TClient>({
      store,
      transport,
      registry,
      group: options.group,
      topic,
      worker: options.worker,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      lease: options.lease,
      pollInterval: options.pollInterval,
      retry: options.retry,
      handlerTimeout: options.handlerTimeout,
      plugins,
      logger,
      codec: options.codec,
      ...(options.admission !== undefined ? { admission: options.admission } : {}),
      ...(options.retention !== undefined ? { retention: options.retention } : {}),
    });
    const relay = createOutboxRelay({
      store: store as Store,
      transport,
      batchSize: options.relay?.batchSize,
      lease: options.relay?.lease,
      pollInterval: options.relay?.pollInterval,
      retention: options.relay?.retention,
      cleanupInterval: options.relay?.cleanupInterval,
      logger,
    });
    if (options.migrate ?? eventferryDefaults.migrate) await store.migrate();

    return assembleFerry({
      store,
      transport,
      inbox,
      relay,
      registry,
      plugins,
      logger,
      topic,
      codec: options.codec,
      closeOwned,
    });
  } catch (error) {
    await closeOwned();
    throw error;
  }
}

interface FerryParts<TClient> {
  store: Store<TClient>;
  transport: Transport;
  inbox: Inbox<TClient>;
  relay: OutboxRelay;
  registry: EventRegistry;
  plugins: readonly Plugin[];
  logger: Logger;
  topic: string;
  /** The ferry's codec limits: what it publishes, its own inbox must be able to decode. */
  codec: CodecLimits | undefined;
  closeOwned: () => Promise<void>;
}

function assembleFerry<TClient>(parts: FerryParts<TClient>): Eventferry<TClient> {
  const { store, transport, inbox, relay, registry, plugins, logger, topic, codec } = parts;
  const healthChecks: HealthCheck[] = [
    { name: "store", check: () => store.health() },
    { name: "transport", check: () => transport.health() },
  ];
  const schemaPuts = new Map<string, Promise<void>>();
  let setupDone = false;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let running = false;

  const pluginContext: PluginContext = {
    logger,
    storeName: store.name,
    transportName: transport.name,
    addHealthCheck(name, check) {
      healthChecks.push({ name, check });
    },
    async inboxStats() {
      const consumers = inbox.handlerNames.map((name) => `${inbox.group}/${name}`);
      const stats = await store.inbox.stats({ consumers });
      const numbers: Record<string, number> = {};
      for (const [key, value] of Object.entries(stats)) if (typeof value === "number") numbers[key] = value;
      if (typeof stats.oldestPendingAt === "string") {
        numbers.oldestPendingAgeMs = Math.max(0, Date.now() - Date.parse(stats.oldestPendingAt));
      }
      return numbers;
    },
  };

  /** Stores a definition's JSON Schema once per (type, version); a conflict is logged, not thrown. */
  const ensureSchema = (type: string, version: number, schema: () => Record<string, unknown>) => {
    const key = `${type}@${version}`;
    let put = schemaPuts.get(key);
    if (!put) {
      put = store.schemas.put({ type, version, schema: schema() }).catch((error: unknown) => {
        if (isEventferryError(error) && error.code === "VALIDATION_FAILED") {
          logger.warn(
            `the stored JSON Schema of "${type}" version ${version} differs from the definition's; bump the definition's version when its schema changes`,
            { type, version },
          );
        } else {
          schemaPuts.delete(key);
          logger.warn(`storing the JSON Schema of "${type}" version ${version} failed`, {
            type,
            version,
            error: redact(messageOf(error)),
          });
        }
      });
      schemaPuts.set(key, put);
    }
    return put;
  };

  const assertOpen = () => {
    if (stopping) throw new EventferryError("CLOSED", "[eventferry] the ferry is stopped");
  };

  const envelopeOf = (definition: EventDefinition, data: unknown, options: PublishEventOptions = {}) => {
    if (!isEventDefinition(definition)) {
      throw new ValidationError("[eventferry] publish takes an event definition created by defineEvent()", {
        issues: ["definition: not an event definition"],
      });
    }
    const { signal: _signal, ...envelopeOptions } = options;
    const envelope = createEnvelope(definition, data as never, envelopeOptions) as EventEnvelope;
    // Encoded before anything is stored: an event no transport could carry (over the codec's
    // limit, unserialisable) is refused here instead of sticking in the outbox.
    const encoded = encodeForPublish(envelope, codec);
    if (!registry.has(definition.type)) registry.register(definition);
    return { definition, envelope, encoded };
  };

  async function publishEnvelopes(
    items: readonly { definition: EventDefinition; envelope: EventEnvelope; encoded: EncodedEvent }[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    assertOpen();
    if (signal?.aborted) {
      throw new EventferryError("ABORTED", "[eventferry] publish aborted before it started", {
        cause: signal.reason,
      });
    }
    const envelopes = items.map((i) => i.envelope);
    const ids = envelopes.map((e) => e.id);
    await Promise.all(
      items.map(({ definition: d }) => ensureSchema(d.type, d.version, () => d.jsonSchema())),
    );
    let appended: AppendResult;
    try {
      appended = await store.append(envelopes);
    } catch (cause) {
      throw new PublishError(
        `[eventferry] publish failed: the store did not take ${describeEvents(envelopes)}: ${redact(messageOf(cause))}`,
        { cause, failedIds: ids },
      );
    }
    const fresh = new Set(appended.inserted);
    const sending = fresh.size === envelopes.length ? items : items.filter((i) => fresh.has(i.envelope.id));
    if (sending.length === 0) return;
    const toSend = sending.map((i) => i.envelope);
    try {
      await transport.publish(
        topic,
        sending.map((i) => i.encoded),
        { signal },
      );
    } catch (transportError) {
      const failed = failedSubset(toSend, transportError);
      logger.warn(
        `the transport refused ${describeEvents(failed)}; the outbox relay will deliver ${failed.length === 1 ? "it" : "them"}`,
        { error: redact(messageOf(transportError)), ids: failed.map((e) => e.id) },
      );
      try {
        await store.outbox.add({ topic, events: failed });
        relay.wake();
      } catch (outboxError) {
        throw new PublishError(
          `[eventferry] publish failed: ${describeEvents(failed)} ${failed.length === 1 ? "is" : "are"} in the log, but neither the transport (${redact(messageOf(transportError))}) nor the outbox (${redact(messageOf(outboxError))}) took ${failed.length === 1 ? "it" : "them"}`,
          {
            cause: transportError,
            failedIds: failed.map((e) => e.id),
            details: { outboxError: redact(messageOf(outboxError)) },
          },
        );
      }
    }
    await runHooks(plugins, logger, "onPublish", toSend);
  }

  const ferry: Eventferry<TClient> = {
    on(target: EventDefinition | string, handler: Handler<never, TClient>, options?: HandlerOptions) {
      (
        inbox.handle as (
          t: EventDefinition | string,
          h: Handler<never, TClient>,
          o?: HandlerOptions,
        ) => unknown
      )(target, handler, options);
      return ferry;
    },

    onModel(model, event, handler, options) {
      const definition = checkModel(model, topic)[event as ModelEventName] as EventDefinition | undefined;
      if (!isEventDefinition(definition)) {
        throw new ConfigError(
          `[eventferry] onModel takes "created", "updated" or "deleted", got ${JSON.stringify(event)}`,
        );
      }
      registry.register(...model.definitions); // a second, different "user" model is a ConfigError
      return ferry.on(definition, handler as Handler<unknown, TClient>, options);
    },

    onBatch(
      target: EventDefinition | string,
      handler: BatchHandler<never, TClient>,
      options?: BatchHandlerOptions,
    ) {
      (
        inbox.handleBatch as (
          t: EventDefinition | string,
          h: BatchHandler<never, TClient>,
          o?: BatchHandlerOptions,
        ) => unknown
      )(target, handler, options);
      return ferry;
    },

    async publish(definition, data, options) {
      const item = envelopeOf(definition, data, options);
      await publishEnvelopes([item], options?.signal);
      return item.envelope.id;
    },

    async publishMany(items, options) {
      const list = items as readonly PublishItem[];
      if (!Array.isArray(list)) throw new ValidationError("[eventferry] publishMany takes an array of items");
      const built = list.map((item, index) => {
        try {
          return envelopeOf(item?.event, item?.data, item?.options);
        } catch (error) {
          if (error instanceof ValidationError) {
            throw new ValidationError(`[eventferry] publishMany item ${index}: ${error.message}`, {
              code: error.code,
              issues: error.issues.map((issue) => `[${index}] ${issue}`),
              cause: error,
            });
          }
          throw error;
        }
      });
      if (built.length === 0) return [];
      await publishEnvelopes(built, options?.signal);
      return built.map((b) => b.envelope.id);
    },

    start() {
      if (stopping) {
        return Promise.reject(
          new EventferryError("CLOSED", "[eventferry] a stopped ferry cannot be restarted"),
        );
      }
      if (starting) return starting;
      const attempt = (async () => {
        if (!setupDone) {
          for (const plugin of plugins) {
            if (!plugin.setup) continue;
            try {
              await plugin.setup(pluginContext);
            } catch (error) {
              throw new ConfigError(
                `[eventferry] plugin "${plugin.name}" setup failed: ${redact(messageOf(error))}`,
                {
                  cause: error,
                },
              );
            }
          }
          setupDone = true;
        }
        await Promise.all(registry.jsonSchemas().map((s) => ensureSchema(s.type, s.version, () => s.schema)));
        relay.start();
        try {
          // Without handlers the ferry is a producer: it does not join the consumer group (where it
          // would take messages away from the group's consumers).
          if (inbox.handlerNames.length > 0) await inbox.start();
        } catch (error) {
          await relay.stop().catch(() => {});
          throw error;
        }
        running = true;
        await runHooks(plugins, logger, "onStart");
      })();
      starting = attempt;
      attempt.catch(() => {
        if (starting === attempt) starting = undefined;
      });
      return attempt;
    },

    stop(options = {}) {
      if (stopping) return stopping;
      const timeout = options.timeout;
      if (timeout !== undefined) parseDuration(timeout, "timeout");
      stopping = (async () => {
        await starting?.catch(() => {});
        const wasRunning = running;
        try {
          await inbox.stop(timeout === undefined ? {} : { timeout });
        } catch (error) {
          logger.warn("stopping the inbox failed", { error: redact(messageOf(error)) });
        }
        try {
          await relay.stop();
        } catch (error) {
          logger.warn("stopping the outbox relay failed", { error: redact(messageOf(error)) });
        }
        running = false;
        if (wasRunning) await runHooks(plugins, logger, "onStop");
        await parts.closeOwned();
      })();
      return stopping;
    },

    async whenIdle(options = {}) {
      const timeoutMs = options.timeout === undefined ? 30_000 : parseDuration(options.timeout, "timeout");
      const deadline = Date.now() + timeoutMs;
      const left = () => Math.max(1, deadline - Date.now());
      for (;;) {
        await relay.flush({ timeout: left() });
        if (inbox.running) await inbox.whenIdle({ timeout: left() });
        if ((await store.outbox.pending()) === 0) return;
        if (Date.now() >= deadline) {
          throw new EventferryError("ABORTED", `[eventferry] not idle after ${timeoutMs} ms`);
        }
      }
    },

    whenProcessed(eventId, options) {
      return inbox.whenProcessed(eventId, options);
    },

    read(query) {
      return store.read(query);
    },

    health(options = {}) {
      const timeoutMs =
        options.timeout === undefined
          ? eventferryDefaults.healthTimeoutMs
          : parseDuration(options.timeout, "timeout");
      const state = stopping ? "stopped" : running ? "running" : "created";
      return aggregateHealth("eventferry", healthChecks, timeoutMs, {
        ...(stopping ? { status: "unhealthy" as const, reasons: ["eventferry: stopped"] } : {}),
        details: { state, relayRunning: relay.running, inboxRunning: inbox.running },
      });
    },

    deadLetters: {
      list: (query) => store.deadLetters.list(query),
      get: (id) => store.deadLetters.get({ id }),
      async retry(ids) {
        const retried = await store.deadLetters.retry({ ids });
        if (retried.length > 0) inbox.wake();
        return retried;
      },
      purge: (params) => store.deadLetters.purge(params),
    },

    store,
    transport,
    inbox,
    relay,
    registry,
    topic,
    get running() {
      return running;
    },
  };
  return ferry;
}

/** A model made by `defineModelEvents` whose events go to `topic`; else a `ConfigError`. */
function checkModel(model: unknown, topic: string): AnyModelEvents {
  if (!isModelEvents(model)) {
    throw new ConfigError("[eventferry] models takes models made by defineModelEvents()", {
      problems: ["models: not a model"],
    });
  }
  if (model.topic !== topic) {
    throw new ConfigError(
      `[eventferry] model "${model.name}" adds its events to topic "${model.topic}" but the ferry consumes "${topic}": pass { topic: "${topic}" } to defineModelEvents`,
      { problems: [`models: ${model.name} topic ${model.topic}`] },
    );
  }
  return model;
}

function validatePlugins(plugins: readonly Plugin[] | undefined): readonly Plugin[] {
  if (plugins === undefined) return [];
  const problems: string[] = [];
  if (!Array.isArray(plugins)) problems.push("plugins must be an array");
  else {
    plugins.forEach((p, i) => {
      if (typeof p !== "object" || p === null) problems.push(`plugins[${i}] must be a plugin object`);
      else if (typeof p.name !== "string" || p.name.length === 0) problems.push(`plugins[${i}] needs a name`);
    });
  }
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry] invalid options: ${problems.join("; ")}`, { problems });
  }
  return [...plugins];
}

/**
 * Encodes an event for the transport, or throws a `ValidationError` naming it (type, id) and, for
 * one over the codec's size limit (code `PAYLOAD_TOO_LARGE`), the limit.
 */
function encodeForPublish(envelope: EventEnvelope, codec: CodecLimits | undefined): EncodedEvent {
  try {
    return encodeEvent(envelope, codec);
  } catch (cause) {
    const codeOf = isEventferryError(cause) ? cause.code : "VALIDATION_FAILED";
    const what = `event ${envelope.type} ${JSON.stringify(envelope.id)}`;
    if (codeOf === "PAYLOAD_TOO_LARGE") {
      const limit = isEventferryError(cause) ? cause.details?.maxBytes : undefined;
      const maxBytes = typeof limit === "number" ? limit : codecDefaults.maxBytes;
      const mib = maxBytes % 1_048_576 === 0 ? ` (${maxBytes / 1_048_576} MiB)` : "";
      throw new ValidationError(
        `[eventferry] ${what} cannot be published: it is larger than the codec's limit of ${maxBytes} bytes${mib} when encoded; nothing was stored`,
        {
          code: "PAYLOAD_TOO_LARGE",
          issues: [`data: larger than ${maxBytes} bytes when encoded`],
          details: { type: envelope.type, id: envelope.id, maxBytes },
          cause,
        },
      );
    }
    throw new ValidationError(
      `[eventferry] ${what} cannot be published: ${messageOf(cause)}; nothing was stored`,
      {
        issues:
          cause instanceof ValidationError && cause.issues.length > 0
            ? cause.issues
            : ["data: cannot be encoded"],
        details: { type: envelope.type, id: envelope.id },
        cause,
      },
    );
  }
}

/** The events a transport `PublishError` names as failed; all of them when it names none. */
function failedSubset(events: readonly EventEnvelope[], error: unknown): readonly EventEnvelope[] {
  const failedIds = error instanceof PublishError ? new Set(error.failedIds) : undefined;
  if (!failedIds || failedIds.size === 0) return events;
  const subset = events.filter((e) => failedIds.has(e.id));
  return subset.length > 0 ? subset : events;
}

function describeEvents(events: readonly EventEnvelope[]): string {
  if (events.length === 1) {
    const e = events[0] as EventEnvelope;
    return `event ${e.type} ${e.id}`;
  }
  return `${events.length} events`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
