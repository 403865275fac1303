import type { EventEnvelope } from "@eventferry/core";
import type {
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
} from "@eventferry/store";
import {
  checkRecordInput,
  copyAttemptError,
  LEASE_EXPIRED_ERROR_NAME,
  LEASE_EXPIRED_REASON,
} from "@eventferry/store";
import type { PgContext, Queryable } from "./context.js";
import { iso, isUuid } from "./context.js";
import { envelopeRow, invalid } from "./envelope.js";
import { COMPONENT } from "./names.js";

const leaseExpiredError = (alias: string): string =>
  `jsonb_build_object('name', '${LEASE_EXPIRED_ERROR_NAME}', 'message', 'the lease of attempt ' || ${alias}.attempt || ' expired before the attempt finished')`;

/** The claim statement (see README "Operations"). $1 consumers, $2 limit, $3 lease ms, $4 worker. */
export function claimSql(inbox: string): string {
  return `WITH expired AS (
  UPDATE ${inbox} d
     SET status = 'dead', reason = '${LEASE_EXPIRED_REASON}', lease_token = NULL, finished_at = now(),
         last_error = ${leaseExpiredError("d")},
         history = d.history || jsonb_build_array(jsonb_build_object('attempt', d.attempt, 'at', now(), 'error', ${leaseExpiredError("d")}))
   WHERE d.seq IN (SELECT x.seq FROM ${inbox} x
                    WHERE x.consumer = ANY($1::text[]) AND x.status = 'in-flight'
                      AND x.lease_expires_at <= now() AND x.attempt >= x.max_attempts
                    FOR UPDATE SKIP LOCKED)
  RETURNING 1
), candidates AS MATERIALIZED (
  SELECT p.seq
    FROM unnest($1::text[]) AS cn(name)
   CROSS JOIN LATERAL (
         SELECT * FROM (SELECT a.seq, a.priority, a.due_at
            FROM ${inbox} a
           WHERE a.consumer = cn.name AND a.status = 'pending' AND a.due_at <= now()
             AND a.attempt < a.max_attempts
             AND (a.key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM ${inbox} b
                   WHERE b.consumer = a.consumer AND b.key = a.key AND b.seq < a.seq
                     AND b.status IN ('pending', 'in-flight')))
           ORDER BY a.priority, a.due_at, a.seq
           LIMIT $2
           FOR UPDATE SKIP LOCKED) ready
         UNION ALL
         SELECT * FROM (SELECT a.seq, a.priority, a.due_at
            FROM ${inbox} a
           WHERE a.consumer = cn.name AND a.status = 'in-flight' AND a.lease_expires_at <= now()
             AND a.attempt < a.max_attempts
           ORDER BY a.lease_expires_at
           LIMIT $2
           FOR UPDATE SKIP LOCKED) expired_leases
       ) p
   ORDER BY p.priority, p.due_at, p.seq
   LIMIT $2
)
UPDATE ${inbox} u
   SET status = 'in-flight', attempt = u.attempt + 1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + $3::float8 * interval '1 millisecond', worker = $4,
       history = CASE WHEN u.status = 'in-flight'
                 THEN u.history || jsonb_build_array(jsonb_build_object('attempt', u.attempt, 'at', now(), 'error', ${leaseExpiredError("u")}))
                 ELSE u.history END,
       last_error = CASE WHEN u.status = 'in-flight' THEN ${leaseExpiredError("u")} ELSE u.last_error END
  FROM candidates c
 WHERE u.seq = c.seq
RETURNING u.id, u.consumer, u.event, u.attempt, u.max_attempts, u.lease_token, u.lease_expires_at,
          u.priority, u.due_at, u.seq, (SELECT count(*) FROM expired)::int AS expired`;
}

interface ClaimRow {
  id: string;
  consumer: string;
  event: EventEnvelope;
  attempt: number;
  max_attempts: number;
  lease_token: string;
  lease_expires_at: Date;
  priority: number;
  due_at: Date;
  seq: string;
}

