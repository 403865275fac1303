import type { EventEnvelope } from "@eventferry/core";
import type { CompleteOutcome, HeldOutboxClaim, LeaseRef, OutboxEntry, OutboxStore } from "@eventferry/store";
import { storableEnvelope } from "@eventferry/store";
import { toStoreError } from "../classify-error.js";
import type { PgContext, Queryable } from "./context.js";
import { CheckedOutClient, isUuid } from "./context.js";
import { invalid } from "./envelope.js";
import { COMPONENT } from "./names.js";

/**
 * The rows a claim may take, in add order: unpublished, not validly leased, and no earlier
 * unpublished row of their key; `columns` of them. $1 limit.
 */
function candidatesSql(outbox: string, columns: string): string {
  return `SELECT ${columns} FROM ${outbox} o
 WHERE o.published_at IS NULL
   AND (o.lease_expires_at IS NULL OR o.lease_expires_at <= now())
   AND (o.key IS NULL OR NOT EXISTS (
        SELECT 1 FROM ${outbox} b WHERE b.key = o.key AND b.seq < o.seq AND b.published_at IS NULL))
 ORDER BY o.seq
 LIMIT $1`;
}

/** The outbox claim statement. $1 limit, $2 lease ms. */
export function outboxClaimSql(outbox: string): string {
  return `WITH candidates AS MATERIALIZED (
${candidatesSql(outbox, "o.seq")}
   FOR UPDATE SKIP LOCKED
)
UPDATE ${outbox} u
   SET lease_token = gen_random_uuid(), lease_expires_at = now() + $2::float8 * interval '1 millisecond'
  FROM candidates c
 WHERE u.seq = c.seq
RETURNING u.seq, u.topic, u.event, u.lease_token`;
}

/**
 * The held claim's statement: the claim's candidates, locked (`FOR UPDATE SKIP LOCKED`) instead of
 * leased. A row another transaction holds is skipped; a row behind it with its key is not
 * claimable (the held row is still unpublished). $1 limit.
 */
export function outboxHoldSql(outbox: string): string {
  return `${candidatesSql(outbox, "o.seq, o.topic, o.event")}
 FOR UPDATE OF o SKIP LOCKED`;
}

/** An outbox row id: its seq, a positive bigint in decimal. */
function isSeq(value: unknown): value is string {
  return typeof value === "string" && /^[1-9][0-9]{0,17}$/.test(value);
}

/** Longest `holdMs` (PostgreSQL's `idle_in_transaction_session_timeout` is an int of ms). */
const MAX_HOLD_MS = 2_147_483_647;

/** The outbox on PostgreSQL. */
export class PgOutbox implements OutboxStore {
  readonly #ctx: PgContext;
  readonly #claimSql: string;
  readonly #holdSql: string;
  readonly #held: Slots;
  /**
   * Offered when the pool has at least two connections. A held claim keeps a connection while its
   * rows are published, and the publish may need one of its own (the `store:` transport on this
   * pool, a dead letter): at most `pool max − 1` claims hold one at a time, so one is always left.
   */
  readonly claimHeld?: OutboxStore["claimHeld"];

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
    this.#claimSql = outboxClaimSql(ctx.t.outbox);
    this.#holdSql = outboxHoldSql(ctx.t.outbox);
    const max = (ctx.pool as { options?: { max?: unknown } }).options?.max;
    this.#held = new Slots((typeof max === "number" && max > 0 ? max : 10) - 1);
    if (this.#held.size > 0) this.claimHeld = (params, fn) => this.#claimHeld(params, fn);
  }

