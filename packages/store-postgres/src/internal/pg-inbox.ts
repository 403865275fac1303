import type { EventEnvelope } from "@eventferry/core";
import type {
  AdmitOutcome,
  ClaimParams,
  CompleteOutcome,
  FailOutcome,
  FailParams,
  InboxEntry,
  InboxRecordInput,
  InboxStats,
  InboxStore,
  LeaseRef,
  RecordResult,
  ReopenInput,
  ReopenOutcome,
} from "@eventferry/store";
import {
  checkRecordInput,
  copyAttemptError,
  LEASE_EXPIRED_ERROR_NAME,
  LEASE_EXPIRED_REASON,
  withoutNul,
} from "@eventferry/store";
import type { PgContext, Queryable } from "./context.js";
import { CheckedOutClient, iso, isUuid } from "./context.js";
import { entryId, entrySeq } from "./entry-id.js";
import { envelopeRow, invalid } from "./envelope.js";
import { COMPONENT } from "./names.js";

const leaseExpiredError = (alias: string): string =>
  `jsonb_build_object('name', '${LEASE_EXPIRED_ERROR_NAME}', 'message', 'the lease of attempt ' || ${alias}.attempt || ' expired before the attempt finished')`;

/**
 * How many pending rows, in claim order, the claim examines before it looks for ready keys one key
 * at a time instead (see `claimSql`).
 */
export function claimScanBound(limit: number): number {
  return limit * 2 + 100;
}

/**
 * How much further than its scan bound a claim looks, once, when its scan was full and it found
 * nothing to take (rows locked by concurrent claims, or behind busy keys).
 */
export const CLAIM_FURTHER_FACTOR = 8;

/** At most this many keys are visited by one claim's walk over keys. */
export const CLAIM_KEY_WALK_CAP = 1_000;

/**
 * The claim statement (see README "Operations"). $1 consumers, $2 limit, $3 lease ms, $4 worker,
 * $5 scan bound (`claimScanBound`).
 *
 * Per consumer, the first $5 takeable rows in claim order (priority, due time, seq) are examined,
 * read through `inbox_claim` (every unfinished row): pending and due, or leased with the lease run
 * out. Leased rows whose lease still runs are stepped over — at most the entries in flight. Of these, a
 * lease run out after the last attempt is dead-lettered; the rest that are first among their
 * key's unfinished entries ("heads") are candidates, locked in claim order with SKIP LOCKED (a row
 * another claimer took meanwhile fails the re-check and is skipped). The scan's rows are sorted
 * first and joined back by seq: the join keeps their order, so locking stops once $2 rows are
 * taken, and only those are read again and checked for their key (sorting after the join read all
 * $5: half of a 500-row claim's candidate step). Not `seq = ANY(…)` with the row conditions beside
 * it, which the planner answered with a bitmap scan of every pending row through the claim index
 * (7 of 29 ms of a 500-row claim over 100k pending rows). With many keys nearly every row is a head and this fills a batch at
 * once; when it does not, `walkClaimSql` looks further.
 *
 * No index holds a column the claim writes (status, attempt, lease, worker, history): the lease is
 * a heap-only (HOT) update, written beside the row with no index entry (see `LEASED_FILLFACTOR`).
 */
