import type { Logger, Plugin } from "@eventferry/core";
import type { InboxRecordInput, ReopenInput, Store } from "@eventferry/store";
import { toAttemptError } from "@eventferry/store";
import { deadLetterReason, wantsDeadLetter } from "./dead-letter-request.js";
import { attemptSignal, type RegisteredHandler } from "./registered-handler.js";
import { handlerContext } from "./run-entry.js";

type Hooks = NonNullable<Plugin["hooks"]>;
type HookFn = <K extends keyof Hooks>(name: K, ...args: Parameters<NonNullable<Hooks[K]>>) => Promise<void>;

/** One handler run in flight inside an admission transaction (so `stop()` can wait for or abort it). */
export interface AdmittedRun {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

export interface AdmissionLanesOptions {
  store: Store;
  byConsumer: ReadonlyMap<string, RegisteredHandler>;
  /** Transactions running at once. */
  lanes: number;
  /** Most entries one lane takes into one transaction. */
  maxChunk: number;
  topic: string;
  group: string;
  logger: Logger;
  hook: HookFn;
  /** Whether some plugin has this hook (so the hot path skips calls that would do nothing). */
  hasHook?: (name: keyof Hooks) => boolean;
  /** False once the inbox is stopping: admitted entries are then reopened unrun. */
  isRunning: () => boolean;
  track: (id: string, run: AdmittedRun) => () => void;
  wakeRelay: () => void;
  noteDue: (atMs: number) => void;
  /** Told of each entry that finished here (completed, or dead-lettered after attempt 1). */
  settled?: (
    event: InboxRecordInput["event"],
    handler: string,
    status: "completed" | "dead-lettered",
  ) => void;
}

/**
 * Counts the entries of one submitted batch down; settles once all committed or one failed.
 * Resolves to whether any of them was left for the dispatcher (recorded pending or reopened).
 */
class BatchTracker {
  readonly promise: Promise<boolean>;
  #remaining: number;
  #leftPending = false;
  #resolve!: (leftPending: boolean) => void;
  #reject!: (error: unknown) => void;
  #settled = false;

  constructor(count: number) {
    this.#remaining = count;
    this.promise = new Promise<boolean>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (count === 0) this.#finish();
  }

  done(leftPending: boolean): void {
    if (leftPending) this.#leftPending = true;
    this.#remaining--;
    if (this.#remaining === 0) this.#finish();
  }

  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(error);
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#resolve(this.#leftPending);
  }
}

interface Item {
  readonly input: InboxRecordInput;
  readonly batch: BatchTracker;
  /** Recorded for the dispatcher even when it could run at once (a transport redelivery). */
  readonly hold: boolean;
}

interface ChunkReport {
  readonly processed: Array<{ input: InboxRecordInput; handler: RegisteredHandler; durationMs: number }>;
  readonly failed: Array<{
    input: InboxRecordInput;
    handler: RegisteredHandler;
    error: unknown;
    retryInMs: number;
    /** From the store's answer: dead-lettered instead of retried. */
    dead: boolean;
    /** Set when the error asked to be dead-lettered at once (`deadLetter: true`). */
    reason?: string | undefined;
  }>;
  published: boolean;
  /** Some entry of the chunk was recorded pending or reopened: the dispatcher has work. */
  leftPending: boolean;
}

/**
 * The single-write path: entries are recorded through `tx.admission` and each entry admitted
 * `run` is handled inside a savepoint of the same transaction — one write per event.
 *
 * Entries go to lanes — a key always to the same lane, other entries to the current lane until
 * `SPILL_AT` wait there (see `#freeLane`) — and each lane
 * runs one transaction at a time over everything queued to it (at most `maxChunk`), so under load
 * transactions grow (group commit) and a key's entries run in order, one at a time. A handler
 * that fails is rolled back to its savepoint and its entry reopened for a retry by its policy (or
 * dead-lettered); later entries of its key in the chunk are reopened unrun, so the dispatcher
 * keeps their order. A lane whose transaction fails fails every batch it holds (nothing of them
 * is acked; the transport redelivers; what other lanes committed comes back as duplicates).
 *
 * Entries of batch handlers (`handleBatch`) are never submitted here: the inbox records them
 * pending, so the dispatcher claims and runs them in batches.
 */
export class AdmissionLanes {
  readonly #o: AdmissionLanesOptions;
  readonly #queues: Item[][];
  readonly #busy: boolean[];
  #chunks = 0;
  #next = 0;