  add(params: { topic: string; events: readonly EventEnvelope[] }): Promise<void> {
    return this.addOn(this.#ctx.pool, params);
  }

  /** `add` on a given connection (inside a transaction). */
  async addOn(on: Queryable, params: { topic: string; events: readonly EventEnvelope[] }): Promise<void> {
    this.#ctx.ensureOpen();
    if (typeof params?.topic !== "string" || params.topic === "") throw invalid("outbox.add needs a topic");
    // Validated as every stored envelope is; the outbox keeps only the key beside the event.
    const rows = (params.events ?? []).map((e) => ({ k: storableEnvelope(e, COMPONENT).key, e }));
    if (rows.length === 0) return;
    await this.#ctx.query(
      on,
      "outbox.add",
      `WITH ins AS (
  INSERT INTO ${this.#ctx.t.outbox} (topic, key, event)
  SELECT $1, x.k, x.e FROM json_to_recordset($2::json) AS x(k text, e json)
  RETURNING 1
)
SELECT pg_notify($3, '') FROM (SELECT 1 FROM ins LIMIT 1) one`,
      [params.topic, JSON.stringify(rows), this.#ctx.t.channel],
      this.#ctx.name("outbox_add"),
    );
    if (on === this.#ctx.pool) this.#ctx.changes.notify();
  }

  async claim(params: { limit: number; leaseMs: number }): Promise<OutboxEntry[]> {
    this.#ctx.ensureOpen();
    if (!Number.isInteger(params?.limit)) throw invalid("outbox.claim needs an integer limit");
    if (!Number.isFinite(params.leaseMs) || params.leaseMs <= 0) throw invalid("leaseMs must be > 0");
    if (params.limit <= 0) return [];
    const rows = await this.#ctx.query<{
      topic: string;
      event: EventEnvelope;
      lease_token: string;
      seq: string;
    }>(
      this.#ctx.pool,
      "outbox.claim",
      this.#claimSql,
      [params.limit, params.leaseMs],
      this.#ctx.name("outbox_claim"),
    );
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    return rows.map((r) => ({ id: r.seq, topic: r.topic, event: r.event, leaseToken: r.lease_token }));
  }

  /**
   * Holds the claimed rows with row locks in one transaction while `fn` runs; marks run in that
   * transaction, which commits when `fn` settles. `idle_in_transaction_session_timeout` (set
   * local to the transaction) is the claim's lease: PostgreSQL ends a session that sits idle in
   * the transaction for `holdMs`, which releases its rows.
   */
  async #claimHeld<T>(
    params: { limit: number; holdMs: number; removePublished?: boolean },
    fn: (claim: HeldOutboxClaim) => Promise<T>,
  ): Promise<T> {
    this.#ctx.ensureOpen();
    if (!Number.isInteger(params?.limit)) throw invalid("outbox.claimHeld needs an integer limit");
    if (!Number.isFinite(params.holdMs) || params.holdMs <= 0) throw invalid("holdMs must be > 0");
    if (typeof fn !== "function") throw invalid("outbox.claimHeld needs a function");
    if (params.limit <= 0) return fn({ entries: [], markPublished: async () => {} });
    await this.#held.take();
    try {
      return await this.#hold(params, fn);
    } finally {
      this.#held.give();
    }
  }

