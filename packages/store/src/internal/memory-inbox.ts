import { componentMessage, uuidv7, ValidationError } from "@eventferry/core";
import { copyAttemptError, LEASE_EXPIRED_ERROR_NAME, LEASE_EXPIRED_REASON } from "../attempt-error.js";
import { checkRecordInput } from "../input-checks.js";
import type {
  AttemptError,
  AttemptRecord,
  ClaimParams,
  CompleteOutcome,
  DeadLetter,
  FailOutcome,
  FailParams,
  InboxEntry,
  InboxRecordInput,
  InboxStats,
  InboxStatus,
  InboxStore,
  LeaseRef,
  RecordResult,
} from "../store.js";
import { decodeEnvelope, type EnvelopeFacts, encodeEnvelope } from "./envelope-json.js";
import { Fifo } from "./fifo.js";
import { Heap } from "./heap.js";
import { iso, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";

/** One inbox entry as the memory store keeps it. */
export interface InboxRecord {
  readonly id: string;
  /** Record order, store-wide. */
  readonly seq: number;
  readonly consumer: string;
  /** `consumer \0 event id`: the idempotency key. */
  readonly pairKey: string;
  readonly eventJson: string;
  readonly eventId: string;
  readonly type: string;
  readonly key: string | undefined;
  readonly priority: number;
  readonly occurredAt: string;
  readonly occurredMs: number;
  readonly maxAttempts: number;
  status: InboxStatus;
  /** When it may be claimed (store clock, ms). */
  dueAt: number;
  /** Attempts used: incremented at claim. */
  attempt: number;
  leaseToken: string | undefined;
  leaseExpiresAt: number;
  worker: string | undefined;
  history: AttemptRecord[];
  lastError: AttemptError | undefined;
  reason: string | undefined;
  /** When it was completed or dead-lettered. */
  finishedAt: number;
  /** Bumped on every change; heap items of an older version are stale. */
  version: number;
  /** The version a live candidate item was pushed for (-1: none). */
  queued: number;
}

interface CandidateItem {
  readonly rec: InboxRecord;
  readonly v: number;
  readonly p: number;
  readonly due: number;
  readonly seq: number;
}

interface LeaseItem {
  readonly rec: InboxRecord;
  readonly token: string;
  readonly exp: number;
}

const readyLess = (a: CandidateItem, b: CandidateItem): boolean =>
  a.p !== b.p ? a.p < b.p : a.due !== b.due ? a.due < b.due : a.seq < b.seq;
const dueLess = (a: CandidateItem, b: CandidateItem): boolean =>
  a.due !== b.due ? a.due < b.due : a.seq < b.seq;
const leaseLess = (a: LeaseItem, b: LeaseItem): boolean => a.exp < b.exp;

const candidateLive = (item: CandidateItem): boolean =>
  item.v === item.rec.version && item.rec.status === "pending";
const leaseLive = (item: LeaseItem): boolean =>
  item.rec.status === "in-flight" && item.rec.leaseToken === item.token;

/**
 * The index of one consumer. A *candidate* is a pending entry that is not blocked by an
 * earlier unfinished entry of its key; candidates sit in `scheduled` (not due yet, by due time)
 * or `ready` (due, by priority, due time, record order). Claims pop `ready`; nothing is scanned.
 */
class ConsumerIndex {
  readonly ready = new Heap<CandidateItem>(readyLess);
  readonly scheduled = new Heap<CandidateItem>(dueLess);
  readonly leases = new Heap<LeaseItem>(leaseLess);
  /** Unfinished (pending or in-flight) entries per key, in record order. */
  readonly keys = new Map<string, Fifo<InboxRecord>>();
  readonly pending = new Set<InboxRecord>();
  inFlight = 0;
  completed = 0;
  dead = 0;
}

export interface MemoryInboxOptions {
  readonly retainCompleted: number;
  readonly dedupeWindow: number;
  /** Dead letters made by `deadLetters.add` for these consumers (all when undefined). */
  readonly countAddedDeadLetters: (consumers: ReadonlySet<string> | undefined) => number;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/** The in-memory inbox: entries, their per-consumer indexes, completion retention, dead entries. */
export class MemoryInbox implements InboxStore {
  readonly #ctx: MemoryContext;
  readonly #options: MemoryInboxOptions;
  readonly #entries = new Map<string, InboxRecord>();
  readonly #pairs = new Map<string, InboxRecord>();
  readonly #consumers = new Map<string, ConsumerIndex>();
  readonly #dead = new Map<string, InboxRecord>();
  readonly #completedOrder = new Fifo<InboxRecord>();
  readonly #forgotten = new Set<string>();
  readonly #forgottenOrder = new Fifo<string>();
  #seq = 0;

  constructor(ctx: MemoryContext, options: MemoryInboxOptions) {
    this.#ctx = ctx;
    this.#options = options;
  }

  // -------------------------------------------------------------------------------------------
  // InboxStore

  async record(params: { entries: readonly InboxRecordInput[] }): Promise<RecordResult> {
    this.#ctx.ensureOpen();
    const inputs = params?.entries ?? [];
    // Validate everything first: a bad input records nothing.
    const facts = new Map<object, EnvelopeFacts>();
    for (const input of inputs) {
      checkRecordInput(input, MEMORY_COMPONENT);
      if (!facts.has(input.event)) facts.set(input.event, encodeEnvelope(input.event));
    }
    const now = this.#ctx.now();
    let inserted = 0;
    let duplicates = 0;
    for (const input of inputs) {
      const f = facts.get(input.event) as EnvelopeFacts;
      const pairKey = `${input.consumer}\u0000${f.id}`;
      if (this.#pairs.has(pairKey) || this.#forgotten.has(pairKey)) {
        duplicates++;
        continue;
      }
      const rec: InboxRecord = {
        id: uuidv7(),
        seq: ++this.#seq,
        consumer: input.consumer,
        pairKey,
        eventJson: f.json,
        eventId: f.id,
        type: f.type,
        key: f.key,
        priority: f.priority,
        occurredAt: f.occurredAt,
        occurredMs: f.occurredMs,
        maxAttempts: input.maxAttempts,
        status: "pending",
        dueAt: f.deliverMs ?? now,
        attempt: 0,
        leaseToken: undefined,
        leaseExpiresAt: 0,
        worker: undefined,
        history: [],
        lastError: undefined,
        reason: undefined,
        finishedAt: 0,
        version: 0,
        queued: -1,
      };
      this.#entries.set(rec.id, rec);
      this.#pairs.set(pairKey, rec);
      const index = this.#index(rec.consumer);
      index.pending.add(rec);
      if (rec.key === undefined) {
        this.#offer(index, rec, now);
      } else {
        let queue = index.keys.get(rec.key);
        if (!queue) {
          queue = new Fifo<InboxRecord>();
          index.keys.set(rec.key, queue);
        }
        queue.push(rec);
        if (queue.first() === rec) this.#offer(index, rec, now);
      }
      inserted++;
    }
    if (inserted > 0) this.#ctx.changes.notify();
    return { inserted, duplicates };
  }

  async claim(params: ClaimParams): Promise<InboxEntry[]> {
    this.#ctx.ensureOpen();
    const { consumers, limit, leaseMs, worker } = params;
    if (!Array.isArray(consumers)) throw invalid("claim needs a consumers array");
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    const now = this.#ctx.now();
    const indexes: ConsumerIndex[] = [];
    for (const name of new Set(consumers)) {
      const index = this.#consumers.get(name);
      if (!index) continue;
      this.#expireLeases(index, now);
      this.#promoteDue(index, now);
      indexes.push(index);
    }
    const out: InboxEntry[] = [];
    let changed = false;
    while (out.length < limit) {
      let best: ConsumerIndex | undefined;
      let bestTop: CandidateItem | undefined;
      for (const index of indexes) {
        const top = topLive(index.ready, candidateLive);
        if (top && (!bestTop || readyLess(top, bestTop))) {
          best = index;
          bestTop = top;
        }
      }
      if (!best || !bestTop) break;
      best.ready.pop();
      const rec = bestTop.rec;
      if (bestTop.due > now) {
        // The clock went back (a test clock's set()): not due after all.
        best.scheduled.push(bestTop);
        continue;
      }
      if (rec.attempt >= rec.maxAttempts) {
        // Defensive: never hand out attempt maxAttempts + 1.
        this.#toDead(best, rec, now, `max attempts (${rec.maxAttempts}) reached`, rec.lastError);
        changed = true;
        continue;
      }
      const token = globalThis.crypto.randomUUID();
      best.pending.delete(rec);
      best.inFlight++;
      rec.status = "in-flight";
      rec.attempt++;
      rec.leaseToken = token;
      rec.leaseExpiresAt = now + leaseMs;
      rec.worker = worker;
      rec.version++;
      best.leases.push({ rec, token, exp: rec.leaseExpiresAt });
      if (best.leases.size > 2 * best.inFlight + 1024) best.leases.compact(leaseLive);
      out.push({
        id: rec.id,
        consumer: rec.consumer,
        event: decodeEnvelope(rec.eventJson),
        attempt: rec.attempt,
        maxAttempts: rec.maxAttempts,
        leaseToken: token,
        leaseExpiresAt: iso(rec.leaseExpiresAt),
        lastAttemptExpired: rec.lastError?.name === LEASE_EXPIRED_ERROR_NAME,
      });
    }
    if (changed) this.#ctx.changes.notify();
    return out;
  }

  async complete(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const now = this.#ctx.now();
    const out: CompleteOutcome[] = [];
    for (const ref of params?.entries ?? []) {
      if (this.holdsLease(ref)) {
        this.completeHeld(ref, now);
        out.push("completed");
      } else {
        out.push("lease-lost");
      }
    }
    if (out.includes("completed")) this.#ctx.changes.notify();
    return out;
  }

  async fail(params: FailParams): Promise<FailOutcome> {
    this.#ctx.ensureOpen();
    if (!this.holdsLease(params)) return "lease-lost";
    const now = this.#ctx.now();
    const rec = this.#entries.get(params.id) as InboxRecord;
    const index = this.#index(rec.consumer);
    const error = copyAttemptError(params.error);
    rec.history.push({ attempt: rec.attempt, at: iso(now), error });
    rec.lastError = error;
    if (params.deadLetter || rec.attempt >= rec.maxAttempts) {
      const reason =
        params.reason ??
        (params.deadLetter
          ? `dead-lettered after attempt ${rec.attempt}: ${error.message}`
          : `max attempts (${rec.maxAttempts}) reached`);
      this.#toDead(index, rec, now, reason, error);
      this.#ctx.changes.notify();
      return "dead-lettered";
    }
    const delay =
      Number.isFinite(params.retryInMs) && (params.retryInMs as number) > 0 ? params.retryInMs! : 0;
    this.#toPending(index, rec, now);
    rec.dueAt = now + delay;
    rec.version++;
    if (this.#isFirstOfKey(index, rec)) this.#offer(index, rec, now);
    this.#ctx.changes.notify();
    return "retry-scheduled";
  }

  async release(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const now = this.#ctx.now();
    const out: CompleteOutcome[] = [];
    for (const ref of params?.entries ?? []) {
      if (!this.holdsLease(ref)) {
        out.push("lease-lost");
        continue;
      }
      const rec = this.#entries.get(ref.id) as InboxRecord;
      const index = this.#index(rec.consumer);
      this.#toPending(index, rec, now);
      rec.attempt = Math.max(0, rec.attempt - 1);
      if (this.#isFirstOfKey(index, rec)) this.#offer(index, rec, now);
      out.push("completed");
    }
    if (out.includes("completed")) this.#ctx.changes.notify();
    return out;
  }

  async stats(params?: { consumers?: readonly string[] | undefined }): Promise<InboxStats> {
    this.#ctx.ensureOpen();
    const filter = params?.consumers ? new Set(params.consumers) : undefined;
    const now = this.#ctx.now();
    let pending = 0;
    let scheduled = 0;
    let inFlight = 0;
    let completed = 0;
    let dead = 0;
    let oldest: InboxRecord | undefined;
    for (const [name, index] of this.#consumers) {
      if (filter && !filter.has(name)) continue;
      pending += index.pending.size;
      inFlight += index.inFlight;
      completed += index.completed;
      dead += index.dead;
      for (const rec of index.pending) {
        if (rec.dueAt > now) scheduled++;
        if (!Number.isNaN(rec.occurredMs) && (!oldest || rec.occurredMs < oldest.occurredMs)) oldest = rec;
      }
    }
    dead += this.#options.countAddedDeadLetters(filter);
    return {
      pending,
      scheduled,
      inFlight,
      completed,
      dead,
      ...(oldest ? { oldestPendingAt: oldest.occurredAt } : {}),
    };
  }

  // -------------------------------------------------------------------------------------------
  // For transactions, dead letters, waitForChange and health

  /** True when `ref` names an in-flight entry whose lease token matches. */
  holdsLease(ref: LeaseRef): boolean {
    const rec = typeof ref?.id === "string" ? this.#entries.get(ref.id) : undefined;
    return rec !== undefined && rec.status === "in-flight" && rec.leaseToken === ref.leaseToken;
  }

  /** Completes an entry the caller checked with {@link holdsLease}. */
  completeHeld(ref: LeaseRef, now: number): void {
    const rec = this.#entries.get(ref.id) as InboxRecord;
    const index = this.#index(rec.consumer);
    index.inFlight--;
    rec.status = "completed";
    rec.leaseToken = undefined;
    rec.finishedAt = now;
    rec.history = [];
    rec.lastError = undefined;
    rec.version++;
    index.completed++;
    this.#leaveKey(index, rec, now);
    this.#completedOrder.push(rec);
    this.#prune();
  }

  /** Dead inbox entries, in no particular order. */
  deadRecords(): IterableIterator<InboxRecord> {
    return this.#dead.values();
  }

  getDead(id: string): InboxRecord | undefined {
    return this.#dead.get(id);
  }

  /** The dead letter view of a dead entry. */
  toDeadLetter(rec: InboxRecord): DeadLetter {
    return {
      id: rec.id,
      consumer: rec.consumer,
      event: decodeEnvelope(rec.eventJson),
      reason: rec.reason ?? "",
      error: rec.lastError ?? { name: "Error", message: rec.reason ?? "" },
      attempts: rec.attempt,
      history: rec.history.map((h) => ({ attempt: h.attempt, at: h.at, error: { ...h.error } })),
      deadAt: iso(rec.finishedAt),
    };
  }

  /** Puts a dead entry back to pending, attempts and history reset, due now. */
  retryDead(id: string, now: number): boolean {
    const rec = this.#dead.get(id);
    if (!rec) return false;
    const index = this.#index(rec.consumer);
    this.#dead.delete(id);
    index.dead--;
    index.pending.add(rec);
    rec.status = "pending";
    rec.attempt = 0;
    rec.history = [];
    rec.lastError = undefined;
    rec.reason = undefined;
    rec.finishedAt = 0;
    rec.dueAt = now;
    rec.version++;
    if (rec.key === undefined) {
      this.#offer(index, rec, now);
      return true;
    }
    let queue = index.keys.get(rec.key);
    if (!queue) {
      queue = new Fifo<InboxRecord>();
      index.keys.set(rec.key, queue);
    }
    const previousFirst = queue.first();
    queue.insertSorted(rec, (r) => r.seq);
    if (queue.first() === rec) {
      if (previousFirst && previousFirst.status === "pending") previousFirst.version++; // no longer a candidate
      this.#offer(index, rec, now);
    }
    return true;
  }

  /** Deletes a dead entry; its (consumer, event id) pair is forgotten. */
  purgeDead(id: string): boolean {
    const rec = this.#dead.get(id);
    if (!rec) return false;
    this.#dead.delete(id);
    this.#entries.delete(id);
    this.#pairs.delete(rec.pairKey);
    this.#index(rec.consumer).dead--;
    return true;
  }

  /** The earliest due time after `now` of a candidate entry (for waitForChange), if any. */
  nextDueAfter(now: number): number | undefined {
    let next: number | undefined;
    for (const index of this.#consumers.values()) {
      this.#promoteDue(index, now);
      const top = topLive(index.scheduled, candidateLive);
      if (top && (next === undefined || top.due < next)) next = top.due;
    }
    return next;
  }

  /** Entry counts by status, and index sizes (health details, memory tests). */
  sizes(): {
    entries: number;
    pending: number;
    inFlight: number;
    completed: number;
    dead: number;
    forgotten: number;
    heapItems: number;
  } {
    let pending = 0;
    let inFlight = 0;
    let completed = 0;
    let heapItems = 0;
    for (const index of this.#consumers.values()) {
      pending += index.pending.size;
      inFlight += index.inFlight;
      completed += index.completed;
      heapItems += index.ready.size + index.scheduled.size + index.leases.size;
    }
    return {
      entries: this.#entries.size,
      pending,
      inFlight,
      completed,
      dead: this.#dead.size,
      forgotten: this.#forgotten.size,
      heapItems,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  #index(consumer: string): ConsumerIndex {
    let index = this.#consumers.get(consumer);
    if (!index) {
      index = new ConsumerIndex();
      this.#consumers.set(consumer, index);
    }
    return index;
  }

  #isFirstOfKey(index: ConsumerIndex, rec: InboxRecord): boolean {
    return rec.key === undefined || index.keys.get(rec.key)?.first() === rec;
  }

  /** Makes a pending, unblocked entry claimable (once per version). */
  #offer(index: ConsumerIndex, rec: InboxRecord, now: number): void {
    if (rec.queued === rec.version) return;
    rec.queued = rec.version;
    const item: CandidateItem = { rec, v: rec.version, p: rec.priority, due: rec.dueAt, seq: rec.seq };
    const heap = rec.dueAt <= now ? index.ready : index.scheduled;
    heap.push(item);
    if (heap.size > 2 * index.pending.size + 1024) heap.compact(candidateLive);
  }

  /** In-flight to pending (lease dropped); the caller re-offers it. */
  #toPending(index: ConsumerIndex, rec: InboxRecord, _now: number): void {
    index.inFlight--;
    index.pending.add(rec);
    rec.status = "pending";
    rec.leaseToken = undefined;
    rec.version++;
  }

  #toDead(
    index: ConsumerIndex,
    rec: InboxRecord,
    now: number,
    reason: string,
    error: AttemptError | undefined,
  ): void {
    if (rec.status === "in-flight") index.inFlight--;
    else if (rec.status === "pending") index.pending.delete(rec);
    rec.status = "dead";
    rec.reason = reason;
    rec.lastError = error ?? { name: "Error", message: reason };
    rec.leaseToken = undefined;
    rec.finishedAt = now;
    rec.version++;
    index.dead++;
    this.#dead.set(rec.id, rec);
    this.#leaveKey(index, rec, now);
  }

  /** A finished entry leaves its key queue; the next entry of the key may become claimable. */
  #leaveKey(index: ConsumerIndex, rec: InboxRecord, now: number): void {
    if (rec.key === undefined) return;
    const queue = index.keys.get(rec.key);
    if (!queue) return;
    const wasFirst = queue.first() === rec;
    queue.remove(rec);
    if (queue.length === 0) {
      index.keys.delete(rec.key);
      return;
    }
    const next = queue.first() as InboxRecord;
    if (wasFirst && next.status === "pending") this.#offer(index, next, now);
  }

  /**
   * Expired leases: the attempt is recorded as lost; the entry is claimable again, or dead when
   * that was its last attempt.
   */
  #expireLeases(index: ConsumerIndex, now: number): void {
    for (;;) {
      const top = index.leases.peek();
      if (!top || top.exp > now) return;
      index.leases.pop();
      if (!leaseLive(top)) continue;
      const rec = top.rec;
      const error: AttemptError = {
        name: LEASE_EXPIRED_ERROR_NAME,
        message: `the lease of attempt ${rec.attempt} expired before the attempt finished`,
      };
      rec.history.push({ attempt: rec.attempt, at: iso(now), error });
      rec.lastError = error;
      if (rec.attempt >= rec.maxAttempts) {
        this.#toDead(index, rec, now, LEASE_EXPIRED_REASON, error);
      } else {
        this.#toPending(index, rec, now);
        if (this.#isFirstOfKey(index, rec)) this.#offer(index, rec, now);
      }
    }
  }

  /** Moves candidates that became due from `scheduled` to `ready`. */
  #promoteDue(index: ConsumerIndex, now: number): void {
    for (;;) {
      const top = index.scheduled.peek();
      if (!top || top.due > now) return;
      index.scheduled.pop();
      if (candidateLive(top)) index.ready.push(top);
    }
  }

  async prune(params: { olderThanMs: number; limit?: number | undefined }): Promise<number> {
    const olderThanMs = params?.olderThanMs;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw new ValidationError(
        componentMessage(MEMORY_COMPONENT, `prune needs olderThanMs >= 0, got ${String(olderThanMs)}`),
      );
    }
    const limit = params.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new ValidationError(
        componentMessage(MEMORY_COMPONENT, `prune limit must be an integer >= 1, got ${String(limit)}`),
      );
    }
    this.#ctx.ensureOpen();
    const cutoff = this.#ctx.now() - olderThanMs;
    let deleted = 0;
    while (deleted < limit) {
      const oldest = this.#completedOrder.first();
      if (!oldest) break;
      if (oldest.status === "completed" && oldest.finishedAt > cutoff) break;
      this.#completedOrder.shift();
      if (this.#drop(oldest)) deleted++;
    }
    return deleted;
  }

  /** Drops the oldest completed entries beyond `retainCompleted`, remembering their pairs. */
  #prune(): void {
    const { retainCompleted } = this.#options;
    while (this.#completedOrder.length > retainCompleted) {
      this.#drop(this.#completedOrder.shift() as InboxRecord);
    }
  }

  /** Forgets a completed entry (its pair stays in the dedupe window). False when it is not completed any more. */
  #drop(old: InboxRecord): boolean {
    const { dedupeWindow } = this.#options;
    if (old.status !== "completed") return false;
    this.#entries.delete(old.id);
    this.#pairs.delete(old.pairKey);
    this.#index(old.consumer).completed--;
    if (dedupeWindow > 0) {
      this.#forgotten.add(old.pairKey);
      this.#forgottenOrder.push(old.pairKey);
      while (this.#forgottenOrder.length > dedupeWindow) {
        this.#forgotten.delete(this.#forgottenOrder.shift() as string);
      }
    }
    return true;
  }
}

/** Pops stale items off the top; returns the live top (not removed). */
function topLive<T>(heap: Heap<T>, live: (item: T) => boolean): T | undefined {
  for (;;) {
    const top = heap.peek();
    if (top === undefined || live(top)) return top;
    heap.pop();
  }
}