  constructor(options: AdmissionLanesOptions) {
    this.#o = options;
    this.#queues = Array.from({ length: options.lanes }, () => []);
    this.#busy = Array.from({ length: options.lanes }, () => false);
  }

  /**
   * Queues a batch's entries (synchronously: batches submitted in order keep their order per key).
   * Resolves once every entry committed — to `true` when some entry was left for the dispatcher
   * (recorded pending, or reopened after a failure), `false` when every one ran or was a duplicate —
   * and rejects when a transaction holding one of them failed.
   * Entries in `hold` are recorded but never run here (they go to the dispatcher).
   */
  submit(records: readonly InboxRecordInput[], hold?: ReadonlySet<InboxRecordInput>): Promise<boolean> {
    const batch = new BatchTracker(records.length);
    const touched = new Set<number>();
    const lanes = this.#queues.length;
    for (const input of records) {
      const key = input.event.key;
      const lane =
        key === undefined || key === null ? this.#freeLane() : laneOf(`${input.consumer}\u0000${key}`, lanes);
      (this.#queues[lane] as Item[]).push({ input, batch, hold: hold?.has(input) === true });
      touched.add(lane);
    }
    for (const lane of touched) this.#kick(lane);
    return batch.promise;
  }

  /**
   * The lane of an entry without a key: the current one until its queue holds `SPILL_AT` entries
   * waiting for its running transaction, then the next. Under light load everything waits for one
   * transaction and commits in the next (fewer, larger transactions: less work per event); under
   * heavy load queues fill and the lanes commit in parallel.
   */
  #freeLane(): number {
    const lanes = this.#queues.length;
    const current = this.#next % lanes;
    if (!this.#busy[current] || (this.#queues[current] as Item[]).length < SPILL_AT) return current;
    this.#next = (current + 1) % lanes;
    return this.#next;
  }

  #kick(lane: number): void {
    if (this.#busy[lane]) return;
    this.#busy[lane] = true;
    void this.#drain(lane);
  }

  async #drain(lane: number): Promise<void> {
    const queue = this.#queues[lane] as Item[];
    try {
      while (queue.length > 0) {
        const chunk = queue.splice(0, this.#o.maxChunk);
        let report: ChunkReport;
        try {
          report = await this.#runChunk(chunk);
        } catch (error) {
          for (const item of [...chunk, ...queue.splice(0)]) item.batch.fail(error);
          continue;
        }
        for (const item of chunk) item.batch.done(report.leftPending);
        await this.#report(report);
      }
    } finally {
      this.#busy[lane] = false;
    }
  }

  async #report(report: ChunkReport): Promise<void> {
    const { hook, logger } = this.#o;
    if (report.published) this.#o.wakeRelay();
    const onProcessed = this.#o.hasHook?.("onProcessed") !== false;
    for (const p of report.processed) {
      if (onProcessed)
        await hook("onProcessed", p.input.event, {
          handler: p.handler.name,
          attempt: 1,
          durationMs: p.durationMs,
        });
      this.#o.settled?.(p.input.event, p.handler.name, "completed");
    }
    for (const f of report.failed) {
      const info = { handler: f.handler.name, attempt: 1 };
      if (f.dead) {
        const reason = f.reason ?? `max attempts (${f.input.maxAttempts}) reached`;
        logger.warn(`dead-lettered ${f.input.event.type} ${f.input.event.id} after 1 attempt`, {
          handler: f.handler.name,
          error: toAttemptError(f.error).message,
        });
        await hook("onDeadLetter", f.input.event, f.error, { ...info, reason });
        this.#o.settled?.(f.input.event, f.handler.name, "dead-lettered");
      } else {
        const nextAt = new Date(Date.now() + f.retryInMs);
        this.#o.noteDue(nextAt.getTime());
        await hook("onRetry", f.input.event, f.error, nextAt, info);
      }
    }
  }

  /** One transaction: admit the chunk, run what was admitted `run`, reopen what failed or did not run. */
  async #runChunk(items: readonly Item[]): Promise<ChunkReport> {
    const chunk = items.map((item) => item.input);
    const o = this.#o;
    const report: ChunkReport = { processed: [], failed: [], published: false, leftPending: false };
    const run = new ChunkRun();
    const untrack = o.track(`chunk:${++this.#chunks}`, run);
    try {
      await this.#transact(items, chunk, report, run);
    } finally {
      untrack();
      run.finish();
    }
    return report;
  }

