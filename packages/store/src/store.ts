import type { EventEnvelope, HealthReport, Priority } from "@eventferry/core";

/**
 * The Store contract: the event log, the inbox, the outbox, dead letters, batches and schemas.
 *
 * Rules every adapter MUST keep are written as MUST sentences; `@eventferry/store/testing`'s
 * conformance suite checks each of them. All methods take one params object and return plain data.
 * Every due-time comparison uses the store's own clock ({@link Store.now}), never the client's.
 */

/** An event as the log keeps it. */
export interface StoredEvent extends EventEnvelope {
  /** Position in the log: strictly increasing in append order, starting at 1. */
  readonly position: number;
  /** When the store recorded it (store clock, ISO-8601). */
  readonly recordedAt: string;
}

export interface AppendResult {
  /** Ids newly written, in input order. */
  readonly inserted: readonly string[];
  /** Ids that were already there (the append of those was a no-op). */
  readonly duplicates: readonly string[];
}

export interface EventQuery {
  /** Exact type names. */
  readonly types?: readonly string[] | undefined;
  /** A glob over type names (`order.*`, `**`). */
  readonly pattern?: string | undefined;
  readonly key?: string | undefined;
  /** Events with `position > afterPosition`. @default 0 */
  readonly afterPosition?: number | undefined;
  /** Events that occurred at or after this instant. */
  readonly from?: Date | undefined;
  /** Events that occurred before this instant. */
  readonly until?: Date | undefined;
  /** Stop after this many. */
  readonly limit?: number | undefined;
  /** Page size used under the hood (memory is bounded by it). @default 500 */
  readonly pageSize?: number | undefined;
}

// ---------------------------------------------------------------------------------------------
// Inbox

export type InboxStatus = "pending" | "in-flight" | "completed" | "dead";

/** One (consumer, event) pair to record. */
export interface InboxRecordInput {
  /** The consumer: a handler within a consumer group, e.g. `billing/send-invoice`. */
  readonly consumer: string;
  readonly event: EventEnvelope;
  /** Attempts before dead-lettering (counted at claim). */
  readonly maxAttempts: number;
}

export interface RecordResult {
  /** How many (consumer, event id) pairs were new. */
  readonly inserted: number;
  /** How many already existed (a redelivery): a no-op. */
  readonly duplicates: number;
}

/** A claimed inbox entry. */
export interface InboxEntry {
  /** The entry's id (unique in the store). */
  readonly id: string;
  readonly consumer: string;
  readonly event: EventEnvelope;
  /** This attempt's number: 1 on the first claim. Incremented at claim. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Fencing token of this claim: completions and failures carry it. */
  readonly leaseToken: string;
  /** When the lease ends (store clock, ISO-8601). */
  readonly leaseExpiresAt: string;
  /**
   * True when the previous attempt ended by its lease expiring — the worker crashed or stalled
   * while running it. An engine can run such an entry alone, so that an event that crashes the
   * process does not take other events' attempts with it. Absent counts as false.
   */
  readonly lastAttemptExpired?: boolean;
}

export interface ClaimParams {
  /** Consumers to claim for. */
  readonly consumers: readonly string[];
  /** At most this many entries. MUST NOT return more. */
  readonly limit: number;
  /** Lease length. */
  readonly leaseMs: number;
  /** Name of the claiming worker, for operators. */
  readonly worker?: string | undefined;
}

export interface LeaseRef {
  readonly id: string;
  readonly leaseToken: string;
}

export type CompleteOutcome = "completed" | "lease-lost";

export interface AttemptError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly code?: string | undefined;
}

export interface FailParams extends LeaseRef {
  readonly error: AttemptError;
  /**
   * Retry after this many ms (store clock). Ignored when `deadLetter` is true. @default 0
   * The entry MUST NOT be claimable before then.
   */
  readonly retryInMs?: number | undefined;
  /** Give up now: move the entry to the dead letters. */
  readonly deadLetter?: boolean | undefined;
  /** Why it is dead-lettered, e.g. `max attempts (5) reached`. */
  readonly reason?: string | undefined;
}

export type FailOutcome = "retry-scheduled" | "dead-lettered" | "lease-lost";