  async #hold<T>(
    params: { limit: number; holdMs: number; removePublished?: boolean },
    fn: (claim: HeldOutboxClaim) => Promise<T>,
  ): Promise<T> {
    const ctx = this.#ctx;
    // The session ended by the server (the hold timeout, a terminated backend) is kept, not thrown.
    const held = await CheckedOutClient.from(ctx.pool, "outbox.claimHeld");
    const client = held.client;
    let open = false;
    try {
      const holdMs = Math.min(MAX_HOLD_MS, Math.ceil(params.holdMs));
      try {
        await ctx.run(
          client,
          "outbox.claimHeld",
          `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${holdMs}`,
        );
      } catch (error) {
        held.fail(error);
        throw toStoreError(error, "outbox.claimHeld");
      }
      open = true;
      const rows = await ctx.query<{ seq: string; topic: string; event: EventEnvelope }>(
        client,
        "outbox.claimHeld",
        this.#holdSql,
        [params.limit],
        ctx.name("outbox_hold"),
      );
      if (rows.length === 0) {
        open = false;
        await ctx.run(client, "outbox.claimHeld", "COMMIT");
        return await fn({ entries: [], markPublished: async () => {} });
      }
      const seqOf = new Map<OutboxEntry, string>();
      const entries = rows.map((r) => {
        const entry: OutboxEntry = { id: r.seq, topic: r.topic, event: r.event, leaseToken: "" };
        seqOf.set(entry, r.seq);
        return entry;
      });
      const remove = params.removePublished === true;
      let ended = false;
      const claim: HeldOutboxClaim = {
        entries,
        markPublished: async (list) => {
          if (ended) throw invalid("outbox.claimHeld: the claim has ended; mark inside its function");
          const seqs: string[] = [];
          for (const e of list ?? []) {
            const seq = seqOf.get(e);
            if (seq !== undefined) seqs.push(seq);
          }
          if (seqs.length === 0) return;
          try {
            await ctx.query(
              client,
              "outbox.markPublished",
              remove
                ? `DELETE FROM ${ctx.t.outbox} WHERE seq = ANY($1::bigint[])`
                : `UPDATE ${ctx.t.outbox} SET published_at = now(), lease_token = NULL, lease_expires_at = NULL
 WHERE seq = ANY($1::bigint[])`,
              [seqs],
              ctx.name(remove ? "outbox_remove_held" : "outbox_mark_held"),
            );
          } catch (error) {
            held.fail(error);
            throw error;
          }
          for (const e of list) seqOf.delete(e);
        },
      };
      let result: T;
      try {
        result = await fn(claim);
      } catch (error) {
        ended = true;
        // Keep what was marked (those rows were published); the rest return to the outbox.
        open = false;
        await ctx.run(client, "outbox.claimHeld", "COMMIT").catch((e: Error) => held.fail(e));
        throw error;
      }
      ended = true;
      open = false;
      try {
        await ctx.run(client, "outbox.claimHeld", "COMMIT");
      } catch (error) {
        held.fail(error);
        throw toStoreError(error, "outbox.claimHeld");
      }
      return result;
    } catch (error) {
      if (open) {
        await ctx.run(client, "outbox.claimHeld", "ROLLBACK").catch((e: Error) => held.fail(e));
      }
      throw error;
    } finally {
      held.release();
    }
  }

  async markPublished(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    const seqs: string[] = [];
    const tokens: string[] = [];
    for (const r of entries) {
      if (isSeq(r?.id) && isUuid(r?.leaseToken)) {
        seqs.push(r.id);
        tokens.push(r.leaseToken);
      }
    }
    const rows =
      seqs.length === 0
        ? []
        : await this.#ctx.query<{ id: string }>(
            this.#ctx.pool,
            "outbox.markPublished",
            `UPDATE ${this.#ctx.t.outbox} u SET published_at = now(), lease_token = NULL
  FROM unnest($1::bigint[], $2::uuid[]) AS r(seq, token)
 WHERE u.seq = r.seq AND u.lease_token = r.token AND u.published_at IS NULL
RETURNING u.seq::text AS id`,
            [seqs, tokens],
            this.#ctx.name("outbox_mark"),
          );
    const done = new Set(rows.map((r) => r.id));
    return entries.map((r) => (done.delete(r?.id) ? "completed" : "lease-lost"));
  }

  async cleanup(params: { olderThanMs: number }): Promise<number> {
    this.#ctx.ensureOpen();
    const ms = params?.olderThanMs;
    if (!Number.isFinite(ms) || ms < 0) throw invalid("olderThanMs must be >= 0");
    const rows = await this.#ctx.query<{ n: number }>(
      this.#ctx.pool,
      "outbox.cleanup",
      `WITH del AS (DELETE FROM ${this.#ctx.t.outbox}
 WHERE published_at IS NOT NULL AND published_at <= now() - $1::float8 * interval '1 millisecond' RETURNING 1)
SELECT count(*)::int AS n FROM del`,
      [ms],
    );
    return rows[0]?.n ?? 0;
  }

  async pending(): Promise<number> {
    this.#ctx.ensureOpen();
    const rows = await this.#ctx.query<{ n: number }>(
      this.#ctx.pool,
      "outbox.pending",
      `SELECT count(*)::int AS n FROM ${this.#ctx.t.outbox} WHERE published_at IS NULL`,
    );
    return rows[0]?.n ?? 0;
  }
}

/** A counting semaphore: `take` waits while all `size` slots are taken. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
