import type { EventEnvelope } from "@eventferry/core";
import type { CompleteOutcome, LeaseRef, OutboxEntry, OutboxStore } from "@eventferry/store";
import { decodeEnvelope, encodeEnvelope, invalid, numbered } from "./envelope.js";
import { newId } from "./ids.js";
import type { SqliteContext } from "./sqlite-context.js";

/**
 * The SQLite outbox: rows in add order; a row is claimable when unpublished, not validly leased,
 * and no earlier unpublished row of its key exists.
 */
export class SqliteOutbox implements OutboxStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async add(params: { topic: string; events: readonly EventEnvelope[] }): Promise<void> {
    if (typeof params?.topic !== "string" || params.topic === "") throw invalid("outbox.add needs a topic");
    const rows = (params.events ?? []).map(encodeEnvelope);
    this.#ctx.ensureOpen();
    if (rows.length === 0) return;
    const outbox = this.#ctx.t("outbox");
    await this.#ctx.write("outbox.add", () => {
      const insert = this.#ctx.stmt(`INSERT INTO ${outbox} (id, topic, key, json) VALUES (?, ?, ?, ?)`);
      for (const f of rows) insert.run(newId(), params.topic, f.key, f.json);
    });
    this.#ctx.changed();
  }

  async claim(params: { limit: number; leaseMs: number }): Promise<OutboxEntry[]> {
    const { limit, leaseMs } = params ?? ({} as { limit: number; leaseMs: number });
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    this.#ctx.ensureOpen();
    if (limit <= 0) return [];
    const outbox = this.#ctx.t("outbox");
    const rows = await this.#ctx.write("outbox.claim", () => {
      const now = this.#ctx.nowMs();
      return this.#ctx
        .stmt(
          `UPDATE ${outbox} SET status = 'in-flight', lease_token = lower(hex(randomblob(16))), lease_expires_ms = ?1 + ?2
           WHERE seq IN (
             SELECT o.seq FROM ${outbox} o
             WHERE o.status <> 'published' AND (o.status = 'pending' OR o.lease_expires_ms <= ?1)
               AND (o.key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM ${outbox} p WHERE p.key = o.key AND p.seq < o.seq AND p.status <> 'published'))
             ORDER BY o.seq LIMIT ?3)
           RETURNING id, seq, topic, json, lease_token`,
        )
        .all(numbered(now, Math.ceil(leaseMs), limit)) as Array<{
        id: string;
        seq: number;
        topic: string;
        json: string;
        lease_token: string;
      }>;
    });
    rows.sort((a, b) => a.seq - b.seq);
    return rows.map((r) => ({
      id: r.id,
      topic: r.topic,
      event: decodeEnvelope(r.json),
      leaseToken: r.lease_token,
    }));
  }

  async markPublished(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    if (entries.length === 0) return [];
    const outbox = this.#ctx.t("outbox");
    const done = await this.#ctx.write("outbox.markPublished", () => {
      const now = this.#ctx.nowMs();
      const rows = this.#ctx
        .stmt(
          `UPDATE ${outbox} SET status = 'published', lease_token = NULL, published_ms = ?
           WHERE status = 'in-flight' AND (id, lease_token) IN
             (SELECT json_extract(value, '$.id'), json_extract(value, '$.t') FROM json_each(?)) RETURNING id`,
        )
        .all(
          now,
          JSON.stringify(entries.map((r) => ({ id: String(r?.id), t: String(r?.leaseToken) }))),
        ) as Array<{
        id: string;
      }>;
      return new Set(rows.map((r) => r.id));
    });
    const seen = new Set<string>();
    return entries.map((r): CompleteOutcome => {
      const id = String(r?.id);
      if (done.has(id) && !seen.has(id)) {
        seen.add(id);
        return "completed";
      }
      return "lease-lost";
    });
  }

  async cleanup(params: { olderThanMs: number }): Promise<number> {
    const olderThanMs = params?.olderThanMs;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw invalid(`olderThanMs must be >= 0, got ${String(olderThanMs)}`);
    }
    this.#ctx.ensureOpen();
    const outbox = this.#ctx.t("outbox");
    return this.#ctx.write("outbox.cleanup", () => {
      const now = this.#ctx.nowMs();
      return this.#ctx
        .stmt(`DELETE FROM ${outbox} WHERE status = 'published' AND published_ms <= ?`)
        .run(now - olderThanMs).changes;
    });
  }

  async pending(): Promise<number> {
    this.#ctx.ensureOpen();
    const outbox = this.#ctx.t("outbox");
    return this.#ctx.run(
      "outbox.pending",
      () =>
        (
          this.#ctx.stmt(`SELECT count(*) AS n FROM ${outbox} WHERE status <> 'published'`).get() as {
            n: number;
          }
        ).n,
    );
  }
}
