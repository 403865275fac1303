import type { EventEnvelope } from "@eventferry/core";
import type { AttemptError, DeadLetter, DeadLetterQuery, DeadLetterStore } from "@eventferry/store";
import { copyAttemptError } from "@eventferry/store";
import { decodeEnvelope, encodeEnvelope, invalid, iso, numbered } from "./envelope.js";
import { newId } from "./ids.js";
import type { SqliteContext } from "./sqlite-context.js";

interface DeadRow {
  id: string;
  consumer: string;
  json: string | null;
  raw: string | null;
  reason: string;
  error: string | null;
  attempts: number;
  history: string;
  dead_ms: number;
}

/**
 * Dead letters: dead inbox entries (status `dead`, retryable) and messages dead-lettered with
 * `add` (the `dead_letters` table, never retried). Listed together, ordered by id (UUIDv7).
 */
export class SqliteDeadLetters implements DeadLetterStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  /** Both kinds as one relation. */
  #union(): string {
    const inbox = this.#ctx.t("inbox");
    const added = this.#ctx.t("dead_letters");
    return `SELECT id, consumer, type, json, NULL AS raw, coalesce(reason, '') AS reason, last_error AS error,
              attempt AS attempts, history, finished_ms AS dead_ms FROM ${inbox} WHERE status = 'dead'
            UNION ALL
            SELECT id, consumer, type, json, raw, reason, error, 0, '[]', dead_ms FROM ${added}`;
  }

  async add(params: {
    consumer: string;
    raw?: string;
    event?: EventEnvelope;
    reason: string;
    error: AttemptError;
  }): Promise<string> {
    if (typeof params?.consumer !== "string" || params.consumer === "") {
      throw invalid("deadLetters.add needs a consumer");
    }
    if (typeof params.reason !== "string") throw invalid("deadLetters.add needs a reason");
    const facts = params.event !== undefined ? encodeEnvelope(params.event) : undefined;
    this.#ctx.ensureOpen();
    const id = newId();
    await this.#ctx.write("deadLetters.add", () => {
      this.#ctx
        .stmt(
          `INSERT INTO ${this.#ctx.t("dead_letters")} (id, consumer, type, json, raw, reason, error, dead_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          params.consumer,
          facts?.type ?? null,
          facts?.json ?? null,
          params.raw === undefined ? null : String(params.raw),
          params.reason,
          JSON.stringify(copyAttemptError(params.error)),
          this.#ctx.nowMs(),
        );
    });
    return id;
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    this.#ctx.ensureOpen();
    const limit = query.limit ?? -1;
    return this.#ctx.run("deadLetters.list", () =>
      (
        this.#ctx
          .stmt(
            `SELECT * FROM (${this.#union()}) WHERE (?1 IS NULL OR consumer = ?1) AND (?2 IS NULL OR type = ?2)
             AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4`,
          )
          .all(numbered(query.consumer ?? null, query.type ?? null, query.after ?? null, limit)) as DeadRow[]
      ).map(view),
    );
  }

  async get(params: { id: string }): Promise<DeadLetter | undefined> {
    this.#ctx.ensureOpen();
    return this.#ctx.run("deadLetters.get", () => {
      const row = this.#ctx.stmt(`SELECT * FROM (${this.#union()}) WHERE id = ?`).get(String(params?.id)) as
        | DeadRow
        | undefined;
      return row ? view(row) : undefined;
    });
  }

  async retry(params: { ids: readonly string[] }): Promise<string[]> {
    this.#ctx.ensureOpen();
    const ids = [...new Set((params?.ids ?? []).map(String))];
    if (ids.length === 0) return [];
    const done = await this.#ctx.write("deadLetters.retry", () => {
      const now = this.#ctx.nowMs();
      const rows = this.#ctx
        .stmt(
          `UPDATE ${this.#ctx.t("inbox")} SET status = 'pending', attempt = 0, history = '[]', last_error = NULL,
             reason = NULL, finished_ms = NULL, lease_token = NULL, due_ms = ?
           WHERE status = 'dead' AND id IN (SELECT value FROM json_each(?)) RETURNING id`,
        )
        .all(now, JSON.stringify(ids)) as Array<{ id: string }>;
      return new Set(rows.map((r) => r.id));
    });
    if (done.size > 0) this.#ctx.changed();
    return ids.filter((id) => done.has(id));
  }

  async purge(params: { ids?: readonly string[]; consumer?: string } = {}): Promise<number> {
    this.#ctx.ensureOpen();
    const ids = params.ids ? JSON.stringify(params.ids.map(String)) : null;
    const consumer = params.consumer ?? null;
    const filter =
      "(?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) AND (?2 IS NULL OR consumer = ?2)";
    return this.#ctx.write("deadLetters.purge", () => {
      const a = this.#ctx
        .stmt(`DELETE FROM ${this.#ctx.t("inbox")} WHERE status = 'dead' AND ${filter}`)
        .run(numbered(ids, consumer)).changes;
      const b = this.#ctx
        .stmt(`DELETE FROM ${this.#ctx.t("dead_letters")} WHERE ${filter}`)
        .run(numbered(ids, consumer)).changes;
      return a + b;
    });
  }
}

function view(r: DeadRow): DeadLetter {
  const error = r.error ? (JSON.parse(r.error) as AttemptError) : { name: "Error", message: r.reason };
  return {
    id: r.id,
    consumer: r.consumer,
    ...(r.json !== null ? { event: decodeEnvelope(r.json) } : {}),
    ...(r.raw !== null ? { raw: r.raw } : {}),
    reason: r.reason,
    error,
    attempts: r.attempts,
    history: JSON.parse(r.history),
    deadAt: iso(r.dead_ms),
  };
}
