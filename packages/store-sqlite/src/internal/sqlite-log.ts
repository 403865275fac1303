import { compileGlob, type EventEnvelope } from "@eventferry/core";
import type { AppendResult, EventQuery, StoredEvent } from "@eventferry/store";
import { encodeEnvelope, invalid, iso, numbered } from "./envelope.js";
import type { SqliteContext } from "./sqlite-context.js";

/** Default page size of `read`. */
export const DEFAULT_PAGE_SIZE = 500;

interface LogRow {
  position: number;
  type: string;
  recorded_ms: number;
  json: string;
}

/** The event log: append-only, idempotent by event id (a UNIQUE index), position = rowid. */
export class SqliteLog {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async append(events: readonly EventEnvelope[]): Promise<AppendResult> {
    if (!Array.isArray(events)) throw invalid("append needs an array of events");
    const facts = events.map(encodeEnvelope);
    this.#ctx.ensureOpen();
    const table = this.#ctx.t("events");
    return this.#ctx.write("append", () => {
      const now = this.#ctx.nowMs();
      const insert = this.#ctx.stmt(
        `INSERT INTO ${table} (id, type, key, occurred_ms, recorded_ms, json) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      );
      const inserted: string[] = [];
      const duplicates: string[] = [];
      for (const f of facts) {
        if (insert.run(f.id, f.type, f.key, f.occurredMs, now, f.json).changes > 0) inserted.push(f.id);
        else duplicates.push(f.id);
      }
      return { inserted, duplicates };
    });
  }

  read(query: EventQuery = {}): AsyncIterable<StoredEvent> {
    const ctx = this.#ctx;
    const table = ctx.t("events");
    return {
      async *[Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
        ctx.ensureOpen();
        const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
        if (!Number.isInteger(pageSize) || pageSize < 1)
          throw invalid(`pageSize must be >= 1, got ${pageSize}`);
        const limit = query.limit ?? Number.POSITIVE_INFINITY;
        if (!(limit >= 0)) throw invalid(`limit must be >= 0, got ${String(query.limit)}`);
        const match = query.pattern !== undefined ? compileGlob(query.pattern) : undefined;
        const types = query.types ? JSON.stringify([...query.types]) : null;
        const from = query.from ? query.from.getTime() : null;
        const until = query.until ? query.until.getTime() : null;
        let after = Math.max(0, Math.floor(query.afterPosition ?? 0));
        let yielded = 0;
        const sql = `SELECT position, type, recorded_ms, json FROM ${table}
          WHERE position > ?1 AND (?2 IS NULL OR type IN (SELECT value FROM json_each(?2)))
            AND (?3 IS NULL OR key = ?3) AND (?4 IS NULL OR occurred_ms >= ?4) AND (?5 IS NULL OR occurred_ms < ?5)
          ORDER BY position LIMIT ?6`;
        while (yielded < limit) {
          const rows = await ctx.run(
            "read",
            () =>
              ctx.stmt(sql).all(numbered(after, types, query.key ?? null, from, until, pageSize)) as LogRow[],
          );
          if (rows.length === 0) return;
          after = (rows[rows.length - 1] as LogRow).position;
          for (const r of rows) {
            if (match && !match(r.type)) continue;
            yield { ...JSON.parse(r.json), position: r.position, recordedAt: iso(r.recorded_ms) };
            if (++yielded >= limit) return;
          }
        }
      },
    };
  }
}
