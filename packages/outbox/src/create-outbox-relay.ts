import {
  ConfigError,
  createConsoleLogger,
  type Duration,
  type EncodedEvent,
  EventferryError,
  encodeEvent,
  type Logger,
  parseDuration,
  type Transport,
  tryParseDuration,
} from "@eventferry/core";
import { type OutboxEntry, type Store, toAttemptError } from "@eventferry/store";

/** Options of {@link createOutboxRelay}. */
export interface OutboxRelayOptions {
  store: Store;
  transport: Transport;
  /** Rows claimed and published per round. @default 100 */
  batchSize?: number;
  /**
   * Rounds in flight at once: while one round's publish waits for the transport's acks, another
   * claims and publishes the next rows (they are leased apart, as with several relays). Per-key
   * order holds at any value (the store never hands out a row while an earlier one of its key is
   * unpublished); rows without a key keep the order they were added in only with 1. About 20%
   * more throughput with 2 against a broker that acks slowly (NATS, Redis). @default 1
   */
  concurrency?: number;
  /**
   * How long a claimed row is held before another relay may take it over: its lease, or on a
   * store with held claims (PostgreSQL) how long a round may sit between two statements — a
   * publish that hangs, a paused process — before the server ends its transaction and releases
   * the rows. @default "30s"
   */
  lease?: Duration;
  /** Fallback polling interval when no wake-up signal arrives. @default "1s" */
  pollInterval?: Duration;
  /**
   * How long published rows are kept before a started relay deletes them
   * (`store.outbox.cleanup({ olderThanMs })`, store clock); `false` keeps them forever. Unpublished
   * rows are never deleted. With `0` on a store with held claims (PostgreSQL) a row is deleted
   * when it is marked, in the round's transaction — cheaper than keeping it. @default "1h"
   */
  retention?: Duration | false;
  /** How often a started relay runs that cleanup (once right after `start()`, then every interval). @default "1m" */
  cleanupInterval?: Duration;
  /** @default a console logger at level "warn" */
  logger?: Logger;
}

/** Carries outbox rows to the transport. Several relays may run against one store at once. */
export interface OutboxRelay {
  /** Starts relaying in the background. Idempotent; may follow `stop()`. */
  start(): void;
  /** Finishes the round in progress (interrupting a wait or back-off) and stops. Idempotent. */
  stop(): Promise<void>;
  /** Wakes the relay now (after a local commit that added rows). */
  wake(): void;
  /**
   * Resolves when the outbox has no unpublished rows: a started relay is woken and awaited, a
   * stopped one relays them itself (rejecting with the transport's error when a publish fails).
   * Rejects with an `EventferryError` of code `ABORTED` after `timeout` (@default "30s").
   */
  flush(options?: { timeout?: Duration }): Promise<void>;
  /**
   * Deletes published rows older than `retention` now (what a started relay does every
   * `cleanupInterval`); resolves with how many were deleted (0 when `retention` is `false`).
   */
  cleanup(): Promise<number>;
  readonly running: boolean;
}

/** The dead-letter `consumer` of a row the relay cannot encode: this prefix and the row's topic. */
const outboxDeadLetterPrefix = "outbox:";

/** Defaults of {@link OutboxRelayOptions}. */
export const outboxRelayDefaults = {
  batchSize: 100,
  concurrency: 1,
  leaseMs: 30_000,
  pollIntervalMs: 1_000,
  retentionMs: 3_600_000,
  cleanupIntervalMs: 60_000,
} as const;

