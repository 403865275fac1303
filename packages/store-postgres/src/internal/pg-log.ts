import { compileGlob, type EventEnvelope } from "@eventferry/core";
import type { AppendResult, EventQuery, StoredEvent } from "@eventferry/store";
import type { PgContext, Queryable } from "./context.js";
import { iso } from "./context.js";
import { envelopeRow, invalid } from "./envelope.js";

/** The event log: append (one statement) and keyset-paged reads by position. */
export class PgLog {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  async append(on: Queryable, events: readonly EventEnvelope[]): Promise<AppendResult> {
    this.#ctx.ensureOpen();
    if (!Array.isArray(events)) throw invalid("append needs an array of events");
    const rows = events.map(envelopeRow);
    if (rows.length === 0) return { inserted: [], duplicates: [] };
    const inserted = await this.#ctx.query<{ id: string }>(
      on,
      "append",
      `INSERT INTO ${this.#ctx.t.events} (id, type, key, occurred_at, event)
SELECT x.i, x.t, x.k, x.o, x.e
  FROM jsonb_to_recordset($1::jsonb) AS x(i text, t text, k text, o timestamptz, e jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING id`,
      [JSON.stringify(rows)],
      this.#ctx.name("append"),
    );
    const fresh = new Set(inserted.map((r) => r.id));
    const out: AppendResult = { inserted: [], duplicates: [] };
    for (const r of rows) {
      if (fresh.delete(r.i)) (out.inserted as string[]).push(r.i);
      else (out.duplicates as string[]).push(r.i);
    }
    return out;
  }

  async *read(query: EventQuery = {}): AsyncIterable<StoredEvent> {
    this.#ctx.ensureOpen();
    const pageSize = query.pageSize ?? 500;
    if (!Number.isInteger(pageSize) || pageSize < 1) throw invalid(`pageSize must be an integer >= 1`);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const matches = query.pattern !== undefined ? compileGlob(query.pattern) : undefined;
    let after = query.afterPosition ?? 0;
    let left = limit;
    while (left > 0) {
      const size = matches ? pageSize : Math.min(pageSize, left);
      const rows = await this.#ctx.query<{ position: string; recorded_at: Date; event: EventEnvelope }>(
        this.#ctx.pool,
        "read",
        `SELECT position, recorded_at, event FROM ${this.#ctx.t.events}
 WHERE position > $1
   AND ($2::text[] IS NULL OR type = ANY($2::text[]))
   AND ($3::text IS NULL OR key = $3)
   AND ($4::timestamptz IS NULL OR occurred_at >= $4)
   AND ($5::timestamptz IS NULL OR occurred_at < $5)
 ORDER BY position
 LIMIT $6`,
        [
          after,
          query.types ? [...query.types] : null,
          query.key ?? null,
          query.from ?? null,
          query.until ?? null,
          size,
        ],
      );
      for (const r of rows) {
        after = Number(r.position);
        if (matches && !matches(r.event.type)) continue;
        yield { ...r.event, position: Number(r.position), recordedAt: iso(r.recorded_at) };
        if (--left <= 0) return;
      }
      if (rows.length < size) return;
    }
  }
}
