import { hostname } from "node:os";
import {
  type CodecLimits,
  ConfigError,
  compileGlob,
  createConsoleLogger,
  createRegistry,
  type Delivery,
  type Duration,
  decodeEvent,
  type EventData,
  type EventDefinition,
  type EventEnvelope,
  EventferryError,
  type EventRegistry,
  type Handler,
  isEventDefinition,
  isGlobPattern,
  isValidTopic,
  type Logger,
  type Plugin,
  parseDuration,
  type RetryOptions,
  retryPolicy,
  type Subscription,
  type Transport,
  uuidv7,
} from "@eventferry/core";
import type { InboxEntry, InboxRecordInput, Store } from "@eventferry/store";
import type { HandlerOptions } from "./handler-options.js";
import { toAttemptError } from "./internal/attempt-error.js";
import { buildHandler, type RegisteredHandler } from "./internal/registered-handler.js";
import { runEntry } from "./internal/run-entry.js";
import { sleep, Wakeup } from "./internal/wakeup.js";

/** Options of {@link createInbox}. Durations are milliseconds or strings like `"30s"`. */
export interface InboxOptions<TClient = unknown> {
  store: Store<TClient>;
  transport: Transport;
  /** Types known for validation. Unknown types that match only pattern handlers pass untyped. */
  registry?: EventRegistry;
  /** Consumer group: each event is handled once per group. @default "default" */
  group?: string;
  /** Topic consumed. @default "events" */
  topic?: string;
  /** Stable worker name (a transport finds a crashed worker's messages by it). @default `${hostname}-${pid}-${random}` */
  worker?: string;
  /** Handlers running at once. @default 10 */
  concurrency?: number;
  /** Subscribe and claim batch size. @default 100 */
  batchSize?: number;
  /** How long a claim is held before another worker may take the entry over. @default "30s" */
  lease?: Duration;
  /** Fallback polling interval when no wake-up signal arrives. @default "1s" */
  pollInterval?: Duration;
  /** Default retry policy of handlers. @default exponential, 5 attempts, capped at 15 minutes */
  retry?: RetryOptions;
  /** Default handler timeout; must be shorter than the lease. @default "25s" */
  handlerTimeout?: Duration;
  plugins?: readonly Plugin[];
  /** @default a console logger at level "warn" */
  logger?: Logger;
  /** Limits for decoding transport payloads. @default 1 MiB, depth 32 */
  codec?: CodecLimits;
}

/** The Transactional Inbox consumer. */
export interface Inbox<TClient = unknown> {
  /**
   * Registers a handler for a definition (typed) or a glob pattern (`order.*`, `**`).
   * Each handler has its own inbox entry per event: one failing never re-runs another.
   */
  handle<D extends EventDefinition>(
    definition: D,
    handler: Handler<EventData<D>, TClient>,
    options?: HandlerOptions,
  ): Inbox<TClient>;
  handle(pattern: string, handler: Handler<unknown, TClient>, options?: HandlerOptions): Inbox<TClient>;
  /** Subscribes and starts the ingest and dispatch loops. */
  start(): Promise<void>;
  /**
   * Stops fetching, lets in-flight handlers finish (up to `timeout`, then aborts their signals and
   * waits briefly), and closes the subscription. Idempotent. Does not close the store or transport.
   * @default timeout "30s"
   */
  stop(options?: { timeout?: Duration }): Promise<void>;
  /**
   * Resolves when nothing is in flight or being ingested and no entry of this group's handlers is
   * due (delayed and scheduled-retry entries are not waited for). Rejects after `timeout`.
   * @default timeout "30s"
   */
  whenIdle(options?: { timeout?: Duration }): Promise<void>;
  /** Wakes the dispatcher now (e.g. after a local publish). */
  wake(): void;
  readonly running: boolean;
  readonly topic: string;
  readonly group: string;
  readonly worker: string;
  /** The names of the registered handlers. */
  readonly handlerNames: readonly string[];
}

/** Defaults of {@link InboxOptions}. */
export const inboxDefaults = {
  group: "default",
  topic: "events",
  concurrency: 10,
  batchSize: 100,
  leaseMs: 30_000,
  pollIntervalMs: 1_000,
  handlerTimeoutMs: 25_000,
} as const;

const NAME_RE = /^[A-Za-z0-9_.*:-]+$/;

/**
 * Creates the inbox consumer: subscription batch → `inbox.record` (idempotent, one round trip)
 * → ack → claim due entries → handler inside a store transaction together with its completion →
 * on error, retry by policy (the next due time is kept in the store) or dead-letter.
 *
 * @example
 * const inbox = createInbox({ store, transport, group: "billing" });
 * inbox.handle(OrderCreated, async (event, ctx) => { await ctx.tx.query("insert …") });
 * await inbox.start();
 */