/**
 * Creates the outbox relay: claims unpublished rows in batches (so several relays never publish
 * the same row at once; per-key order kept by the store), publishes them to the transport one
 * batch per topic, and marks them published (per topic, right after its publish). On PostgreSQL
 * a round holds its rows with row locks in one transaction while it publishes them
 * (`store.outbox.claimHeld`: one write per row, the mark); on other stores it leases them
 * (`claim`, then `markPublished`). A crash between publish and mark re-publishes the rows (at
 * once when the crash ends the transaction, after the lease otherwise): consumers dedupe by event
 * id, so the effect stays single.
 *
 * When the transport (or the store) fails, the round's rows stay unpublished: the relay logs the
 * error, backs off (200 ms doubling up to 5 s) and tries again — held rows are released at once
 * and claimed afresh; leased rows are published again while the relay still holds their lease,
 * and claimed afresh once it ran out. `stop()` interrupts the back-off. Throws a `ConfigError`
 * listing every invalid option.
 *
 * A row whose event cannot be encoded (over the codec's 1 MiB limit, too deep: one added to the
 * store directly, bypassing `publishInTransaction`'s check) never blocks the others: the relay
 * publishes the rest of the round, moves that row's event to the dead letters (consumer
 * `outbox:<topic>`, reason `cannot be encoded: …`), marks the row published and logs an error.
 *
 * Published rows are kept for `retention` (default one hour, for audits and re-sends) and then
 * deleted by the started relay, which runs `store.outbox.cleanup` once at start and every
 * `cleanupInterval`; several relays cleaning at once is harmless (a delete of the same rows). With
 * a retention of 0 on PostgreSQL, rounds delete the rows they publish instead of marking them.
 *
 * @example
 * const relay = createOutboxRelay({ store, transport });
 * relay.start();
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const problems: string[] = [];
  if (typeof options?.store?.outbox?.claim !== "function") problems.push("store must be a Store");
  if (typeof options?.transport?.publish !== "function") problems.push("transport must be a Transport");
  const batchSize = options?.batchSize ?? outboxRelayDefaults.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    problems.push(`batchSize must be an integer in 1..10000, got ${String(batchSize)}`);
  const concurrency = options?.concurrency ?? outboxRelayDefaults.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    problems.push(`concurrency must be an integer in 1..64, got ${String(concurrency)}`);
  const positiveDuration = (value: Duration | undefined, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    const ms = tryParseDuration(value);
    if (ms === undefined || ms <= 0) {
      problems.push(
        `${name} must be a positive duration (milliseconds or a string like "30s"), got ${JSON.stringify(value)}`,
      );
      return fallback;
    }
    return ms;
  };
  const leaseMs = positiveDuration(options?.lease, "lease", outboxRelayDefaults.leaseMs);
  const pollMs = positiveDuration(options?.pollInterval, "pollInterval", outboxRelayDefaults.pollIntervalMs);
  let retentionMs: number | undefined = outboxRelayDefaults.retentionMs;
  if (options?.retention === false) retentionMs = undefined;
  else if (options?.retention !== undefined) {
    const ms = tryParseDuration(options.retention);
    if (ms === undefined || ms < 0) {
      problems.push(
        `retention must be false or a non-negative duration (milliseconds or a string like "1h"), got ${JSON.stringify(options.retention)}`,
      );
    } else retentionMs = ms;
  }
  const cleanupMs = positiveDuration(
    options?.cleanupInterval,
    "cleanupInterval",
    outboxRelayDefaults.cleanupIntervalMs,
  );
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:outbox] invalid relay options: ${problems.join("; ")}`, { problems });
  }
  const { store, transport } = options;
  const logger = options.logger ?? createConsoleLogger("warn");

  let running = false;
  let loop: Promise<void> | undefined;
  let abort = new AbortController();
  /** The rounds waiting for work: `wake()` wakes them all. */
  const waiters = new Set<() => void>();
  let pendingWake = false;
  /**
   * Rows claimed by a round whose publish failed, still leased to this relay: that round's loop
   * publishes them again (while the lease lasts) instead of waiting for the lease to expire.
   */
  interface Leftover {
    entries: OutboxEntry[];
    claimedAt: number;
  }
  /**
   * The leftover leased rows of the first loop and of `flush()` on a stopped relay (one object, so
   * rows left by either are retried by the other); the other loops keep their own.
   */
  const firstState: { leftover?: Leftover | undefined } = {};
  const wakeAll = (): void => {
    for (const resolve of [...waiters]) resolve();
  };

  /**
   * Starts waiting for work (a `wake()`, a store change, `ms` passing, `stop()`) before a round
   * claims, so a commit that lands between the round's claim and its wait is not missed: the
   * round awaits `wait` when it found nothing, and calls `cancel` otherwise.
   */
  const armWait = (ms: number): { wait: Promise<void>; cancel: () => void } => {
    if (pendingWake) {
      pendingWake = false;
      return { wait: Promise.resolve(), cancel: () => {} };
    }
    // Whichever wakes first cancels the other, so no waiter outlives this round.
    const round = new AbortController();
    const cancel = () => round.abort();
    abort.signal.addEventListener("abort", cancel, { once: true });
    let woken: (() => void) | undefined;
    const wait = Promise.race([
      new Promise<void>((resolve) => {
        woken = resolve;
        waiters.add(resolve);
        round.signal.addEventListener("abort", () => resolve(), { once: true });
      }),
      store.waitForChange({ timeoutMs: ms, signal: round.signal }),
    ]).finally(() => {
      if (woken) waiters.delete(woken);
      abort.signal.removeEventListener("abort", cancel);
      round.abort();
    });
    return { wait, cancel };
  };

  /** Sleeps `ms`, or less when `signal` aborts. */
  const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    });

  /**
   * One round: returns how many rows were published. On a store with held claims
   * (`outbox.claimHeld`, PostgreSQL) the rows are held by the round's transaction while they are
   * published — no lease written, one write per row; a failed round releases the rows at once.
   * Otherwise they are leased (`claim`), and `state.leftover` carries a failed round's rows to the
   * next round of the same loop.
   */
  async function round(state: { leftover?: Leftover | undefined }): Promise<number> {
    if (store.outbox.claimHeld) {
      const removePublished = retentionMs === 0;
      return store.outbox.claimHeld({ limit: batchSize, holdMs: leaseMs, removePublished }, async (claim) =>
        publishRows(claim.entries, undefined, async (list) => {
          await claim.markPublished(list);
          return 0;
        }),
      );
    }
    let entries: OutboxEntry[];
    let claimedAt: number;
    const leftover = state.leftover;
    state.leftover = undefined;
    // Retry a failed round's rows while at least a fifth of their lease is left.
    if (leftover && performance.now() - leftover.claimedAt < leaseMs * 0.8) {
      ({ entries, claimedAt } = leftover);
    } else {
      claimedAt = performance.now();
      entries = await store.outbox.claim({ limit: batchSize, leaseMs });
    }
    const remaining = new Set(entries);
    try {
      return await publishRows(entries, remaining, async (list) => {
        const outcomes = await store.outbox.markPublished({
          entries: list.map((e) => ({ id: e.id, leaseToken: e.leaseToken })),
        });
        return outcomes.filter((o) => o === "lease-lost").length;
      });
    } catch (error) {
      if (remaining.size > 0) state.leftover = { entries: [...remaining], claimedAt };
      throw error;
    }
  }

  /**
   * Publishes claimed rows, one batch per topic, each marked (`mark`, which resolves to how many
   * leases were lost) right after its publish; deletes from `remaining` (a leased round's) what
   * no longer needs publishing. Returns how many rows were published.
   */
  async function publishRows(
    entries: readonly OutboxEntry[],
    remaining: Set<OutboxEntry> | undefined,
    mark: (list: readonly OutboxEntry[]) => Promise<number>,
  ): Promise<number> {
    if (entries.length === 0) return 0;
    // Each row is encoded on its own: one the transport could never take (over the codec's size
    // limit, too deep) is set aside below instead of failing — and holding — the whole round.
    const encoded = new Map<OutboxEntry, EncodedEvent>();
    const unencodable: Array<{ entry: OutboxEntry; error: unknown }> = [];
    const byTopic = new Map<string, OutboxEntry[]>();
    for (const e of entries) {
      try {
        encoded.set(e, encodeEvent(e.event));
      } catch (error) {
        unencodable.push({ entry: e, error });
        continue;
      }
      const list = byTopic.get(e.topic);
      if (list) list.push(e);
      else byTopic.set(e.topic, [e]);
    }
    let published = 0;
    for (const { entry, error } of unencodable) {
      await setAside(entry, error, mark);
      remaining?.delete(entry);
    }
    for (const [topic, list] of byTopic) {
      await transport.publish(
        topic,
        list.map((e) => encoded.get(e) as EncodedEvent),
      );
      // Marked per topic: a later topic's failure does not re-publish this one.
      if (remaining) for (const e of list) remaining.delete(e);
      const lost = await mark(list);
      if (lost > 0) {
        logger.warn(
          "outbox relay: lease lost before rows were marked published; they may be published again (consumers dedupe by event id)",
          { topic, lost },
        );
      }
      published += list.length;
    }
    return published;
  }

  /**
   * Moves a row that cannot be encoded to the dead letters (consumer `outbox:<topic>`, the event
   * kept for an operator to inspect and re-publish) and marks it published, so it never blocks the
   * outbox again. Throws when the store refuses: the row stays claimed and is tried again.
   */
  async function setAside(
    entry: OutboxEntry,
    error: unknown,
    mark: (list: readonly OutboxEntry[]) => Promise<number>,
  ): Promise<void> {
    const { id: eventId, type } = entry.event;
    const consumer = `${outboxDeadLetterPrefix}${entry.topic}`;
    const reason = `cannot be encoded: ${messageOf(error)}`;
    const attemptError = toAttemptError(error);
    let deadLetterId: string;
    try {
      deadLetterId = await store.deadLetters.add({
        consumer,
        event: entry.event,
        reason,
        error: attemptError,
      });
    } catch (withEvent) {
      // The store could not keep the event itself (e.g. its own size limit): keep the reason.
      logger.warn("outbox relay: the dead letter could not hold the event; it is kept without it", {
        topic: entry.topic,
        eventId,
        type,
        error: messageOf(withEvent),
      });
      deadLetterId = await store.deadLetters.add({
        consumer,
        reason: `${reason} (event ${type} ${eventId} not kept: ${messageOf(withEvent)})`,
        error: attemptError,
      });
    }
    const lost = await mark([entry]);
    logger.error(
      `outbox relay: event ${type} ${eventId} cannot be encoded and was moved to the dead letters; it will not be published`,
      {
        topic: entry.topic,
        eventId,
        type,
        deadLetterId,
        consumer,
        error: attemptError.message,
        ...(lost > 0 ? { leaseLost: true } : {}),
      },
    );
  }

  async function cleanup(): Promise<number> {
    if (retentionMs === undefined) return 0;
    return store.outbox.cleanup({ olderThanMs: retentionMs });
  }

  /** Runs the retention cleanup at start and every `cleanupInterval` until stopped. */
  async function cleanLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const deleted = await cleanup();
        if (deleted > 0) logger.debug("outbox relay: deleted published rows past retention", { deleted });
      } catch (error) {
        logger.warn("outbox relay: cleanup of published rows failed; retried at the next interval", {
          error,
        });
      }
      await sleep(cleanupMs, signal);
    }
  }

  /** Loop `index` of the `concurrency` loops of a started relay. */
  async function run(index: number): Promise<void> {
    let failures = 0;
    const state: { leftover?: Leftover | undefined } = index === 0 ? firstState : {};
    while (running) {
      try {
        const armed = armWait(pollMs);
        try {
          const n = await round(state);
          failures = 0;
          // Found work (or stopping): go on at once; found none: wait for more.
          if (n > 0 || !running) armed.cancel();
          await armed.wait;
        } catch (error) {
          armed.cancel();
          throw error;
        }
      } catch (error) {
        failures++;
        logger.error("outbox relay round failed; rows stay unpublished and are retried", { error });
        // Abortable: stop() does not wait for the back-off.
        await sleep(Math.min(100 * 2 ** failures, 5_000), abort.signal);
      }
    }
  }

  const relay: OutboxRelay = {
    start() {
      if (running) return;
      running = true;
      abort = new AbortController();
      const previous = loop;
      // A start() right after stop() waits for the old loop, so two loops never run at once.
      const signal = abort.signal;
      loop = (previous ?? Promise.resolve()).then(() =>
        running
          ? Promise.all([
              ...Array.from({ length: concurrency }, (_, index) => run(index)),
              retentionMs === undefined ? undefined : cleanLoop(signal),
            ]).then(() => {})
          : undefined,
      );
    },
    async stop() {
      if (!running) {
        await loop;
        return;
      }
      running = false;
      abort.abort();
      wakeAll();
      await loop;
    },
    wake() {
      if (waiters.size > 0) wakeAll();
      else pendingWake = true;
    },
    async flush(flushOptions = {}) {
      const timeoutMs =
        flushOptions.timeout === undefined ? 30_000 : parseDuration(flushOptions.timeout, "timeout");
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await store.outbox.pending()) === 0) return;
        const left = Math.max(1, deadline - Date.now());
        if (running) {
          relay.wake();
          await sleep(Math.min(10, left));
        } else if ((await round(firstState)) === 0) {
          // Rows pending but none claimable (leased elsewhere): wait instead of spinning.
          await store.waitForChange({ timeoutMs: Math.min(25, pollMs, left) });
        }
      }
      throw new EventferryError("ABORTED", `[eventferry:outbox] outbox not empty after ${timeoutMs} ms`);
    },
    cleanup,
    get running() {
      return running;
    },
  };
  return relay;
}

function messageOf(error: unknown): string {
  return toAttemptError(error).message;
}
