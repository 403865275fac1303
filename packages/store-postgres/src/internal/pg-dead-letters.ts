import type { EventEnvelope } from "@eventferry/core";
import type {
  AttemptError,
  AttemptRecord,
  DeadLetter,
  DeadLetterQuery,
  DeadLetterStore,
} from "@eventferry/store";
import { copyAttemptError, withoutNul } from "@eventferry/store";
import type { PgContext } from "./context.js";
import { iso, isUuid } from "./context.js";
import { entryIdSql, entrySeq } from "./entry-id.js";
import { envelopeRow, invalid } from "./envelope.js";

/**
 * A dead inbox entry. `reason IS NOT NULL` (set exactly on dead entries) matches `inbox_dead`'s
 * predicate: no index of the inbox may depend on `status`, or a claim could not be a HOT update.
 */
const DEAD = "reason IS NOT NULL AND status = 'dead'";

interface DeadRow {
  id: string;
  consumer: string;
  event: EventEnvelope | null;
  raw: string | null;
  reason: string;
  error: AttemptError | null;
  attempts: number;
  history: AttemptRecord[];
  dead_at: Date;
}

/** Dead letters: dead inbox entries (status `dead`) plus messages added by `add`, ordered by id. */
export class PgDeadLetters implements DeadLetterStore {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  #union(): string {
    const t = this.#ctx.t;
    return `(SELECT ${entryIdSql("seq")} AS id, consumer, type, event, NULL::text AS raw, reason, last_error AS error, attempt AS attempts, history, finished_at AS dead_at
   FROM ${t.inbox} WHERE ${DEAD}
 UNION ALL
 SELECT id, consumer, type, event, raw, reason, error, 0, '[]'::jsonb, dead_at FROM ${t.deadLetters}) d`;
  }

  async add(params: {
    consumer: string;
    raw?: string;
    event?: EventEnvelope;
    reason: string;
    error: AttemptError;
  }): Promise<string> {
    this.#ctx.ensureOpen();
    if (typeof params?.consumer !== "string" || params.consumer === "")
      throw invalid("a dead letter needs a consumer");
    if (typeof params.reason !== "string") throw invalid("a dead letter needs a reason");
    const event = params.event !== undefined ? envelopeRow(params.event).e : null;
    // PostgreSQL refuses U+0000 in text and jsonb: a raw payload of binary garbage, or an error
    // message quoting it, is stored with U+FFFD in its place rather than failing the write.
    const error = copyAttemptError(params.error);
    const [row] = await this.#ctx.query<{ id: string }>(
      this.#ctx.pool,
      "deadLetters.add",
      `INSERT INTO ${this.#ctx.t.deadLetters} (consumer, type, event, raw, reason, error)
VALUES ($1, $2, $3::jsonb, $4, $5, $6::jsonb) RETURNING id`,
      [
        params.consumer,
        event?.type ?? null,
        event ? JSON.stringify(event) : null,
        params.raw === undefined ? null : withoutNul(String(params.raw)),
        withoutNul(params.reason),
        JSON.stringify(error),
      ],
    );
    return (row as { id: string }).id;
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    this.#ctx.ensureOpen();
    const rows = await this.#ctx.query<DeadRow>(
      this.#ctx.pool,
      "deadLetters.list",
      `SELECT * FROM ${this.#union()}
 WHERE ($1::text IS NULL OR consumer = $1) AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR id::text > $3)
 ORDER BY id::text
 LIMIT $4`,
      [query.consumer ?? null, query.type ?? null, query.after ?? null, query.limit ?? null],
    );
    return rows.map(view);
  }

  async get(params: { id: string }): Promise<DeadLetter | undefined> {
    this.#ctx.ensureOpen();
    if (!isUuid(params?.id)) return undefined;
    const t = this.#ctx.t;
    // A dead inbox entry is found by its seq (its id is the seq written as a UUID), one added
    // with `add` by its id.
    const seq = entrySeq(params.id);
    const rows = await this.#ctx.query<DeadRow>(
      this.#ctx.pool,
      "deadLetters.get",
      seq === undefined
        ? `SELECT id, consumer, type, event, raw, reason, error, 0 AS attempts, '[]'::jsonb AS history, dead_at
             FROM ${t.deadLetters} WHERE id = $1::uuid`
        : `SELECT ${entryIdSql("seq")} AS id, consumer, type, event, NULL::text AS raw, reason, last_error AS error,
                  attempt AS attempts, history, finished_at AS dead_at
             FROM ${t.inbox} WHERE seq = $1::bigint AND ${DEAD}`,
      [seq ?? params.id],
    );
    return rows[0] ? view(rows[0]) : undefined;
  }

  async retry(params: { ids: readonly string[] }): Promise<string[]> {
    this.#ctx.ensureOpen();
    // Only dead inbox entries can be retried (a dead letter added with `add` has no entry).
    const ids = [...new Set(params?.ids ?? [])].filter((id) => entrySeq(id) !== undefined);
    if (ids.length === 0) return [];
    const rows = await this.#ctx.query<{ seq: string }>(
      this.#ctx.pool,
      "deadLetters.retry",
      `UPDATE ${this.#ctx.t.inbox}
   SET status = 'pending', attempt = 0, history = '[]', last_error = NULL, reason = NULL,
       finished_at = NULL, due_at = now(), lease_token = NULL
 WHERE seq = ANY($1::bigint[]) AND ${DEAD}
RETURNING seq, pg_notify($2, '')`,
      [ids.map((id) => entrySeq(id)), this.#ctx.t.channel],
    );
    if (rows.length > 0) this.#ctx.changes.notify();
    const done = new Set(rows.map((r) => r.seq));
    return ids.filter((id) => done.has(entrySeq(id) as string));
  }

  async purge(params: { ids?: readonly string[]; consumer?: string } = {}): Promise<number> {
    this.#ctx.ensureOpen();
    const t = this.#ctx.t;
    const ids = params.ids ? params.ids.filter(isUuid) : null;
    if (ids && ids.length === 0) return 0;
    // Entry ids name dead inbox entries (by seq); other ids, dead letters added with `add`.
    const seqs = ids ? ids.map(entrySeq).filter((s): s is string => s !== undefined) : null;
    const added = ids ? ids.filter((id) => entrySeq(id) === undefined) : null;
    const [row] = await this.#ctx.query<{ n: number }>(
      this.#ctx.pool,
      "deadLetters.purge",
      `WITH a AS (DELETE FROM ${t.inbox} WHERE ${DEAD} AND ($1::bigint[] IS NULL OR seq = ANY($1::bigint[]))
              AND ($3::text IS NULL OR consumer = $3) RETURNING 1),
     b AS (DELETE FROM ${t.deadLetters} WHERE ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
              AND ($3::text IS NULL OR consumer = $3) RETURNING 1)
SELECT ((SELECT count(*) FROM a) + (SELECT count(*) FROM b))::int AS n`,
      [seqs, added, params.consumer ?? null],
    );
    return row?.n ?? 0;
  }
}

function view(r: DeadRow): DeadLetter {
  return {
    id: r.id,
    consumer: r.consumer,
    ...(r.event ? { event: r.event } : {}),
    ...(r.raw !== null ? { raw: r.raw } : {}),
    reason: r.reason ?? "",
    error: r.error ?? { name: "Error", message: r.reason ?? "" },
    attempts: r.attempts,
    history: r.history ?? [],
    deadAt: iso(r.dead_at),
  };
}