/** Splits lease refs into UUID-shaped ones (sent to the database) and the rest (lease-lost). */
function refArrays(entries: readonly LeaseRef[]): { ids: string[]; tokens: string[] } {
  const ids: string[] = [];
  const tokens: string[] = [];
  for (const r of entries) {
    if (isUuid(r?.id) && isUuid(r?.leaseToken)) {
      ids.push(r.id);
      tokens.push(r.leaseToken);
    }
  }
  return { ids, tokens };
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

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
    this.#claimSql = claimSql(ctx.t.inbox);
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

  async claim(params: ClaimParams): Promise<InboxEntry[]> {
    this.#ctx.ensureOpen();
    const { consumers, limit, leaseMs, worker } = params ?? ({} as ClaimParams);
    if (!Array.isArray(consumers)) throw invalid("claim needs a consumers array");
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    if (limit <= 0 || consumers.length === 0) return [];
    const rows = await this.#ctx.query<ClaimRow>(
      this.#ctx.pool,
      "inbox.claim",
      this.#claimSql,
      [consumers, limit, leaseMs, worker ?? null],
      this.#ctx.name("inbox_claim"),
    );
    rows.sort((a, b) =>
      a.priority !== b.priority
        ? a.priority - b.priority
        : a.due_at.getTime() !== b.due_at.getTime()
          ? a.due_at.getTime() - b.due_at.getTime()
          : Number(a.seq) - Number(b.seq),
    );
    return rows.map((r) => ({
      id: r.id,
      consumer: r.consumer,
      event: r.event,
      attempt: r.attempt,
      maxAttempts: r.max_attempts,
      leaseToken: r.lease_token,
      leaseExpiresAt: iso(r.lease_expires_at),
    }));
  }

  complete(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    return this.completeOn(this.#ctx.pool, params);
  }

  /** `complete` on a given connection (the handler's transaction). */
  async completeOn(on: Queryable, params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    const { ids, tokens } = refArrays(entries);
    if (ids.length === 0) return entries.map(() => "lease-lost");
    const rows = await this.#ctx.query<{ id: string }>(
      on,
      "inbox.complete",
      `UPDATE ${this.#ctx.t.inbox} u
   SET status = 'completed', lease_token = NULL, finished_at = now(), history = '[]', last_error = NULL
  FROM unnest($1::uuid[], $2::uuid[]) AS r(id, token)
 WHERE u.id = r.id AND u.lease_token = r.token AND u.status = 'in-flight'
RETURNING u.id`,
      [ids, tokens],
      this.#ctx.name("inbox_complete"),
    );
    if (rows.length > 0 && on === this.#ctx.pool) this.#ctx.changes.notify();
    return outcomes(entries, new Set(rows.map((r) => r.id)));
  }

  async fail(params: FailParams): Promise<FailOutcome> {
    this.#ctx.ensureOpen();
    if (!isUuid(params?.id) || !isUuid(params.leaseToken)) return "lease-lost";
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
 WHERE u.id = $1 AND u.lease_token = $2 AND u.status = 'in-flight'
RETURNING u.status`,
      [
        params.id,
        params.leaseToken,
        JSON.stringify(error),
        params.deadLetter === true,
        params.reason ?? null,
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
    const { ids, tokens } = refArrays(entries);
    if (ids.length === 0) return entries.map(() => "lease-lost");
    const rows = await this.#ctx.query<{ id: string }>(
      this.#ctx.pool,
      "inbox.release",
      `UPDATE ${this.#ctx.t.inbox} u
   SET status = 'pending', lease_token = NULL, attempt = greatest(u.attempt - 1, 0)
  FROM unnest($1::uuid[], $2::uuid[]) AS r(id, token)
 WHERE u.id = r.id AND u.lease_token = r.token AND u.status = 'in-flight'
RETURNING u.id, pg_notify($3, '')`,
      [ids, tokens, this.#ctx.t.channel],
    );
    if (rows.length > 0) this.#ctx.changes.notify();
    return outcomes(entries, new Set(rows.map((r) => r.id)));
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
