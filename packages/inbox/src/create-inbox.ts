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
import { toAttemptError } from "@eventferry/store";
import { type BatchHandler, type BatchHandlerOptions, batchHandlerDefaults } from "./batch-handler.js";
import type { HandlerOptions } from "./handler-options.js";
import { AdmissionLanes } from "./internal/admission.js";
import { DueTimes } from "./internal/due-times.js";
import { ProcessedTracker } from "./internal/processed-tracker.js";
import {
  attemptSignal,
  buildBatchHandler,
  buildHandler,
  type RegisteredHandler,
} from "./internal/registered-handler.js";
import { runBatch } from "./internal/run-batch.js";
import { type EntryOutcome, runEntry } from "./internal/run-entry.js";
import { sleep, Wakeup } from "./internal/wakeup.js";
import { type ProcessedResult, type WhenProcessedOptions, WhenProcessedTimeoutError } from "./processed.js";

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
  /**
   * How long completed entries are kept before the inbox deletes them (checked every minute, in
   * passes of 10,000 rows). While kept, an entry deduplicates redeliveries of its event; keep it
   * well above how late your transport may redeliver. `false` keeps them forever.
   * @default "7d"
   */
  retention?: Duration | false;
  plugins?: readonly Plugin[];
  /** @default a console logger at level "warn" */
  logger?: Logger;
  /** Limits for decoding transport payloads. @default 1 MiB, depth 32 */
  codec?: CodecLimits;
  /**
   * Handle due events in the transaction that records them, where the store offers it
   * (`tx.admission`: SQLite, PostgreSQL): one write per event instead of an insert, a claim and an
   * update. Handlers then run in up to `lanes` transactions at once (a key always in the same
   * lane, so its events run in order, one at a time; keyless events fill one lane before spilling
   * to the next, so light load makes fewer, larger transactions); each lane takes everything queued to it, up to
   * `maxChunk` entries, into one transaction. The dispatcher handles what could not run at once
   * (delayed events, keys with unfinished entries, retries). Handlers that wait on slow I/O want
   * more lanes (or `false`, one transaction per handler run, `concurrency` at once).
   * @default true — lanes min(concurrency, 4), maxChunk 500
   */
  admission?: boolean | { lanes?: number; maxChunk?: number };
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
  /**
   * Registers a batch handler: it gets up to `maxSize` events at once — waiting at most `maxWait`
   * for more when fewer are due — inside one store transaction whose commit completes all of them.
   * A failure fails each event's attempt by the policy (retried or dead-lettered by its own count).
   * Its events skip the admission path (they are recorded pending and claimed in batches); per key
   * a batch holds at most one event, so a key's events still run in order. Handler middleware and
   * plugins' middleware do not apply (they wrap one event); plugins' hooks fire per event.
   *
   * @example
   * inbox.handleBatch(OrderCreated, async (events, ctx) => {
   *   await ctx.tx.query("insert into invoices select * from unnest($1::text[])", [events.map((e) => e.data.orderId)]);
   * }, { maxSize: 500, maxWait: "50ms" });
   */
  handleBatch<D extends EventDefinition>(
    definition: D,
    handler: BatchHandler<EventData<D>, TClient>,
    options?: BatchHandlerOptions,
  ): Inbox<TClient>;
  handleBatch(
    pattern: string,
    handler: BatchHandler<unknown, TClient>,
    options?: BatchHandlerOptions,
  ): Inbox<TClient>;
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
  /**
   * Resolves when every handler of this group that matches the event (or only `handler`) has
   * finished it in this process — completed, or dead-lettered — also when that happened before
   * the call (the inbox remembers the outcomes of its last 10 000 events). Works on both the
   * admission and the claim path and for batch handlers. Rejects with a
   * {@link WhenProcessedTimeoutError} after `timeout`; an unknown `handler` name, or an inbox
   * without handlers, is a `ConfigError`.
   *
   * Meant for tests and demos: an event handled by another process of the group (or before a
   * restart) is not seen here, and the call times out.
   * @default timeout "30s"
   *
   * @example
   * const id = await ferry.publish(OrderCreated, data);
   * const { ok, handlers } = await inbox.whenProcessed(id, { timeout: "5s" });
   */
  whenProcessed(eventId: string, options?: WhenProcessedOptions): Promise<ProcessedResult>;
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
  retentionMs: 7 * 24 * 3_600_000,
  pruneIntervalMs: 60_000,
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
  if (typeof options.admission === "object" && options.admission !== null) {
    const { lanes: l, maxChunk: m } = options.admission;
    if (l !== undefined && (!Number.isInteger(l) || l < 1 || l > 256))
      problems.push("admission.lanes must be an integer in 1..256");
    if (m !== undefined && (!Number.isInteger(m) || m < 1 || m > 10_000))
      problems.push("admission.maxChunk must be an integer in 1..10000");
  }
  const durations: Record<string, number> = {};
  for (const [key, value, fallback] of [
    ["lease", options.lease, inboxDefaults.leaseMs],
    ["pollInterval", options.pollInterval, inboxDefaults.pollIntervalMs],
    ["handlerTimeout", options.handlerTimeout, inboxDefaults.handlerTimeoutMs],
    ["retention", options.retention === false ? undefined : options.retention, inboxDefaults.retentionMs],
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
  let useAdmission = options.admission !== false;
  const admissionSettings = typeof options.admission === "object" ? options.admission : {};
  const lanes = admissionSettings.lanes ?? Math.min(concurrency, 4);
  const maxChunk = admissionSettings.maxChunk ?? 500;
  let admissionLanes: AdmissionLanes | undefined;

  const handlers: RegisteredHandler[] = [];
  const byConsumer = new Map<string, RegisteredHandler>();
  let consumers: string[] = [];
  /** Consumers of one-event handlers: the claim loop's (batch handlers have their own loops). */
  let singleConsumers: string[] = [];
  /** Per batch handler: its wake-up, its loop, and its earliest known retry time. */
  const batchLoops = new Map<RegisteredHandler, { wakeup: Wakeup; loop?: Promise<void>; due: DueTimes }>();
  const tracker = new ProcessedTracker({
    capacity: 20_000, // remembers the last 10,000–20,000 events (two generations)
    expected: (type) => handlers.filter((h) => h.matches(type)).map((h) => h.name),
  });
  const settle = (event: EventEnvelope, handler: string, outcome: EntryOutcome): void => {
    if (outcome.kind === "completed" || outcome.kind === "dead-lettered")
      tracker.note(event.id, event.type, handler, outcome.kind);
  };
  const wakeBatches = (): void => {
    for (const b of batchLoops.values()) b.wakeup.wake();
  };

  let running = false;
  let stopping: Promise<void> | undefined;
  let subscription: Subscription | undefined;
  let ingestLoop: Promise<void> | undefined;
  let dispatchLoop: Promise<void> | undefined;
  const loopAbort = new AbortController();
  const wakeup = new Wakeup();
  const slotFreed = new Wakeup();
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Entries started by the dispatcher (claimed), a subset of `inFlight`. */
  const claimedInFlight = new Set<string>();
  let ingesting = 0;
  let activity = 0;
  /** Due times of entries the dispatcher will claim (retries, delayed events): it wakes for them. */
  const dueTimes = new DueTimes();
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning = false;

  const hookNames = new Set(plugins.flatMap((p) => Object.keys(p.hooks ?? {}))) as Set<
    keyof NonNullable<Plugin["hooks"]>
  >;
  const hook = async <K extends keyof NonNullable<Plugin["hooks"]>>(
    name: K,
    ...args: Parameters<NonNullable<NonNullable<Plugin["hooks"]>[K]>>
  ): Promise<void> => {
    for (const p of plugins) {
      const fn = p.hooks?.[name] as ((...a: unknown[]) => unknown) | undefined;
      if (!fn) continue;
      try {
        // Await only what is awaitable: a synchronous hook costs no microtask per event.
        const result = fn.apply(p.hooks, args);
        if (
          result !== null &&
          typeof result === "object" &&
          typeof (result as Promise<unknown>).then === "function"
        )
          await result;
      } catch (e) {
        logger.warn(`plugin "${p.name}" hook ${name} threw`, { error: e });
      }
    }
  };

  /** An entry of a one-event handler becomes due at `atMs` (a retry, a delayed event): the dispatcher wakes then. */
  function noteDue(atMs: number): void {
    if (dueTimes.add(atMs)) wakeup.wake();
  }

  /** An entry of handler `h` becomes due at `atMs`: its loop (a batch handler's own, or the dispatcher) wakes then. */
  function noteDueFor(h: RegisteredHandler, atMs: number): void {
    const loop = h.batch ? batchLoops.get(h) : undefined;
    if (loop === undefined) noteDue(atMs);
    else if (loop.due.add(atMs)) loop.wakeup.wake();
  }

  async function ingest(batch: readonly Delivery[]): Promise<void> {
    ingesting++;
    activity++;
    try {
      const records: InboxRecordInput[] = [];
      let forDispatcher = false;
      // Redeliveries skip the single-write path: if an event crashed the process while it ran
      // there, nothing was recorded, and only the claim path counts its attempts to a dead letter.
      const redelivered = new Set<InboxRecordInput>();
      /** Batch handlers' entries: recorded pending (never admitted), claimed in batches. */
      const batched: InboxRecordInput[] = [];
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
        const deliverMs = event.deliverAt ? Date.parse(event.deliverAt) : undefined;
        for (const h of handlers) {
          if (h.matches(event.type)) {
            if (deliverMs !== undefined) noteDueFor(h, deliverMs);
            const input = { consumer: h.consumer, event, maxAttempts: h.policy.maxAttempts };
            if (h.batch && admissionLanes) {
              batched.push(input);
              continue;
            }
            records.push(input);
            if (delivery.attempt > 1) redelivered.add(input);
          }
        }
      }
      if (records.length > 0 || batched.length > 0) {
        // submit() queues synchronously: batches keep their order per key.
        const [leftPending] = await Promise.all([
          records.length === 0
            ? false
            : admissionLanes
              ? admissionLanes.submit(records, redelivered)
              : store.inbox.record({ entries: records }).then(() => true),
          batched.length === 0 ? undefined : store.inbox.record({ entries: batched }),
        ]);
        // The dispatcher claims only when something was left for it: entries that ran at
        // admission need no claim (a claim per ingested batch would be one more statement each).
        forDispatcher = leftPending;
      }
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
        if (r.event) {
          for (const h of handlers) {
            if (h.matches(r.event.type)) tracker.note(r.event.id, r.event.type, h.name, "dead-lettered");
          }
        }
      }
      await subscription?.ackMany(batch);
      if (forDispatcher) wakeup.wake();
      if (batched.length > 0 || (!admissionLanes && records.length > 0)) wakeBatches();
    } finally {
      ingesting--;
    }
  }

  /** Deletes completed entries older than the retention, in passes of 10,000 (at most 10 per run). */
  async function prune(): Promise<void> {
    if (pruning || !running) return;
    pruning = true;
    try {
      for (let pass = 0; pass < 10 && running; pass++) {
        const deleted = await store.inbox.prune({
          olderThanMs: durations.retention as number,
          limit: 10_000,
        });
        if (deleted < 10_000) break;
      }
    } catch (error) {
      logger.warn("pruning completed inbox entries failed; will try again", { error, group });
    } finally {
      pruning = false;
    }
  }

  async function runIngest(sub: Subscription): Promise<void> {
    let failures = 0;
    // With admission, several batches are in the lanes at once (acked as each commits).
    const maxOutstanding = admissionLanes ? 4 : 1;
    const outstanding = new Set<Promise<void>>();
    try {
      for await (const batch of sub.batches()) {
        const task: Promise<void> = ingest(batch).then(
          () => {
            failures = 0;
          },
          async (error: unknown) => {
            // Nothing acked: the transport redelivers these after its ack timeout.
            failures++;
            logger.error("ingest failed; the batch stays unacknowledged and will be redelivered", {
              error,
              group,
              size: batch.length,
            });
            await sleep(Math.min(100 * 2 ** failures, 5_000), loopAbort.signal);
          },
        );
        outstanding.add(task);
        void task.finally(() => outstanding.delete(task));
        while (outstanding.size >= maxOutstanding) await Promise.race(outstanding);
        if (!running) break;
      }
    } catch (error) {
      if (running) logger.error("subscription ended with an error", { error, group });
    }
    await Promise.allSettled(outstanding);
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
        const startedAt = Date.now();
        entries = await store.inbox.claim({
          consumers: singleConsumers,
          limit: Math.min(free, batchSize),
          leaseMs,
          worker,
        });
        dueTimes.claimed(startedAt);
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
        const waitMs = dueTimes.waitMs(Date.now(), pollIntervalMs);
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
      if (entries.some((e) => e.lastAttemptExpired === true)) {
        await runSuspect(entries);
        continue;
      }
      for (const entry of entries) start(entry);
    }
  }

  /**
   * An entry whose last attempt ended by lease expiry may be what crashed a worker: it runs
   * alone among the claimed entries, and the rest of the claim — other suspects included — is
   * given back (no attempt used) to be claimed again. So an event that kills the process uses
   * only its own attempts, never those of events claimed beside it.
   */
  async function runSuspect(entries: readonly InboxEntry[]): Promise<void> {
    const suspect = entries.find((e) => e.lastAttemptExpired === true) as InboxEntry;
    const giveBack = async (list: readonly InboxEntry[]) => {
      if (list.length === 0) return;
      await store.inbox
        .release({ entries: list.map((e) => ({ id: e.id, leaseToken: e.leaseToken })) })
        .catch((error) => logger.warn("release failed; the leases will expire", { error }));
    };
    await giveBack(entries.filter((e) => e !== suspect));
    while (claimedInFlight.size > 0 && running) await slotFreed.wait(pollIntervalMs, loopAbort.signal);
    if (!running) {
      await giveBack([suspect]);
      return;
    }
    logger.warn(
      "running alone an entry whose last attempt's lease expired (its worker may have crashed on it)",
      {
        entry: suspect.id,
        type: suspect.event.type,
        attempt: suspect.attempt,
      },
    );
    start(suspect);
    await inFlight.get(suspect.id)?.done;
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
          signal: attemptSignal(controller),
          hook,
          wakeRelay: () => wakeup.wake(),
        });
        if (outcome.kind === "retry") noteDue(outcome.nextAt.getTime());
        settle(entry.event, handler.name, outcome);
      } catch (error) {
        logger.error("inbox entry could not be settled; its lease will expire and it will be retried", {
          error,
          entry: entry.id,
        });
      } finally {
        inFlight.delete(entry.id);
        activity++;
        slotFreed.wake();
        // Its key's next entry may be claimable now: claim again rather than at the next poll.
        if (entry.event.key !== undefined && entry.event.key !== null) wakeup.wake();
      }
    })();
    inFlight.set(entry.id, { controller, done });
    claimedInFlight.add(entry.id);
    void done.finally(() => claimedInFlight.delete(entry.id));
  }

  /** Waits for a wake-up (ingest, retry, `wake()`), a store change, `ms`, or stop — whichever first. */
  async function waitForWork(own: Wakeup, ms: number): Promise<void> {
    const round = new AbortController();
    const cancel = () => round.abort();
    loopAbort.signal.addEventListener("abort", cancel, { once: true });
    try {
      await Promise.race([
        own.wait(ms, round.signal),
        store.waitForChange({ timeoutMs: ms, signal: round.signal }),
      ]);
    } finally {
      loopAbort.signal.removeEventListener("abort", cancel);
      round.abort();
    }
  }

  async function claimFor(h: RegisteredHandler, limit: number): Promise<InboxEntry[]> {
    return store.inbox.claim({ consumers: [h.consumer], limit, leaseMs, worker });
  }

  async function releaseAll(entries: readonly InboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await store.inbox
      .release({ entries: entries.map((e) => ({ id: e.id, leaseToken: e.leaseToken })) })
      .catch((error) => logger.warn("release failed; the leases will expire", { error }));
  }

  /**
   * One batch handler's loop: claim up to `maxSize` of its entries; while fewer are claimed, wait
   * up to `maxWait` (from the first claim) for more; run them as one batch. One batch at a time
   * per handler; a running batch takes one of the `concurrency` slots.
   */
  async function runBatchLoop(h: RegisteredHandler, own: Wakeup): Promise<void> {
    const batch = h.batch;
    if (!batch) return;
    let failures = 0;
    while (running) {
      if (inFlight.size >= concurrency) {
        await slotFreed.wait(pollIntervalMs, loopAbort.signal);
        continue;
      }
      let entries: InboxEntry[];
      try {
        const startedAt = Date.now();
        entries = await claimFor(h, batch.maxSize);
        batchLoops.get(h)?.due.claimed(startedAt);
        failures = 0;
      } catch (error) {
        failures++;
        logger.error("claim failed; retrying", { error, group, handler: h.name });
        await sleep(Math.min(100 * 2 ** failures, 5_000), loopAbort.signal);
        continue;
      }
      if (entries.length === 0) {
        const waitMs = batchLoops.get(h)?.due.waitMs(Date.now(), pollIntervalMs) ?? pollIntervalMs;
        if (running) await waitForWork(own, waitMs);
        continue;
      }
      const deadline = Date.now() + batch.maxWaitMs;
      while (running && entries.length < batch.maxSize && Date.now() < deadline) {
        await waitForWork(own, Math.max(1, deadline - Date.now()));
        if (!running) break;
        try {
          entries = entries.concat(await claimFor(h, batch.maxSize - entries.length));
        } catch (error) {
          logger.warn("claim for more of a batch failed; running what is claimed", {
            error,
            handler: h.name,
          });
          break;
        }
      }
      if (!running) {
        await releaseAll(entries);
        break;
      }
      // An entry whose last attempt's lease expired may have crashed a worker: it runs alone, so
      // it uses only its own attempts; the others are given back unused.
      const suspect = entries.find((e) => e.lastAttemptExpired === true);
      if (suspect) {
        await releaseAll(entries.filter((e) => e !== suspect));
        entries = [suspect];
      }
      activity++;
      await runClaimedBatch(h, entries);
    }
  }

  async function runClaimedBatch(h: RegisteredHandler, entries: InboxEntry[]): Promise<void> {
    const controller = new AbortController();
    const id = `batch:${h.consumer}:${(entries[0] as InboxEntry).id}`;
    const done = (async () => {
      try {
        const outcomes = await runBatch({
          entries,
          handler: h,
          store,
          topic,
          group,
          logger,
          signal: attemptSignal(controller),
          hook,
          wakeRelay: () => wakeup.wake(),
        });
        outcomes.forEach((outcome, i) => {
          const entry = entries[i] as InboxEntry;
          if (outcome.kind === "retry") batchLoops.get(h)?.due.add(outcome.nextAt.getTime());
          settle(entry.event, h.name, outcome);
        });
      } catch (error) {
        logger.error("a batch could not be settled; its leases will expire and it will be retried", {
          error,
          handler: h.name,
          size: entries.length,
        });
      } finally {
        inFlight.delete(id);
        activity++;
        slotFreed.wake();
      }
    })();
    inFlight.set(id, { controller, done });
    await done;
  }

  /** The definition (registered for validation) or glob pattern of a `handle`/`handleBatch` call. */
  function resolveTarget(
    method: string,
    target: EventDefinition | string,
    name: string | undefined,
  ): {
    definition: EventDefinition | undefined;
    name: string;
    consumer: string;
    matches: (t: string) => boolean;
  } {
    if (running) throw new ConfigError("[eventferry:inbox] register handlers before start()");
    let definition: EventDefinition | undefined;
    let pattern: string;
    if (isEventDefinition(target)) {
      definition = target;
      pattern = target.type;
    } else if (typeof target === "string") {
      pattern = target;
    } else {
      throw new ConfigError(`[eventferry:inbox] ${method}() takes an event definition or a glob pattern`);
    }
    const handlerName = name ?? pattern;
    if (!NAME_RE.test(handlerName))
      throw new ConfigError(`[eventferry:inbox] handler name "${handlerName}" must match [A-Za-z0-9_.*:-]+`);
    const consumer = `${group}/${handlerName}`;
    if (byConsumer.has(consumer)) {
      throw new ConfigError(
        `[eventferry:inbox] a handler named "${handlerName}" is already registered in group "${group}"; pass { name } to tell them apart`,
      );
    }
    const matches = isGlobPattern(pattern) ? compileGlob(pattern) : (type: string) => type === pattern;
    if (!isGlobPattern(pattern)) compileGlob(pattern); // validates the name
    if (definition && !registry.has(definition.type)) registry.register(definition);
    return { definition, name: handlerName, consumer, matches };
  }

  function register(registered: RegisteredHandler): void {
    handlers.push(registered);
    byConsumer.set(registered.consumer, registered);
    consumers = handlers.map((h) => h.consumer);
    singleConsumers = handlers.filter((h) => !h.batch).map((h) => h.consumer);
  }

  const inbox: Inbox<TClient> = {
    handle(
      target: EventDefinition | string,
      fn: Handler<never, TClient>,
      handlerOptions: HandlerOptions = {},
    ) {
      const t = resolveTarget("handle", target, handlerOptions.name);
      if (typeof fn !== "function") throw new ConfigError("[eventferry:inbox] handler must be a function");
      register(
        buildHandler({
          ...t,
          fn: fn as Handler<unknown, unknown>,
          options: handlerOptions,
          defaultRetry: defaultRetry!,
          defaultTimeoutMs: handlerTimeoutMs,
          pluginMiddleware,
        }),
      );
      return inbox;
    },

    handleBatch(
      target: EventDefinition | string,
      fn: BatchHandler<never, TClient>,
      batchOptions: BatchHandlerOptions = {},
    ) {
      const t = resolveTarget("handleBatch", target, batchOptions.name);
      if (typeof fn !== "function") throw new ConfigError("[eventferry:inbox] handler must be a function");
      const problems: string[] = [];
      const maxSize = batchOptions.maxSize ?? batchHandlerDefaults.maxSize;
      if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 10_000)
        problems.push("maxSize must be an integer in 1..10000");
      let maxWaitMs: number = batchHandlerDefaults.maxWaitMs;
      let timeoutMs = handlerTimeoutMs;
      try {
        if (batchOptions.maxWait !== undefined) maxWaitMs = parseDuration(batchOptions.maxWait, "maxWait");
        if (batchOptions.timeout !== undefined) timeoutMs = parseDuration(batchOptions.timeout, "timeout");
      } catch (e) {
        problems.push((e as Error).message);
      }
      if (maxWaitMs >= leaseMs)
        problems.push(`maxWait (${maxWaitMs} ms) must be shorter than the lease (${leaseMs} ms)`);
      let retry = batchOptions.retry;
      try {
        if (retry !== undefined && retry !== false) retryPolicy(retry);
      } catch (e) {
        problems.push(...((e as ConfigError).problems ?? [(e as Error).message]));
        retry = undefined;
      }
      if (problems.length > 0) {
        throw new ConfigError(`[eventferry:inbox] invalid handleBatch() options: ${problems.join("; ")}`, {
          problems,
        });
      }
      register(
        buildBatchHandler({
          ...t,
          fn: fn as BatchHandler,
          retry,
          // The first entry's lease runs while the batch fills up: the handler gets what is left.
          timeoutMs: Math.min(timeoutMs, leaseMs - maxWaitMs),
          maxSize,
          maxWaitMs,
          defaultRetry: defaultRetry!,
        }),
      );
      return inbox;
    },

    async start() {
      if (running) return;
      if (stopping)
        throw new EventferryError("CLOSED", "[eventferry:inbox] a stopped inbox cannot be restarted");
      if (handlers.length === 0) logger.warn("inbox started with no handlers", { group });
      if (useAdmission) {
        useAdmission = await store.transaction(async (tx) => tx.admission !== undefined);
      }
      if (useAdmission) {
        admissionLanes = new AdmissionLanes({
          store,
          byConsumer,
          lanes,
          maxChunk,
          topic,
          group,
          logger,
          hook,
          hasHook: (name) => hookNames.has(name),
          isRunning: () => running,
          track: (id, run) => {
            inFlight.set(id, run);
            return () => {
              inFlight.delete(id);
              activity++;
              slotFreed.wake();
            };
          },
          wakeRelay: () => wakeup.wake(),
          noteDue,
          settled: (event, handler, status) => tracker.note(event.id, event.type, handler, status),
        });
      }
      running = true;
      subscription = await transport.subscribe(topic, {
        group,
        consumer: worker,
        batchSize,
        ackTimeoutMs: leaseMs,
        signal: loopAbort.signal,
      });
      ingestLoop = runIngest(subscription);
      if (singleConsumers.length > 0) dispatchLoop = runDispatch();
      if (options.retention !== false) {
        pruneTimer = setInterval(() => void prune(), inboxDefaults.pruneIntervalMs);
        pruneTimer.unref?.();
        void prune();
      }
      for (const h of handlers) {
        if (!h.batch) continue;
        const own = new Wakeup();
        const state: { wakeup: Wakeup; loop?: Promise<void>; due: DueTimes } = {
          wakeup: own,
          due: new DueTimes(),
        };
        batchLoops.set(h, state);
        state.loop = runBatchLoop(h, own);
      }
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
        if (pruneTimer) clearInterval(pruneTimer);
        if (!wasRunning) return;
        await subscription
          ?.close()
          .catch((error) => logger.warn("closing the subscription failed", { error }));
        // Batch loops are awaited after the drain: each waits for its running batch.
        await Promise.allSettled([dispatchLoop]);
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
        if (
          !(await waitAll(
            [...batchLoops.values()].map((b) => b.loop ?? Promise.resolve()),
            5_000,
          ))
        ) {
          logger.warn("a batch loop did not finish within 5 s of stopping", { group });
        }
        if (!(await waitAll([ingestLoop ?? Promise.resolve()], 5_000))) {
          logger.warn("the ingest loop did not finish within 5 s of stopping", { group });
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

    whenProcessed(eventId, processedOptions = {}) {
      let timeoutMs: number;
      try {
        timeoutMs =
          processedOptions.timeout === undefined
            ? 30_000
            : parseDuration(processedOptions.timeout, "timeout");
      } catch (error) {
        return Promise.reject(error);
      }
      const only = processedOptions.handler;
      if (typeof eventId !== "string" || eventId.length === 0) {
        return Promise.reject(new ConfigError("[eventferry:inbox] whenProcessed() takes an event id"));
      }
      if (handlers.length === 0) {
        return Promise.reject(
          new ConfigError(
            `[eventferry:inbox] whenProcessed(): no handlers are registered in group "${group}"`,
          ),
        );
      }
      if (only !== undefined && !handlers.some((h) => h.name === only)) {
        return Promise.reject(
          new ConfigError(`[eventferry:inbox] no handler named "${only}" in group "${group}"`, {
            problems: [`unknown handler "${only}"`],
          }),
        );
      }
      const known = tracker.result(eventId, only);
      if (known) return Promise.resolve(known);
      return new Promise<ProcessedResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          stopWaiting();
          reject(new WhenProcessedTimeoutError(eventId, timeoutMs, tracker.finished(eventId)));
        }, timeoutMs);
        const stopWaiting = tracker.wait(eventId, only, (result) => {
          clearTimeout(timer);
          resolve(result);
        });
      });
    },

    wake() {
      wakeup.wake();
      wakeBatches();
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