export function claimSql(inbox: string): string {
  return `WITH scan AS MATERIALIZED (
  SELECT cn.name AS consumer, s.seq, s.key, s.exhausted, s.priority, s.due_at
    FROM unnest($1::text[]) AS cn(name)
   CROSS JOIN LATERAL (
         SELECT a.seq, a.key, a.attempt >= a.max_attempts AS exhausted, a.priority, a.due_at
           FROM ${inbox} a
          WHERE a.consumer = cn.name AND a.finished_at IS NULL AND a.due_at <= now() AND ${TAKEABLE("a")}
          ORDER BY a.priority, a.due_at, a.seq
          LIMIT $5) s
), ${expiredCte(inbox, "scan")}, candidates AS MATERIALIZED (
  SELECT a.seq
    FROM (SELECT * FROM scan ORDER BY priority, due_at, seq) s JOIN ${inbox} a ON a.seq = s.seq
   WHERE NOT s.exhausted
     AND (s.key IS NULL OR NOT EXISTS (
            SELECT 1 FROM ${inbox} b
             WHERE b.consumer = s.consumer AND b.key = s.key AND b.seq < s.seq AND b.${UNFINISHED}))
     AND ${READY("a")}
   ORDER BY s.priority, s.due_at, s.seq
   LIMIT $2
   FOR UPDATE OF a SKIP LOCKED
), taken AS (
${takeCandidates(inbox)}
)
SELECT *, false AS scan_full FROM taken
UNION ALL
-- One more row, only when this claim came back short though some consumer's first $5 takeable rows
-- are all there: the front waits behind busy keys, and walkClaimSql should look further.
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true
 WHERE CASE WHEN (SELECT count(*) FROM taken) < $2   -- CASE: the front is counted only for a short claim
            THEN EXISTS (SELECT 1 FROM unnest($1::text[]) AS cn(name) WHERE ${FRONT_FULL(inbox)})
            ELSE false END`;
}

/**
 * The second look of a claim that `claimSql` left short (same parameters; $2 what is still
 * wanted). Only when the first $5 takeable rows of a consumer are all there are — a full scan that
 * found too few heads means the front of the queue waits behind busy keys (40k entries on 50
 * keys, say) — it walks the keys with unfinished entries, one probe of `inbox_key` per key,
 * taking each key's first unfinished entry when it is pending and due, or its lease ran out (the
 * first CLAIM_KEY_WALK_CAP keys, in key order); a head whose lease ran out after its last attempt
 * is dead-lettered. Without it a claim would examine every blocked row to return nothing. A
 * separate statement: inside the first one, PostgreSQL's re-check of rows other claimers had just
 * updated re-ran the walk for each such row.
 */
export function walkClaimSql(inbox: string): string {
  return `WITH walk AS MATERIALIZED (
  SELECT heads.seq, heads.exhausted
    FROM unnest($1::text[]) AS cn(name)
   CROSS JOIN LATERAL (
         WITH RECURSIVE keys (key, visited) AS (
           SELECT (SELECT k.key FROM ${inbox} k
                    WHERE k.consumer = cn.name AND k.key IS NOT NULL AND k.${UNFINISHED}
                    ORDER BY k.key LIMIT 1), 1
            WHERE ${FRONT_FULL(inbox)}
           UNION ALL
           SELECT (SELECT k.key FROM ${inbox} k
                    WHERE k.consumer = cn.name AND k.key IS NOT NULL AND k.${UNFINISHED} AND k.key > w.key
                    ORDER BY k.key LIMIT 1), w.visited + 1
             FROM keys w
            WHERE w.key IS NOT NULL AND w.visited < ${CLAIM_KEY_WALK_CAP}
         )
         SELECT h.seq, h.attempt >= h.max_attempts AS exhausted
           FROM keys w
          CROSS JOIN LATERAL (SELECT k.seq, k.status, k.due_at, k.attempt, k.max_attempts, k.lease_expires_at
                                FROM ${inbox} k
                               WHERE k.consumer = cn.name AND k.key = w.key AND k.${UNFINISHED}
                               ORDER BY k.seq LIMIT 1) h
          WHERE w.key IS NOT NULL AND h.due_at <= now() AND ${TAKEABLE("h")}) heads
), ${expiredCte(inbox, "walk")}, candidates AS MATERIALIZED (
  SELECT a.seq
    FROM walk w JOIN ${inbox} a ON a.seq = w.seq
   WHERE NOT w.exhausted AND ${READY("a")}
   ORDER BY a.priority, a.due_at, a.seq
   LIMIT $2
   FOR UPDATE OF a SKIP LOCKED
)
${takeCandidates(inbox)}`;
}

/**
 * Dead-letters the rows of `from` (a CTE of seq + exhausted) whose lease ran out after their last
 * attempt, with a LeaseExpiredError history record. Runs whether or not the statement reads it.
 */