export interface InboxStats {
  /** Recorded and claimable now or later (includes scheduled retries and delayed events). */
  readonly pending: number;
  /** Of `pending`, not due yet. */
  readonly scheduled: number;
  readonly inFlight: number;
  /** Completed entries the store still keeps (an adapter may prune old ones; see its options). */
  readonly completed: number;
  /** Dead letters of these consumers, including those made by {@link DeadLetterStore.add}. */
  readonly dead: number;
  /** occurredAt of the oldest pending entry, ISO-8601. */
  readonly oldestPendingAt?: string | undefined;
}

export interface InboxStore {
  /**
   * Records entries. MUST be idempotent by (consumer, event id): a second record of the pair
   * changes nothing and counts as a duplicate — also when the first entry is completed or dead.
   * Entries of one call are recorded in input order. A new entry is due at the event's `deliverAt`,
   * or now (store clock) when it has none. One round trip per call.
   */
  record(params: { entries: readonly InboxRecordInput[] }): Promise<RecordResult>;
  /**
   * Claims due entries and increments their attempt count.
   *
   * - MUST NOT return an entry whose lease is valid for another claim.
   * - MUST NOT return an entry whose due time (`deliverAt` or a retry time) is after the store's now.
   * - MUST order by priority (1 first), then due time, then record order; the returned array is
   *   in that order.
   * - MUST NOT return an entry while an earlier-recorded entry of the same consumer and key is
   *   unfinished (pending or in flight); dead and completed entries do not block.
   * - An entry whose lease expired is claimable again. If it has already used `maxAttempts`
   *   attempts it MUST be dead-lettered instead (reason `lease expired after the last attempt`):
   *   a handler that crashes the process still reaches the dead letters.
   * - An attempt that ended by lease expiry MUST be added to the entry's history (see
   *   {@link DeadLetter.history}) with an error named `LeaseExpiredError`.
   * - MUST NOT return an attempt number above `maxAttempts`.
   * - Concurrent claimers MUST never receive the same entry with overlapping leases.
   */
  claim(params: ClaimParams): Promise<InboxEntry[]>;
  /**
   * Marks entries completed. An entry whose lease token no longer matches (expired and
   * re-claimed, released, or completed) MUST NOT change and reports `lease-lost`.
   * Use {@link StoreTx.inbox} to complete inside a handler's transaction.
   */
  complete(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]>;
  /**
   * Records a failed attempt (added to the history): retry later, or dead-letter. Fenced like
   * `complete`. When the failed attempt was the last (`attempt >= maxAttempts`) the entry MUST be
   * dead-lettered even without `deadLetter` (reason `max attempts (N) reached` unless given).
   */
  fail(params: FailParams): Promise<FailOutcome>;
  /**
   * Gives claimed entries back without using an attempt (graceful shutdown before the handler
   * ran): claimable again at once, at their old place in the order. Fenced like `complete`;
   * `completed` means released.
   */
  release(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]>;
  stats(params?: { consumers?: readonly string[] | undefined }): Promise<InboxStats>;
  /**
   * Deletes completed entries finished at or before `now - olderThanMs` (store clock),
   * at most `limit` per call, oldest first; resolves with how many were deleted. Pending, in-flight
   * and dead entries are never deleted. A deleted entry no longer deduplicates: a redelivery of its
   * event after this is recorded and handled again, so keep `olderThanMs` well above how late a
   * transport may redeliver (minutes) — the inbox's default retention is 7 days.
   */
  prune(params: { olderThanMs: number; limit?: number | undefined }): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Outbox

export interface OutboxEntry {
  readonly id: string;
  /** Topic to publish to. */
  readonly topic: string;
  readonly event: EventEnvelope;
  readonly leaseToken: string;
}

/** The rows of an {@link OutboxStore.claimHeld} claim, held while its function runs. */
export interface HeldOutboxClaim {
  /** The claimed rows, in add order (their `leaseToken` is empty: the claim holds them, not a lease). */
  readonly entries: readonly OutboxEntry[];
  /**
   * Marks rows of this claim published (entries not of this claim are ignored). They stay
   * published when the claim ends, whether its function resolves or throws. Rejects (a
   * retryable `ConnectionError`) when the claim was given up — held idle past `holdMs`, its
   * connection lost: its rows are claimable again, and may be published twice.
   */
  markPublished(entries: readonly OutboxEntry[]): Promise<void>;
}

export interface OutboxStore {
  /** Adds events in their own transaction. Use {@link StoreTx.outbox} inside yours. */
  add(params: { topic: string; events: readonly EventEnvelope[] }): Promise<void>;
  /**
   * Claims unpublished rows (leased), in add order. MUST NOT hand one row to two claimers with
   * overlapping leases; MUST NOT skip rows that commit after rows already claimed (no
   * `id > last_seen`); MUST keep per-key order: a row is not claimable while an earlier row of
   * its key (`event.key`) is unpublished. A row whose lease expired is claimable again.
   */
  claim(params: { limit: number; leaseMs: number }): Promise<OutboxEntry[]>;
  /** Marks rows published; fenced by lease token. */
  markPublished(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]>;
  /**
   * Optional: claims rows as `claim` does (add order, per-key order, never a row another claim
   * holds or a valid lease covers) and holds them while `fn` runs, without writing a lease — one
   * write per published row (the mark) instead of two. When `fn` settles the claim ends: rows
   * marked through `claim.markPublished` are published, the others are claimable again at once.
   * The store gives a claim up when none of its statements runs for `holdMs` (a paused process, a
   * publish that hangs): its rows are claimable again and its marks reject. Resolves with what
   * `fn` resolves; rejects with what it throws. `fn` is called even when no row is claimable.
   * With `removePublished` marked rows are deleted instead of kept published (a relay whose
   * retention is 0: a delete is cheaper than the update a kept row needs).
   * A store where holding rows would block other writers (SQLite) leaves it out; the relay then
   * uses `claim` and `markPublished`.
   */
  claimHeld?<T>(
    params: { limit: number; holdMs: number; removePublished?: boolean },
    fn: (claim: HeldOutboxClaim) => Promise<T>,
  ): Promise<T>;
  /**
   * Deletes rows published at or before `now - olderThanMs` (store clock); returns how many.
   * Unpublished rows are never deleted.
   */
  cleanup(params: { olderThanMs: number }): Promise<number>;
  /** Unpublished rows (claimed or not). */
  pending(): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Dead letters

export interface AttemptRecord {
  readonly attempt: number;
  readonly at: string;
  readonly error: AttemptError;
}

export interface DeadLetter {
  /** The inbox entry id (or a fresh id for undecodable messages). */
  readonly id: string;
  readonly consumer: string;
  /** The event, when it could be decoded. */
  readonly event?: EventEnvelope | undefined;
  /** The raw payload, when it could not be. */
  readonly raw?: string | undefined;
  readonly reason: string;
  readonly error: AttemptError;
  /** Attempts used (0 for dead letters made by {@link DeadLetterStore.add}). */
  readonly attempts: number;
  /**
   * One record per failed attempt, oldest first: each `fail()` and each attempt whose lease
   * expired (error name `LeaseExpiredError`). Empty for dead letters made by `add`.
   */
  readonly history: readonly AttemptRecord[];
  readonly deadAt: string;
}

export interface DeadLetterQuery {
  readonly consumer?: string | undefined;
  readonly type?: string | undefined;
  readonly limit?: number | undefined;
  /** Dead letters with id after this one (from a previous page). */
  readonly after?: string | undefined;
}

export interface DeadLetterStore {
  /** Dead-letters a message that never became an inbox entry (undecodable, unknown type, …). */
  add(params: {
    consumer: string;
    raw?: string;
    event?: EventEnvelope;
    reason: string;
    error: AttemptError;
  }): Promise<string>;
  /** Ordered by dead-letter id (ids are opaque; page with `after`). */
  list(query?: DeadLetterQuery): Promise<DeadLetter[]>;
  /** `undefined` for an unknown id (any string). */
  get(params: { id: string }): Promise<DeadLetter | undefined>;
  /**
   * Puts dead inbox entries back to pending with attempts and history reset, due now; they leave
   * the dead letters and take their place in their key's record order again. Dead letters made by
   * `add` (never inbox entries) and unknown ids are skipped. Returns the ids retried.
   */
  retry(params: { ids: readonly string[] }): Promise<string[]>;
  /**
   * Deletes dead letters: those in `ids`, else all; `consumer` narrows either. Returns how many.
   * A purged entry's (consumer, event id) pair is forgotten: recording it again creates a new entry.
   */
  purge(params?: { ids?: readonly string[]; consumer?: string }): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Batches: a group of events whose completion can be awaited (like a BullMQ flow's parent).

export interface BatchStatus {
  readonly id: string;
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
  /** `completed + failed >= total`. */
  readonly done: boolean;
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  readonly createdAt: string;
  readonly finishedAt?: string | undefined;
}

export interface BatchStore {
  /** Creates a batch. Idempotent by id: an existing batch is returned unchanged. */
  create(params: { id: string; total: number; metadata?: Record<string, string> }): Promise<BatchStatus>;
  /**
   * Counts one member done (`outcome` @default `"completed"`). MUST be idempotent per
   * (batch, member id): the first outcome counts, later calls change nothing. Rejects with a
   * `ValidationError` for an unknown batch.
   */
  complete(params: { id: string; memberId: string; outcome?: "completed" | "failed" }): Promise<BatchStatus>;
  status(params: { id: string }): Promise<BatchStatus | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Schemas

export interface SchemaRecord {
  readonly type: string;
  readonly version: number;
  readonly schema: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
}

export interface SchemaStore {
  /**
   * Stores a schema version. Idempotent for identical content (equal JSON; key order does not
   * matter); a different schema under an existing (type, version) MUST be rejected with a
   * `ValidationError`.
   */
  put(params: { type: string; version: number; schema: Record<string, unknown> }): Promise<void>;
  /** The given version, or the highest when `version` is absent. */
  get(params: { type: string; version?: number }): Promise<SchemaRecord | undefined>;
  /** Ordered by type, then version. */
  list(params?: { type?: string }): Promise<SchemaRecord[]>;
}

// ---------------------------------------------------------------------------------------------
// Transactions

/** The store inside one transaction; `client` is the driver handle a handler writes through. */
export interface StoreTx<TClient = unknown> {
  readonly client: TClient;
  append(events: readonly EventEnvelope[]): Promise<AppendResult>;
  /**
   * `complete` returns each outcome at call time, fenced like {@link InboxStore.complete}; a
   * `completed` entry is completed if and only if the transaction commits. On `lease-lost` the
   * caller should throw, so the handler's writes roll back. A store that cannot hold the entry
   * until commit (the memory store) MUST re-check the lease at commit and, when it was lost
   * meanwhile, apply nothing and reject with an `EventferryError` of code `LEASE_LOST`.
   */
  readonly inbox: Pick<InboxStore, "complete">;
  readonly outbox: Pick<OutboxStore, "add">;
  /**
   * The single-write path of the inbox, where the store offers it (optional: an inbox falls back to
   * record → claim → complete without it). A store that offers it passes the `admit.*` cases of the
   * conformance suite.
   */
  readonly admission?: InboxAdmission<TClient> | undefined;
}

/**
 * Admission: record inbox entries inside a transaction and handle the ones that can be handled at
 * once in the same transaction, so that an event costs one write — its entry, inserted already
 * completed — instead of an insert, a claim and an update.
 *
 * The caller (the inbox) runs, for each input admitted `run`, in order, its handler inside
 * {@link InboxAdmission.savepoint}; when a handler fails (or is not run, e.g. because an earlier
 * entry of its key failed) it calls {@link InboxAdmission.reopen} for it before the transaction
 * ends. If the transaction rolls back, nothing was recorded: the transport redelivers.
 */
export interface InboxAdmission<TClient = unknown> {
  /**
   * Records `entries` like {@link InboxStore.record} (idempotent by consumer + event id, in input
   * order), inside the transaction. Returns one outcome per input, in order:
   *
   * - `run` — inserted already **completed**, at attempt 1, with `id`. Given only when the event is
   *   due (no `deliverAt`, or `deliverAt` not after the store's now) and no unfinished entry
   *   (pending or in flight) of the same consumer and key exists, neither stored nor earlier in
   *   this call. A concurrent admission of the same event waits for this transaction (a unique
   *   index) and then reports `duplicate`; concurrent admissions of one key are serialised, so two
   *   transactions never both `run` entries of one key at once.
   * - `recorded` — inserted pending, exactly as `record` would (a claim hands it out later).
   * - `duplicate` — the pair exists already (also when it is completed or dead).
   */
  admit(params: { entries: readonly InboxRecordInput[] }): Promise<AdmitOutcome[]>;
  /**
   * Turns entries admitted `run` in this transaction back into work: with `error`, attempt 1
   * failed (added to the history) and the entry is retried after `retryInMs` — or dead-lettered
   * when `deadLetter` is true or `maxAttempts` is 1; without `error`, the entry becomes pending at
   * attempt 0 (it was not run). One round trip per call.
   */
  reopen(params: { entries: readonly ReopenInput[] }): Promise<ReopenOutcome[]>;
  /**
   * Runs `fn` in a nested transaction (a savepoint): when `fn` throws, only the writes made
   * inside it are undone and the error is rethrown; the outer transaction goes on. The nested
   * `tx` writes through the same connection. A store MAY open the savepoint lazily, on the
   * first write, so a handler that writes nothing costs nothing.
   */
  savepoint<T>(fn: (tx: StoreTx<TClient>) => Promise<T>): Promise<T>;
}

/** One outcome of {@link InboxAdmission.admit}. */
export type AdmitOutcome =
  | { readonly kind: "run"; readonly id: string }
  | { readonly kind: "recorded" }
  | { readonly kind: "duplicate" };

/** One input of {@link InboxAdmission.reopen}. */
export interface ReopenInput {
  /** The id of an entry admitted `run` in this transaction. */
  readonly id: string;
  /** The failure of attempt 1; absent when the entry was not run. */
  readonly error?: AttemptError | undefined;
  /** Retry after this many ms (store clock). @default 0 */
  readonly retryInMs?: number | undefined;
  readonly deadLetter?: boolean | undefined;
  /** Dead-letter reason. @default `max attempts (N) reached` or `dead-lettered after attempt 1: …` */
  readonly reason?: string | undefined;
}

/** What {@link InboxAdmission.reopen} did to one entry; `unknown` when no completed entry of this id exists. */
export type ReopenOutcome = "retry-scheduled" | "dead-lettered" | "requeued" | "unknown";

export interface StoreFeatures {
  /** Other processes may share this store (SQLite file, PostgreSQL). */
  readonly shared: boolean;
  /** The store can wake consumers in other processes (LISTEN/NOTIFY). */
  readonly crossProcessNotify: boolean;
}

export interface Store<TClient = unknown> {
  /** e.g. `memory`, `sqlite`, `postgres`. */
  readonly name: string;
  readonly features: StoreFeatures;
  /** Creates or upgrades tables. Idempotent and safe to run from several processes at once. */
  migrate(): Promise<void>;
  /**
   * Runs `fn` in one transaction: commits when it resolves (resolving with its result), rolls
   * back when it throws (rejecting with the error it threw).
   */
  transaction<T>(fn: (tx: StoreTx<TClient>) => Promise<T>): Promise<T>;
  /**
   * Optional: a {@link StoreTx} writing through `client`, a connection the caller holds inside a
   * transaction of their own (after their `BEGIN`). The store never begins, commits, rolls back or
   * releases it: what `tx.outbox.add` (or `append`) writes exists if and only if the caller's
   * transaction commits. Offered where the driver allows it (PostgreSQL).
   *
   * @example
   * const client = await pool.connect();
   * await client.query("BEGIN");
   * await client.query("INSERT INTO orders …");
   * await publishInTransaction(store.joinTransaction!(client), "events", [event]);
   * await client.query("COMMIT");
   */
  joinTransaction?(client: TClient): StoreTx<TClient>;
  /** Appends to the log. MUST be idempotent by event id. One round trip per call. */
  append(events: readonly EventEnvelope[]): Promise<AppendResult>;
  /** Reads the log in position order. */
  read(query?: EventQuery): AsyncIterable<StoredEvent>;
  readonly inbox: InboxStore;
  readonly outbox: OutboxStore;
  readonly deadLetters: DeadLetterStore;
  readonly batches: BatchStore;
  readonly schemas: SchemaStore;
  /** The store's clock. */
  now(): Promise<Date>;
  /**
   * Resolves when new inbox or outbox rows may be there (in-process signal, NOTIFY), or after
   * `timeoutMs`, or when `signal` aborts (it resolves, never rejects, on abort). A hint only:
   * callers poll as a fallback.
   */
  waitForChange(params: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  /** Never rejects: a closed or unreachable store reports `unhealthy`. */
  health(): Promise<HealthReport>;
  /**
   * Idempotent; wakes pending `waitForChange` calls. Afterwards every other method rejects with an
   * `EventferryError` of code `CLOSED`.
   */
  close(): Promise<void>;
}

export type { Priority };