  async #transact(
    items: readonly Item[],
    chunk: readonly InboxRecordInput[],
    report: ChunkReport,
    run: ChunkRun,
  ) {
    const o = this.#o;
    await o.store.transaction(async (tx) => {
      const admission = tx.admission;
      if (!admission) throw new Error("the store's transaction offers no admission");
      report.processed.length = 0;
      report.failed.length = 0;
      report.published = false;
      report.leftPending = false;
      const outcomes = await admission.admit({ entries: chunk });
      const reopen: ReopenInput[] = [];
      const failedById = new Map<string, ChunkReport["failed"][number]>();
      // consumer + key of entries that did not complete here: later entries of the key wait.
      const blocked = new Set<string>();
      for (let i = 0; i < chunk.length; i++) {
        const input = chunk[i] as InboxRecordInput;
        const outcome = outcomes[i];
        const key = input.event.key;
        const pair = key === undefined || key === null ? undefined : `${input.consumer}\u0000${key}`;
        if (!outcome || outcome.kind === "duplicate") continue;
        if (outcome.kind === "recorded") {
          report.leftPending = true;
          if (pair) blocked.add(pair);
          continue;
        }
        const handler = o.byConsumer.get(input.consumer);
        if (
          !handler ||
          (items[i] as Item).hold ||
          !o.isRunning() ||
          (pair !== undefined && blocked.has(pair))
        ) {
          reopen.push({ id: outcome.id });
          if (pair) blocked.add(pair);
          continue;
        }
        // One controller for the chunk's handlers, which run one after another; a fresh one
        // after a timeout aborted it. `stop()` aborts the current one through the chunk's tracking.
        if (run.controller.signal.aborted && o.isRunning()) run.replace();
        const controller = run.controller;
        if (o.hasHook?.("onReceive") !== false)
          await o.hook("onReceive", input.event, { handler: handler.name, attempt: 1 });
        const started = performance.now();
        try {
          await admission.savepoint((nested) =>
            handler.run(
              input.event,
              handlerContext({
                tx: nested,
                event: input.event,
                attempt: 1,
                maxAttempts: input.maxAttempts,
                signal: attemptSignal(controller),
                topic: o.topic,
                group: o.group,
                logger: o.logger,
                handlerName: handler.name,
                onPublish: () => {
                  report.published = true;
                },
              }),
            ),
          );
          report.processed.push({ input, handler, durationMs: performance.now() - started });
        } catch (error) {
          const reason = wantsDeadLetter(error) ? deadLetterReason(error) : undefined;
          const dead = reason !== undefined || input.maxAttempts <= 1;
          const retryInMs = dead ? 0 : handler.policy.delayAfter(1);
          reopen.push({
            id: outcome.id,
            error: toAttemptError(error),
            retryInMs,
            ...(reason !== undefined ? { deadLetter: true, reason } : {}),
          });
          const failed = { input, handler, error, retryInMs, dead, reason };
          failedById.set(outcome.id, failed);
          report.failed.push(failed);
          if (pair) blocked.add(pair);
        }
      }
      if (reopen.length > 0) {
        report.leftPending = true;
        const reopened = await admission.reopen({ entries: reopen });
        reopened.forEach((r, i) => {
          const failed = failedById.get((reopen[i] as ReopenInput).id);
          if (failed) failed.dead = r === "dead-lettered";
        });
      }
    });
  }
}

/**
 * The handlers of one chunk as `stop()` sees them: one entry in the in-flight map whose controller
 * is the one the chunk's current handler got (aborting it aborts that handler) and whose `done`
 * settles when the chunk's transaction ended.
 */
class ChunkRun implements AdmittedRun {
  #controller = new AbortController();
  readonly done: Promise<void>;
  finish!: () => void;

  constructor() {
    this.done = new Promise<void>((resolve) => {
      this.finish = resolve;
    });
  }

  get controller(): AbortController {
    return this.#controller;
  }

  /** A fresh controller for the next handler after a timeout aborted the current one. */
  replace(): void {
    this.#controller = new AbortController();
  }
}

/** Entries waiting on a busy lane before entries without a key go to the next lane. */
const SPILL_AT = 64;

/** FNV-1a of the consumer and key, modulo the lane count: one key, one lane. */
function laneOf(pair: string, lanes: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < pair.length; i++) {
    h ^= pair.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % lanes;
}