function expiredCte(inbox: string, from: string): string {
  return `expired AS (
  UPDATE ${inbox} d
     SET status = 'dead', reason = '${LEASE_EXPIRED_REASON}', lease_token = NULL, finished_at = now(),
         last_error = ${leaseExpiredError("d")},
         history = d.history || jsonb_build_array(jsonb_build_object('attempt', d.attempt, 'at', now(), 'error', ${leaseExpiredError("d")}))
   WHERE d.seq IN (SELECT x.seq FROM ${from} f JOIN ${inbox} x ON x.seq = f.seq
                    WHERE f.exhausted AND x.status = 'in-flight' AND x.finished_at IS NULL
                      AND x.lease_expires_at <= now() AND x.attempt >= x.max_attempts
                    FOR UPDATE OF x SKIP LOCKED)
  RETURNING 1
)`;
}

/** The update that takes the candidates: lease, attempt, and the expired lease's history record. */
function takeCandidates(inbox: string): string {
  return `UPDATE ${inbox} u
   SET status = 'in-flight', attempt = u.attempt + 1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + $3::float8 * interval '1 millisecond', worker = $4,
       history = CASE WHEN u.status = 'in-flight'
                 THEN u.history || jsonb_build_array(jsonb_build_object('attempt', u.attempt, 'at', now(), 'error', ${leaseExpiredError("u")}))
                 ELSE u.history END,
       last_error = CASE WHEN u.status = 'in-flight' THEN ${leaseExpiredError("u")} ELSE u.last_error END
  FROM candidates c
 WHERE u.seq = c.seq
RETURNING u.consumer, u.event, u.attempt, u.max_attempts, u.lease_token, u.lease_expires_at,
          u.priority, u.due_at, u.seq,
          coalesce(u.last_error ->> 'name' = '${LEASE_EXPIRED_ERROR_NAME}', false) AS expired_last`;
}

/**
 * Pending or leased: the rows `inbox_claim` and `inbox_key` hold. Written as `finished_at IS NULL`
 * (true exactly for status pending and in-flight) so that no index depends on `status`.
 */
const UNFINISHED = "finished_at IS NULL";
/**
 * A row a claim may act on (with UNFINISHED and due): pending with attempts left, or leased with
 * the lease run out (taken again with attempts left, dead-lettered without).
 */
const TAKEABLE = (alias: string): string =>
  `(${alias}.status = 'pending' AND ${alias}.attempt < ${alias}.max_attempts
    OR ${alias}.status = 'in-flight' AND ${alias}.lease_expires_at <= now())`;
/**
 * True when consumer `cn.name` has at least $5 takeable rows — the bounded scan of a claim came
 * back full (read through the claim index, in claim order, as the scan itself does).
 */
const FRONT_FULL = (inbox: string): string =>
  `(SELECT count(*) FROM (SELECT 1 FROM ${inbox} a
     WHERE a.consumer = cn.name AND a.finished_at IS NULL AND a.due_at <= now() AND ${TAKEABLE("a")}
     ORDER BY a.priority, a.due_at, a.seq
     LIMIT $5) s) >= $5`;
/** A row a claim takes: unfinished, due, takeable with attempts left (the re-check after locking). */
const READY = (alias: string): string =>
  `(${alias}.finished_at IS NULL AND ${alias}.due_at <= now() AND ${alias}.attempt < ${alias}.max_attempts
    AND ${TAKEABLE(alias)})`;

interface ClaimRow {
  /** Only in the first claim statement's answer: true on its extra last row (see claimSql). */
  scan_full?: boolean;
  consumer: string;
  event: EventEnvelope;
  attempt: number;
  max_attempts: number;
  lease_token: string;
  lease_expires_at: Date;
  priority: number;
  due_at: Date;
  seq: string;
  expired_last: boolean;
}