export function createInbox<TClient = unknown>(options: InboxOptions<TClient>): Inbox<TClient> {
  const problems: string[] = [];
  const group = options.group ?? inboxDefaults.group;
  const topic = options.topic ?? inboxDefaults.topic;
  const concurrency = options.concurrency ?? inboxDefaults.concurrency;
  const batchSize = options.batchSize ?? inboxDefaults.batchSize;
  if (!options.store) problems.push("store is required");
  if (!options.transport) problems.push("transport is required");
  if (!NAME_RE.test(group) || group.includes("/"))
    problems.push(`group "${group}" must match [A-Za-z0-9_.:-]+`);
  if (!isValidTopic(topic)) problems.push(`topic "${topic}" must be dot-separated segments of [A-Za-z0-9_-]`);
  if (!Number.isInteger(concurrency) || concurrency < 1) problems.push("concurrency must be an integer >= 1");
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    problems.push("batchSize must be an integer in 1..10000");
  const durations: Record<string, number> = {};
  for (const [key, value, fallback] of [
    ["lease", options.lease, inboxDefaults.leaseMs],
    ["pollInterval", options.pollInterval, inboxDefaults.pollIntervalMs],
    ["handlerTimeout", options.handlerTimeout, inboxDefaults.handlerTimeoutMs],
  ] as const) {
    try {
      durations[key] = value === undefined ? fallback : parseDuration(value, key);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  let defaultRetry: ReturnType<typeof retryPolicy> | undefined;
  try {
    defaultRetry = retryPolicy(options.retry);
  } catch (e) {
    problems.push(...((e as ConfigError).problems ?? [(e as Error).message]));
  }
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:inbox] invalid options: ${problems.join("; ")}`, { problems });
  }
  const leaseMs = durations.lease as number;
  const pollIntervalMs = durations.pollInterval as number;
  const handlerTimeoutMs = Math.min(durations.handlerTimeout as number, leaseMs);

  const store = options.store;
  const transport = options.transport;
  const registry = options.registry ?? createRegistry();
  const plugins = options.plugins ?? [];
  const logger = options.logger ?? createConsoleLogger("warn");
  const worker = options.worker ?? `${hostname()}-${process.pid}-${uuidv7().slice(-6)}`;
  const pluginMiddleware = plugins.flatMap((p) => p.middleware ?? []);

  const handlers: RegisteredHandler[] = [];
  const byConsumer = new Map<string, RegisteredHandler>();
  let consumers: string[] = [];

  let running = false;
  let stopping: Promise<void> | undefined;
  let subscription: Subscription | undefined;
  let ingestLoop: Promise<void> | undefined;
  let dispatchLoop: Promise<void> | undefined;
  const loopAbort = new AbortController();
  const wakeup = new Wakeup();
  const slotFreed = new Wakeup();
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let ingesting = 0;
  let activity = 0;
  let nextDueAt = Number.POSITIVE_INFINITY;

  const hook = async <K extends keyof NonNullable<Plugin["hooks"]>>(
    name: K,
    ...args: Parameters<NonNullable<NonNullable<Plugin["hooks"]>[K]>>
  ): Promise<void> => {
    for (const p of plugins) {
      const fn = p.hooks?.[name] as ((...a: unknown[]) => unknown) | undefined;
      if (!fn) continue;
      try {
        await fn.apply(p.hooks, args);
      } catch (e) {
        logger.warn(`plugin "${p.name}" hook ${name} threw`, { error: e });
      }
    }
  };

  function noteDue(atMs: number): void {
    if (atMs < nextDueAt) {
      nextDueAt = atMs;
      wakeup.wake();
    }
  }

  async function ingest(batch: readonly Delivery[]): Promise<void> {
    ingesting++;
    activity++;
    try {
      const records: InboxRecordInput[] = [];
      const rejected: Array<{ raw?: string; event?: EventEnvelope; reason: string; error: unknown }> = [];
      for (const delivery of batch) {
        let event: EventEnvelope;
        try {
          event = decodeEvent(delivery.event.payload, options.codec);
        } catch (error) {
          rejected.push({
            raw: rawText(delivery.event.payload),
            reason: reasonOf(error, "undecodable"),
            error,
          });
          continue;
        }
        let matched = false;
        for (const h of handlers) if (h.matches(event.type)) matched = true;
        if (!matched) continue;
        if (registry.has(event.type)) {
          try {
            event = registry.validate(event);
          } catch (error) {
            rejected.push({ event, reason: reasonOf(error, "invalid data"), error });
            continue;
          }
        } else if (handlers.some((h) => h.definition && h.matches(event.type))) {
          // unreachable: a definition handler registers its type
        }
        if (event.deliverAt) noteDue(Date.parse(event.deliverAt));
        for (const h of handlers) {
          if (h.matches(event.type)) {
            records.push({ consumer: h.consumer, event, maxAttempts: h.policy.maxAttempts });
          }
        }
      }
      if (records.length > 0) await store.inbox.record({ entries: records });
      for (const r of rejected) {
        const error = toAttemptError(r.error);
        await store.deadLetters.add({
          consumer: group,
          ...(r.raw !== undefined ? { raw: r.raw } : {}),
          ...(r.event ? { event: r.event } : {}),
          reason: r.reason,
          error,
        });
        logger.warn(`dead-lettered a message: ${r.reason}`, { group, error: error.message });
        await hook("onDeadLetter", r.event, r.error, { handler: group, attempt: 0, reason: r.reason });
      }
      await subscription?.ackMany(batch);
      if (records.length > 0) wakeup.wake();
    } finally {
      ingesting--;
    }
  }

  async function runIngest(sub: Subscription): Promise<void> {
    let failures = 0;
    try {
      for await (const batch of sub.batches()) {
        try {
          await ingest(batch);
          failures = 0;
        } catch (error) {
          // Nothing acked: the transport redelivers these after its ack timeout.
          failures++;
          logger.error("ingest failed; the batch stays unacknowledged and will be redelivered", {
            error,
            group,
            size: batch.length,
          });
          await sleep(Math.min(100 * 2 ** failures, 5_000), loopAbort.signal);
        }
        if (!running) break;
      }
    } catch (error) {
      if (running) logger.error("subscription ended with an error", { error, group });
    }
  }

  async function runDispatch(): Promise<void> {
    let failures = 0;
    while (running) {
      const free = concurrency - inFlight.size;
      if (free <= 0) {
        await slotFreed.wait(pollIntervalMs, loopAbort.signal);
        continue;
      }
      let entries: InboxEntry[];
      try {
        entries = await store.inbox.claim({
          consumers,
          limit: Math.min(free, batchSize),
          leaseMs,
          worker,
        });
        failures = 0;
      } catch (error) {
        failures++;
        logger.error("claim failed; retrying", { error, group });
        await sleep(Math.min(100 * 2 ** failures, 5_000), loopAbort.signal);
        continue;
      }
      if (!running) {
        if (entries.length > 0) {
          await store.inbox
            .release({ entries: entries.map((e) => ({ id: e.id, leaseToken: e.leaseToken })) })
            .catch((error) => logger.warn("release on stop failed", { error }));
        }
        break;
      }
      if (entries.length === 0) {
        const now = Date.now();
        if (nextDueAt <= now) nextDueAt = Number.POSITIVE_INFINITY;
        const waitMs = Math.max(1, Math.min(pollIntervalMs, nextDueAt - now));
        // Whichever wakes first cancels the other, so no waiter outlives this iteration.
        const round = new AbortController();
        const cancel = () => round.abort();
        loopAbort.signal.addEventListener("abort", cancel, { once: true });
        try {
          await Promise.race([
            wakeup.wait(waitMs, round.signal),
            store.waitForChange({ timeoutMs: waitMs, signal: round.signal }),
          ]);
        } finally {
          loopAbort.signal.removeEventListener("abort", cancel);
          round.abort();
        }
        continue;
      }
      activity++;
      for (const entry of entries) start(entry);
    }
  }

  function start(entry: InboxEntry): void {
    const handler = byConsumer.get(entry.consumer);
    const controller = new AbortController();
    const done = (async () => {
      try {
        if (!handler) {
          await store.inbox.release({ entries: [{ id: entry.id, leaseToken: entry.leaseToken }] });
          return;
        }
        const outcome = await runEntry({
          entry,
          handler,
          store,
          topic,
          group,
          logger,
          signal: controller.signal,
          hook,
          wakeRelay: () => wakeup.wake(),
        });
        if (outcome.kind === "retry") noteDue(outcome.nextAt.getTime());
      } catch (error) {
        logger.error("inbox entry could not be settled; its lease will expire and it will be retried", {
          error,
          entry: entry.id,
        });
      } finally {
        inFlight.delete(entry.id);
        activity++;
        slotFreed.wake();
      }
    })();
    inFlight.set(entry.id, { controller, done });
  }

  const inbox: Inbox<TClient> = {
    handle(
      target: EventDefinition | string,
      fn: Handler<never, TClient>,
      handlerOptions: HandlerOptions = {},
    ) {
      if (running) throw new ConfigError("[eventferry:inbox] register handlers before start()");
      let definition: EventDefinition | undefined;
      let pattern: string;
      if (isEventDefinition(target)) {
        definition = target;
        pattern = target.type;
        if (!registry.has(target.type)) registry.register(target);
      } else if (typeof target === "string") {
        pattern = target;
      } else {
        throw new ConfigError("[eventferry:inbox] handle() takes an event definition or a glob pattern");
      }
      if (typeof fn !== "function") throw new ConfigError("[eventferry:inbox] handler must be a function");
      const name = handlerOptions.name ?? pattern;
      if (!NAME_RE.test(name))
        throw new ConfigError(`[eventferry:inbox] handler name "${name}" must match [A-Za-z0-9_.*:-]+`);
      const consumer = `${group}/${name}`;
      if (byConsumer.has(consumer)) {
        throw new ConfigError(
          `[eventferry:inbox] a handler named "${name}" is already registered in group "${group}"; pass { name } to tell them apart`,
        );
      }
      const matches = isGlobPattern(pattern) ? compileGlob(pattern) : (type: string) => type === pattern;
      if (!isGlobPattern(pattern)) compileGlob(pattern); // validates the name
      const registered = buildHandler({
        name,
        consumer,
        definition,
        matches,
        fn: fn as Handler<unknown, unknown>,
        options: handlerOptions,
        defaultRetry: defaultRetry!,
        defaultTimeoutMs: handlerTimeoutMs,
        pluginMiddleware,
      });
      handlers.push(registered);
      byConsumer.set(consumer, registered);
      consumers = handlers.map((h) => h.consumer);
      return inbox;
    },

    async start() {
      if (running) return;
      if (stopping)
        throw new EventferryError("CLOSED", "[eventferry:inbox] a stopped inbox cannot be restarted");
      if (handlers.length === 0) logger.warn("inbox started with no handlers", { group });
      running = true;
      subscription = await transport.subscribe(topic, {
        group,
        consumer: worker,
        batchSize,
        ackTimeoutMs: leaseMs,
        signal: loopAbort.signal,
      });
      ingestLoop = runIngest(subscription);
      dispatchLoop = runDispatch();
    },

    stop(stopOptions = {}) {
      if (stopping) return stopping;
      stopping = (async () => {
        const wasRunning = running;
        running = false;
        const timeoutMs =
          stopOptions.timeout === undefined ? 30_000 : parseDuration(stopOptions.timeout, "timeout");
        wakeup.wake();
        slotFreed.wake();
        loopAbort.abort();
        if (!wasRunning) return;
        await subscription
          ?.close()
          .catch((error) => logger.warn("closing the subscription failed", { error }));
        await Promise.allSettled([ingestLoop, dispatchLoop]);
        const drained = await waitAll(
          [...inFlight.values()].map((f) => f.done),
          timeoutMs,
        );
        if (!drained) {
          logger.warn(`handlers still running after ${timeoutMs} ms; aborting them`, {
            count: inFlight.size,
          });
          for (const f of inFlight.values())
            f.controller.abort(new EventferryError("ABORTED", "inbox stopping"));
          await waitAll(
            [...inFlight.values()].map((f) => f.done),
            5_000,
          );
        }
      })();
      return stopping;
    },

    async whenIdle(idleOptions = {}) {
      const timeoutMs =
        idleOptions.timeout === undefined ? 30_000 : parseDuration(idleOptions.timeout, "timeout");
      const deadline = Date.now() + timeoutMs;
      let quietSince = -1;
      let seen = -1;
      while (Date.now() < deadline) {
        if (inFlight.size === 0 && ingesting === 0) {
          const stats = await store.inbox.stats({ consumers });
          const due = stats.pending - stats.scheduled + stats.inFlight;
          if (due === 0 && seen === activity) {
            if (quietSince < 0) quietSince = Date.now();
            if (Date.now() - quietSince >= 30) return;
          } else {
            quietSince = -1;
          }
          seen = activity;
        } else {
          quietSince = -1;
        }
        await sleep(10);
      }
      throw new EventferryError("ABORTED", `[eventferry:inbox] not idle after ${timeoutMs} ms`, {
        details: { inFlight: inFlight.size, ingesting },
      });
    },

    wake() {
      wakeup.wake();
    },

    get running() {
      return running;
    },
    topic,
    group,
    worker,
    get handlerNames() {
      return handlers.map((h) => h.name);
    },
  };
  return inbox;
}

function rawText(payload: string | Readonly<Record<string, string>>): string {
  if (typeof payload === "string") return payload;
  try {
    return JSON.stringify(payload);
  } catch {
    return String(payload);
  }
}

function reasonOf(error: unknown, fallback: string): string {
  if (error instanceof EventferryError) return `${error.code}: ${error.message}`;
  return fallback;
}

async function waitAll(promises: readonly Promise<unknown>[], timeoutMs: number): Promise<boolean> {
  if (promises.length === 0) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([Promise.allSettled(promises).then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