/** Splits lease refs into entries' seqs and tokens (sent to the database) and the rest (lease-lost). */
function refArrays(entries: readonly LeaseRef[]): { seqs: string[]; tokens: string[] } {
  const seqs: string[] = [];
  const tokens: string[] = [];
  for (const r of entries) {
    const seq = entrySeq(r?.id);
    if (seq !== undefined && isUuid(r?.leaseToken)) {
      seqs.push(seq);
      tokens.push(r.leaseToken);
    }
  }
  return { seqs, tokens };
}

/** The entry ids of rows a statement returned (`seq` as text). */
function idsOf(rows: readonly { seq: string }[]): Set<string> {
  return new Set(rows.map((r) => entryId(r.seq)));
}

function outcomes(entries: readonly LeaseRef[], done: ReadonlySet<string>): CompleteOutcome[] {
  const used = new Set<string>();
  return entries.map((r) => {
    if (done.has(r?.id) && !used.has(r.id)) {
      used.add(r.id);
      return "completed";
    }
    return "lease-lost";
  });
}

/** The inbox on PostgreSQL: one statement per call. */
export class PgInbox implements InboxStore {
  readonly #ctx: PgContext;
  readonly #claimSql: string;
  readonly #walkClaimSql: string;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
    this.#claimSql = claimSql(ctx.t.inbox);
    this.#walkClaimSql = walkClaimSql(ctx.t.inbox);
  }

  async record(params: { entries: readonly InboxRecordInput[] }): Promise<RecordResult> {
    this.#ctx.ensureOpen();
    const inputs = params?.entries ?? [];
    const rows = inputs.map((input) => {
      checkRecordInput(input, COMPONENT);
      return { c: input.consumer, m: input.maxAttempts, ...envelopeRow(input.event) };
    });
    if (rows.length === 0) return { inserted: 0, duplicates: 0 };
    const t = this.#ctx.t;
    const [row] = await this.#ctx.query<{ inserted: number }>(
      this.#ctx.pool,
      "inbox.record",
      `WITH ins AS (
  INSERT INTO ${t.inbox} (consumer, event_id, type, key, priority, occurred_at, event, max_attempts, due_at)
  SELECT x.c, x.i, x.t, x.k, x.p, x.o, x.e, x.m, coalesce(x.d, now())
    FROM jsonb_to_recordset($1::jsonb) AS x(c text, i text, t text, k text, p smallint, o timestamptz, e jsonb, m integer, d timestamptz)
  ON CONFLICT (consumer, event_id) DO NOTHING
  RETURNING 1
)
SELECT count(*)::int AS inserted, (SELECT count(*) FROM (SELECT pg_notify($2, '') FROM (SELECT 1 FROM ins LIMIT 1) one) n)::int AS notified FROM ins`,
      [JSON.stringify(rows), t.channel],
      this.#ctx.name("inbox_record"),
    );
    const inserted = row?.inserted ?? 0;
    if (inserted > 0) this.#ctx.changes.notify();
    return { inserted, duplicates: rows.length - inserted };
  }

  /**
   * {@link InboxAdmission.admit} on the transaction's connection: two statements when an input has
   * a key (advisory locks on the keys, in hash order, then the insert, whose snapshot sees what
   * the lock holders committed), one otherwise.
   */
  async admitOn(on: Queryable, params: { entries: readonly InboxRecordInput[] }): Promise<AdmitOutcome[]> {
    this.#ctx.ensureOpen();
    const inputs = params?.entries ?? [];
    const rows = inputs.map((input, n) => {
      checkRecordInput(input, COMPONENT);
      return { n, c: input.consumer, m: input.maxAttempts, ...envelopeRow(input.event) };
    });
    if (rows.length === 0) return [];
    const t = this.#ctx.t;
    const keyed = rows.filter((r) => r.k !== null);
    if (keyed.length > 0) {
      await this.#ctx.query(
        on,
        "inbox.admit",
        `SELECT pg_advisory_xact_lock(h) FROM (
  SELECT DISTINCT hashtextextended($3 || chr(1) || u.c || chr(1) || u.k, 0) AS h
    FROM unnest($1::text[], $2::text[]) AS u(c, k) ORDER BY h OFFSET 0) s`,
        [keyed.map((r) => r.c), keyed.map((r) => r.k), t.inbox],
        this.#ctx.name("inbox_admit_lock"),
      );
    }
    const inserted = await this.#ctx.query<{
      seq: string;
      consumer: string;
      event_id: string;
      status: string;
    }>(
      on,
      "inbox.admit",
      `WITH x AS MATERIALIZED (
  SELECT * FROM jsonb_to_recordset($1::jsonb)
      AS x(n integer, c text, i text, t text, k text, p smallint, o timestamptz, e jsonb, m integer, d timestamptz)
), blocked AS MATERIALIZED (
  SELECT q.c, q.k FROM (SELECT DISTINCT c, k FROM x WHERE k IS NOT NULL) q
   WHERE EXISTS (SELECT 1 FROM ${t.inbox} b
                  WHERE b.consumer = q.c AND b.key = q.k AND b.${UNFINISHED})
), flagged AS (
  SELECT x.*, ((x.d IS NULL OR x.d <= now())
           AND (x.k IS NULL OR (
                NOT EXISTS (SELECT 1 FROM blocked bl WHERE bl.c = x.c AND bl.k = x.k)
            AND NOT EXISTS (SELECT 1 FROM x y WHERE y.c = x.c AND y.k = x.k AND y.n < x.n AND y.d > now()))))
         AS run
    FROM x
), ins AS (
  INSERT INTO ${t.inbox} (consumer, event_id, type, key, priority, occurred_at, event, max_attempts, due_at,
                          status, attempt, finished_at)
  SELECT c, i, t, k, p, o, e, m, coalesce(d, now()),
         CASE WHEN run THEN 'completed' ELSE 'pending' END, CASE WHEN run THEN 1 ELSE 0 END,
         CASE WHEN run THEN now() END
    FROM flagged ORDER BY n
  ON CONFLICT (consumer, event_id) DO NOTHING
  RETURNING seq, consumer, event_id, status
)
SELECT seq, consumer, event_id, status,
       (SELECT count(*) FROM (SELECT pg_notify($2, '') FROM ins WHERE status = 'pending' LIMIT 1) z)::int AS notified
  FROM ins`,
      [JSON.stringify(rows), t.channel],
      this.#ctx.name("inbox_admit"),
    );
    const byPair = new Map<string, { seq: string; status: string }>();
    for (const r of inserted) byPair.set(`${r.consumer}\u0000${r.event_id}`, r);
    return rows.map((r): AdmitOutcome => {
      const pair = `${r.c}\u0000${r.i}`;
      const hit = byPair.get(pair);
      if (!hit) return { kind: "duplicate" };
      byPair.delete(pair);
      return hit.status === "completed" ? { kind: "run", id: entryId(hit.seq) } : { kind: "recorded" };
    });
  }

  /** {@link InboxAdmission.reopen} on the transaction's connection: one statement. */
  async reopenOn(on: Queryable, params: { entries: readonly ReopenInput[] }): Promise<ReopenOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    const rows = entries
      .filter((r) => entrySeq(r?.id) !== undefined)
      .map((r) => ({
        seq: entrySeq(r.id),
        err: r.error === undefined ? null : copyAttemptError(r.error),
        retry: Number.isFinite(r.retryInMs) && (r.retryInMs as number) > 0 ? r.retryInMs : 0,
        dead: r.deadLetter === true,
        reason: r.reason === undefined ? null : withoutNul(r.reason),
      }));
    if (rows.length === 0) return entries.map(() => "unknown");
    const t = this.#ctx.t;
    const updated = await this.#ctx.query<{ seq: string; status: string; requeued: boolean }>(
      on,
      "inbox.reopen",
      `WITH r AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, err jsonb, retry float8, dead boolean, reason text)
), u AS (
  UPDATE ${t.inbox} u
     SET status = CASE WHEN r.err IS NOT NULL AND (r.dead OR u.max_attempts <= 1) THEN 'dead' ELSE 'pending' END,
         attempt = CASE WHEN r.err IS NULL THEN 0 ELSE 1 END,
         history = CASE WHEN r.err IS NULL THEN '[]'::jsonb
                   ELSE jsonb_build_array(jsonb_build_object('attempt', 1, 'at', now(), 'error', r.err)) END,
         last_error = r.err,
         reason = CASE WHEN r.err IS NOT NULL AND (r.dead OR u.max_attempts <= 1)
                  THEN coalesce(r.reason, CASE WHEN r.dead
                       THEN 'dead-lettered after attempt 1: ' || (r.err ->> 'message')
                       ELSE 'max attempts (' || u.max_attempts || ') reached' END)
                  ELSE NULL END,
         due_at = CASE WHEN r.err IS NULL OR r.dead OR u.max_attempts <= 1 THEN u.due_at
                  ELSE now() + r.retry * interval '1 millisecond' END,
         finished_at = CASE WHEN r.err IS NOT NULL AND (r.dead OR u.max_attempts <= 1) THEN now() ELSE NULL END
    FROM r
   WHERE u.seq = r.seq AND u.status = 'completed'
  RETURNING u.seq, u.status, r.err IS NULL AS requeued
)
SELECT seq, status, requeued,
       (SELECT count(*) FROM (SELECT pg_notify($2, '') FROM u WHERE status = 'pending' LIMIT 1) z)::int AS notified
  FROM u`,
      [JSON.stringify(rows), t.channel],
      this.#ctx.name("inbox_reopen"),
    );
    const bySeq = new Map(updated.map((r) => [r.seq, r]));
    return entries.map((r): ReopenOutcome => {
      const seq = entrySeq(r?.id);
      const hit = seq === undefined ? undefined : bySeq.get(seq);
      if (!hit) return "unknown";
      bySeq.delete(hit.seq);
      return hit.status === "dead" ? "dead-lettered" : hit.requeued ? "requeued" : "retry-scheduled";
    });
  }

  async claim(params: ClaimParams): Promise<InboxEntry[]> {
    this.#ctx.ensureOpen();
    const { consumers, limit, leaseMs, worker } = params ?? ({} as ClaimParams);
    if (!Array.isArray(consumers)) throw invalid("claim needs a consumers array");
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    if (limit <= 0 || consumers.length === 0) return [];
    const bound = claimScanBound(limit);
    const rows = await this.#ctx.query<ClaimRow>(
      this.#ctx.pool,
      "inbox.claim",
      this.#claimSql,
      [consumers, limit, leaseMs, worker ?? null, bound],
      this.#ctx.name("inbox_claim"),
    );
    // One row may be the first statement's sign that the walk is worth a look (not an entry).
    const sign = rows.findIndex((r) => r.scan_full === true);
    const scanFull = sign >= 0;
    if (scanFull) rows.splice(sign, 1);
    if (scanFull && rows.length < limit) {
      for (const row of await this.#walkClaim(consumers, limit - rows.length, leaseMs, worker, bound))
        rows.push(row);
    }
    if (scanFull && rows.length === 0) {
      // Every row the scan saw was locked by claims running at the same time (several workers:
      // 3 claims of 100 hold the 300 rows a claim of 100 scans), or waits behind a busy key.
      // Look further once instead of coming back empty while work is waiting.
      const further = await this.#ctx.query<ClaimRow>(
        this.#ctx.pool,
        "inbox.claim",
        this.#claimSql,
        [consumers, limit, leaseMs, worker ?? null, bound * CLAIM_FURTHER_FACTOR],
        this.#ctx.name("inbox_claim"),
      );
      for (const row of further) if (row.scan_full !== true) rows.push(row);
    }
    rows.sort((a, b) =>
      a.priority !== b.priority
        ? a.priority - b.priority
        : a.due_at.getTime() !== b.due_at.getTime()
          ? a.due_at.getTime() - b.due_at.getTime()
          : Number(a.seq) - Number(b.seq),
    );
    return rows.map((r) => ({
      id: entryId(r.seq),
      consumer: r.consumer,
      event: r.event,
      attempt: r.attempt,
      maxAttempts: r.max_attempts,
      leaseToken: r.lease_token,
      leaseExpiresAt: iso(r.lease_expires_at),
      lastAttemptExpired: r.expired_last,
    }));
  }

  /**
   * `walkClaimSql` in a transaction of its own with JIT and bitmap scans off: planned with
   * generic estimates (a key range of unknown width), the walk's probes look expensive enough for
   * PostgreSQL to pick bitmap scans and JIT-compile the statement — half a second per claim,
   * measured — where each probe is one index descent.
   */
  async #walkClaim(
    consumers: readonly string[],
    limit: number,
    leaseMs: number,
    worker: string | undefined,
    bound: number,
  ): Promise<ClaimRow[]> {
    const held = await CheckedOutClient.from(this.#ctx.pool, "inbox.claim");
    const client = held.client;
    try {
      await this.#ctx.query(
        client,
        "inbox.claim",
        "BEGIN; SET LOCAL jit = off; SET LOCAL enable_bitmapscan = off",
      );
      const rows = await this.#ctx.query<ClaimRow>(
        client,
        "inbox.claim",
        this.#walkClaimSql,
        [consumers, limit, leaseMs, worker ?? null, bound],
        this.#ctx.name("inbox_claim_walk"),
      );
      await this.#ctx.query(client, "inbox.claim", "COMMIT");
      return rows;
    } catch (error) {
      held.fail(error);
      await client.query("ROLLBACK").then(
        () => {
          held.broken = undefined;
        },
        () => {},
      );
      throw error;
    } finally {
      held.release();
    }
  }

  complete(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    return this.completeOn(this.#ctx.pool, params);
  }

  /** `complete` on a given connection (the handler's transaction). */
  async completeOn(on: Queryable, params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    const { seqs, tokens } = refArrays(entries);
    if (seqs.length === 0) return entries.map(() => "lease-lost");
    const rows = await this.#ctx.query<{ seq: string }>(
      on,
      "inbox.complete",
      `UPDATE ${this.#ctx.t.inbox} u
   SET status = 'completed', lease_token = NULL, finished_at = now(), history = '[]', last_error = NULL
  FROM unnest($1::bigint[], $2::uuid[]) AS r(seq, token)
 WHERE u.seq = r.seq AND u.lease_token = r.token AND u.status = 'in-flight'
RETURNING u.seq`,
      [seqs, tokens],
      this.#ctx.name("inbox_complete"),
    );
    if (rows.length > 0 && on === this.#ctx.pool) this.#ctx.changes.notify();
    return outcomes(entries, idsOf(rows));
  }

  async fail(params: FailParams): Promise<FailOutcome> {
    this.#ctx.ensureOpen();
    const seq = entrySeq(params?.id);
    if (seq === undefined || !isUuid(params.leaseToken)) return "lease-lost";
    const error = copyAttemptError(params.error);
    const delay =
      Number.isFinite(params.retryInMs) && (params.retryInMs as number) > 0 ? params.retryInMs : 0;
    const [row] = await this.#ctx.query<{ status: string }>(
      this.#ctx.pool,
      "inbox.fail",
      `UPDATE ${this.#ctx.t.inbox} u
   SET history = u.history || jsonb_build_array(jsonb_build_object('attempt', u.attempt, 'at', now(), 'error', $3::jsonb)),
       last_error = $3::jsonb,
       status = CASE WHEN $4::boolean OR u.attempt >= u.max_attempts THEN 'dead' ELSE 'pending' END,
       reason = CASE WHEN $4::boolean OR u.attempt >= u.max_attempts
                THEN coalesce($5::text, CASE WHEN $4::boolean
                     THEN 'dead-lettered after attempt ' || u.attempt || ': ' || ($3::jsonb ->> 'message')
                     ELSE 'max attempts (' || u.max_attempts || ') reached' END)
                ELSE NULL END,
       due_at = CASE WHEN $4::boolean OR u.attempt >= u.max_attempts THEN u.due_at
                ELSE now() + $6::float8 * interval '1 millisecond' END,
       finished_at = CASE WHEN $4::boolean OR u.attempt >= u.max_attempts THEN now() ELSE NULL END,
       lease_token = NULL
 WHERE u.seq = $1 AND u.lease_token = $2 AND u.status = 'in-flight'
RETURNING u.status`,
      [
        seq,
        params.leaseToken,
        JSON.stringify(error),
        params.deadLetter === true,
        params.reason === undefined ? null : withoutNul(params.reason),
        delay,
      ],
      this.#ctx.name("inbox_fail"),
    );
    if (!row) return "lease-lost";
    this.#ctx.changes.notify();
    return row.status === "dead" ? "dead-lettered" : "retry-scheduled";
  }

  async release(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    const { seqs, tokens } = refArrays(entries);
    if (seqs.length === 0) return entries.map(() => "lease-lost");
    const rows = await this.#ctx.query<{ seq: string }>(
      this.#ctx.pool,
      "inbox.release",
      `UPDATE ${this.#ctx.t.inbox} u
   SET status = 'pending', lease_token = NULL, attempt = greatest(u.attempt - 1, 0)
  FROM unnest($1::bigint[], $2::uuid[]) AS r(seq, token)
 WHERE u.seq = r.seq AND u.lease_token = r.token AND u.status = 'in-flight'
RETURNING u.seq, pg_notify($3, '')`,
      [seqs, tokens, this.#ctx.t.channel],
    );
    if (rows.length > 0) this.#ctx.changes.notify();
    return outcomes(entries, idsOf(rows));
  }

  async prune(params: { olderThanMs: number; limit?: number | undefined }): Promise<number> {
    this.#ctx.ensureOpen();
    const olderThanMs = params?.olderThanMs;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0)
      throw invalid(`prune needs olderThanMs >= 0, got ${String(olderThanMs)}`);
    const limit = params.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1)
      throw invalid(`prune limit must be an integer >= 1, got ${String(limit)}`);
    const t = this.#ctx.t;
    // Walks the primary key from the oldest entry: completed entries are found first, with no
    // index of their own (one would cost every admitted event a second B-tree insert).
    const [row] = await this.#ctx.query<{ n: number }>(
      this.#ctx.pool,
      "inbox.prune",
      `WITH gone AS (
  DELETE FROM ${t.inbox} WHERE seq IN (
    SELECT seq FROM ${t.inbox}
     WHERE status = 'completed' AND finished_at <= now() - $1::float8 * interval '1 millisecond'
     ORDER BY seq LIMIT $2)
  RETURNING 1)
SELECT count(*)::int AS n FROM gone`,
      [olderThanMs, limit],
    );
    return row?.n ?? 0;
  }

  async stats(params?: { consumers?: readonly string[] | undefined }): Promise<InboxStats> {
    this.#ctx.ensureOpen();
    const t = this.#ctx.t;
    const consumers = params?.consumers ? [...params.consumers] : null;
    const [row] = await this.#ctx.query<{
      pending: number;
      scheduled: number;
      in_flight: number;
      completed: number;
      dead: number;
      added: number;
      oldest: Date | null;
    }>(
      this.#ctx.pool,
      "inbox.stats",
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'pending' AND due_at > now())::int AS scheduled,
       count(*) FILTER (WHERE status = 'in-flight')::int AS in_flight,
       count(*) FILTER (WHERE status = 'completed')::int AS completed,
       count(*) FILTER (WHERE status = 'dead')::int AS dead,
       min(occurred_at) FILTER (WHERE status = 'pending') AS oldest,
       (SELECT count(*) FROM ${t.deadLetters} WHERE $1::text[] IS NULL OR consumer = ANY($1::text[]))::int AS added
  FROM ${t.inbox}
 WHERE $1::text[] IS NULL OR consumer = ANY($1::text[])`,
      [consumers],
    );
    return {
      pending: row?.pending ?? 0,
      scheduled: row?.scheduled ?? 0,
      inFlight: row?.in_flight ?? 0,
      completed: row?.completed ?? 0,
      dead: (row?.dead ?? 0) + (row?.added ?? 0),
      ...(row?.oldest ? { oldestPendingAt: iso(row.oldest) } : {}),
    };
  }
}
