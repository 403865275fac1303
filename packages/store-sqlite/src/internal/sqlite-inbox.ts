import { randomBytes } from "node:crypto";
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
} from "@eventferry/store";
import { SQLITE_COMPONENT } from "../classify-error.js";

import { decodeEnvelope, type EnvelopeFacts, encodeEnvelope, invalid, iso, numbered } from "./envelope.js";
import { newId } from "./ids.js";
import type { SqliteContext } from "./sqlite-context.js";

/** A row a claim may take: what ordering needs, and what the claimed entry is made of. */
interface CandidateRow {
  seq: number;
  priority: number;
  due_ms: number;
  head: number;
  id: string;
  consumer: string;
  json: string;
  attempt: number;
  max_attempts: number;
  expired_last: number;
}

/** The columns of a {@link CandidateRow} besides `head` (table alias `i`). */
const CANDIDATE_COLUMNS = `i.seq, i.priority, i.due_ms, i.id, i.consumer, i.json, i.attempt, i.max_attempts,
  coalesce(json_extract(i.last_error, '$.name') = '${LEASE_EXPIRED_ERROR_NAME}', 0) AS expired_last`;

/** How many pending rows, in claim order, a claim examines before it walks the keys instead. */
export function claimScanBound(limit: number): number {
  return limit * 2 + 100;
}

/** At most this many keys are visited by one claim's walk over keys. */
export const CLAIM_KEY_WALK_CAP = 1_000;

function refsJson(entries: readonly LeaseRef[] | undefined): string {
  return JSON.stringify((entries ?? []).map((r) => ({ id: String(r?.id), t: String(r?.leaseToken) })));
}

function outcomes(entries: readonly LeaseRef[] | undefined, done: ReadonlySet<string>): CompleteOutcome[] {
  const seen = new Set<string>();
  return (entries ?? []).map((r) => {
    const id = String(r?.id);
    if (done.has(id) && !seen.has(id)) {
      seen.add(id);
      return "completed";
    }
    return "lease-lost";
  });
}

/** The seq a lease token of this store starts with (`<seq>.<random>`), if it has that shape. */
function leaseSeq(token: string): number | undefined {
  const dot = token.indexOf(".");
  if (dot <= 0 || dot > 15) return undefined;
  const seq = Number(token.slice(0, dot));
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

/** Lease tokens for claimed rows, `<seq>.<24 hex digits>` (complete finds an entry by the seq). */
function leaseTokens(rows: readonly CandidateRow[]): string[] {
  const random = randomBytes(12 * rows.length).toString("hex");
  return rows.map((r, i) => `${r.seq}.${random.slice(i * 24, i * 24 + 24)}`);
}

/**
 * Checks each input and encodes its event once: consecutive inputs of one event (its handlers'
 * entries) share the encoding.
 */
function encodeInputs(inputs: readonly InboxRecordInput[]): EnvelopeFacts[] {
  const facts: EnvelopeFacts[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i] as InboxRecordInput;
    checkRecordInput(input, SQLITE_COMPONENT);
    const previous = i > 0 ? (inputs[i - 1] as InboxRecordInput) : undefined;
    facts[i] =
      previous?.event === input.event ? (facts[i - 1] as EnvelopeFacts) : encodeEnvelope(input.event);
  }
  return facts;
}

/** Matches `(id, lease_token)` against a JSON array of `{id, t}` refs. */
const REFS_MATCH =
  "(id, lease_token) IN (SELECT json_extract(value, '$.id'), json_extract(value, '$.t') FROM json_each(?))";

/** The SQLite inbox: one statement per batch on every hot path. */
export class SqliteInbox implements InboxStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async record(params: { entries: readonly InboxRecordInput[] }): Promise<RecordResult> {
    const inputs = params?.entries ?? [];
    const facts = encodeInputs(inputs);
    this.#ctx.ensureOpen();
    if (inputs.length === 0) return { inserted: 0, duplicates: 0 };
    const inbox = this.#ctx.t("inbox");
    const result = await this.#ctx.write("inbox.record", () => {
      const now = this.#ctx.nowMs();
      const insert = this.#ctx.stmt(
        `INSERT INTO ${inbox} (id, consumer, event_id, type, key, priority, occurred_at, occurred_ms, max_attempts, status, due_ms, json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (consumer, event_id) DO NOTHING`,
      );
      let inserted = 0;
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i] as InboxRecordInput;
        const f = facts[i] as EnvelopeFacts;
        inserted += insert.run(
          newId(),
          input.consumer,
          f.id,
          f.type,
          f.key,
          f.priority,
          f.occurredAt,
          f.occurredMs,
          input.maxAttempts,
          f.deliverMs ?? now,
          f.json,
        ).changes;
      }
      return { inserted, duplicates: inputs.length - inserted };
    });
    if (result.inserted > 0) this.#ctx.changed();
    return result;
  }

  /**
   * {@link InboxAdmission.admit}, inside the store's transaction (which holds SQLite's one write
   * lock, so admissions of one key never overlap).
   */
  async admit(params: { entries: readonly InboxRecordInput[] }): Promise<AdmitOutcome[]> {
    const inputs = params?.entries ?? [];
    const facts = encodeInputs(inputs);
    this.#ctx.ensureOpen();
    if (inputs.length === 0) return [];
    const inbox = this.#ctx.t("inbox");
    const result = await this.#ctx.write("inbox.admit", () => {
      const now = this.#ctx.nowMs();
      const unfinished = this.#ctx.stmt(
        `SELECT 1 FROM ${inbox} WHERE consumer = ? AND key = ? AND status IN ('pending', 'in-flight') LIMIT 1`,
      );
      const insert = this.#ctx.stmt(
        `INSERT INTO ${inbox} (id, consumer, event_id, type, key, priority, occurred_at, occurred_ms, max_attempts,
                               status, due_ms, attempt, finished_ms, json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (consumer, event_id) DO NOTHING`,
      );
      // (consumer, key) → true while an unfinished entry of the key exists (stored or recorded here).
      const blocked = new Map<string, boolean>();
      let pending = 0;
      const outcomes = inputs.map((input, i): AdmitOutcome => {
        const f = facts[i] as EnvelopeFacts;
        const pair = f.key === null ? undefined : `${input.consumer}\u0000${f.key}`;
        let isBlocked = false;
        if (pair !== undefined) {
          let known = blocked.get(pair);
          if (known === undefined) {
            known = unfinished.get(input.consumer, f.key) !== undefined;
            blocked.set(pair, known);
          }
          isBlocked = known;
        }
        const run = !isBlocked && (f.deliverMs === null || f.deliverMs <= now);
        const id = newId();
        const inserted =
          insert.run(
            id,
            input.consumer,
            f.id,
            f.type,
            f.key,
            f.priority,
            f.occurredAt,
            f.occurredMs,
            input.maxAttempts,
            run ? "completed" : "pending",
            f.deliverMs ?? now,
            run ? 1 : 0,
            run ? now : null,
            f.json,
          ).changes > 0;
        if (!inserted) return { kind: "duplicate" };
        if (run) return { kind: "run", id };
        pending++;
        if (pair !== undefined) blocked.set(pair, true);
        return { kind: "recorded" };
      });
      return { outcomes, pending };
    });
    if (result.pending > 0) this.#ctx.changed();
    return result.outcomes;
  }

  /** {@link InboxAdmission.reopen}, inside the store's transaction. */
  async reopen(params: { entries: readonly ReopenInput[] }): Promise<ReopenOutcome[]> {
    const entries = params?.entries ?? [];
    this.#ctx.ensureOpen();
    if (entries.length === 0) return [];
    const inbox = this.#ctx.t("inbox");
    const outcomes = await this.#ctx.write("inbox.reopen", () => {
      const now = this.#ctx.nowMs();
      const find = this.#ctx.stmt(`SELECT max_attempts FROM ${inbox} WHERE id = ? AND status = 'completed'`);
      const update = this.#ctx.stmt(
        `UPDATE ${inbox} SET status = ?, attempt = ?, history = ?, last_error = ?, reason = ?, due_ms = coalesce(?, due_ms),
           finished_ms = ? WHERE id = ?`,
      );
      return entries.map((entry): ReopenOutcome => {
        const id = String(entry?.id);
        const row = find.get(id) as { max_attempts: number } | undefined;
        if (!row) return "unknown";
        if (entry.error === undefined) {
          update.run("pending", 0, "[]", null, null, null, null, id);
          return "requeued";
        }
        const error = copyAttemptError(entry.error);
        const history = JSON.stringify([{ attempt: 1, at: iso(now), error }]);
        if (entry.deadLetter === true || row.max_attempts <= 1) {
          const reason =
            entry.reason ??
            (entry.deadLetter === true
              ? `dead-lettered after attempt 1: ${error.message}`
              : `max attempts (${row.max_attempts}) reached`);
          update.run("dead", 1, history, JSON.stringify(error), reason, null, now, id);
          return "dead-lettered";
        }
        const delay =
          Number.isFinite(entry.retryInMs) && (entry.retryInMs as number) > 0
            ? Math.ceil(entry.retryInMs as number)
            : 0;
        update.run("pending", 1, history, JSON.stringify(error), null, now + delay, null, id);
        return "retry-scheduled";
      });
    });
    if (outcomes.some((o) => o === "requeued" || o === "retry-scheduled")) this.#ctx.changed();
    return outcomes;
  }

  async claim(params: ClaimParams): Promise<InboxEntry[]> {
    const { consumers, limit, leaseMs, worker } = params ?? ({} as ClaimParams);
    if (!Array.isArray(consumers)) throw invalid("claim needs a consumers array");
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    this.#ctx.ensureOpen();
    if (limit <= 0 || consumers.length === 0) return [];
    const inbox = this.#ctx.t("inbox");
    const consumersJson = JSON.stringify([...new Set(consumers)]);
    const claimed = await this.#ctx.write("inbox.claim", () => {
      const now = this.#ctx.nowMs();
      const dead = this.#expireLeases(consumersJson, now);
      const rows = this.#candidates(consumers, limit, now);
      if (rows.length === 0) return { rows, tokens: [] as string[], expiresMs: 0, dead };
      // One UPDATE per row, by rowid, with the token made here: the rows were read by the scan
      // (under this transaction's write lock nothing else changes them), so nothing is read back.
      const expiresMs = now + Math.ceil(leaseMs);
      const take = this.#ctx.stmt(
        `UPDATE ${inbox} SET status = 'in-flight', attempt = attempt + 1, lease_token = ?, lease_expires_ms = ?,
           worker = ? WHERE seq = ? AND status = 'pending'`,
      );
      const tokens = leaseTokens(rows);
      const owner = worker ?? null;
      const taken: CandidateRow[] = [];
      const takenTokens: string[] = [];
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i] as CandidateRow;
        if (take.run(tokens[i], expiresMs, owner, row.seq).changes === 1) {
          taken.push(row);
          takenTokens.push(tokens[i] as string);
        }
      }
      return { rows: taken, tokens: takenTokens, expiresMs, dead };
    });
    if (claimed.dead > 0) this.#ctx.changed();
    const expiresAt = iso(claimed.expiresMs);
    return claimed.rows.map((r, i) => ({
      id: r.id,
      consumer: r.consumer,
      event: decodeEnvelope(r.json),
      attempt: r.attempt + 1,
      maxAttempts: r.max_attempts,
      leaseToken: claimed.tokens[i] as string,
      leaseExpiresAt: expiresAt,
      lastAttemptExpired: r.expired_last === 1,
    }));
  }

  /**
   * The rows to claim, best first (inside the claim's write transaction). Ready entries are found
   * two ways: the first `claimScanBound(limit)` due rows in claim order, of which those that are
   * first among their key's unfinished entries ("heads") count; and, only when that scan came
   * back full with fewer than `limit` heads — the front of the queue waits behind busy keys — a
   * walk over the keys with unfinished entries, one index probe each, taking each key's first
   * unfinished entry when it is due (the first `CLAIM_KEY_WALK_CAP` keys, in key order).
   * Without the walk, a claim would check every blocked row to return nothing, holding the write
   * lock all the while.
   */
  #candidates(consumers: readonly string[], limit: number, now: number): CandidateRow[] {
    const inbox = this.#ctx.t("inbox");
    const bound = claimScanBound(limit);
    // One consumer per scan: `consumer = ?` lets the claim index give the order (an IN list of
    // consumers would sort every pending row of them on each claim).
    const scan = this.#ctx.stmt(
      `SELECT s.*,
              (s.key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM ${inbox} j WHERE j.consumer = s.consumer AND j.key = s.key AND j.seq < s.seq
                   AND j.status IN ('pending', 'in-flight'))) AS head
         FROM (SELECT ${CANDIDATE_COLUMNS}, i.key FROM ${inbox} i
                WHERE i.status = 'pending' AND i.consumer = ?1 AND i.due_ms <= ?2 AND i.attempt < i.max_attempts
                ORDER BY i.priority, i.due_ms, i.seq LIMIT ?3) s`,
    );
    const picked: CandidateRow[] = [];
    for (const consumer of new Set(consumers)) {
      // First the front of the queue, `limit` rows in one step: usually every one is a head
      // (no earlier unfinished entry of its key), or the queue holds fewer.
      const front = scan.all(numbered(consumer, now, limit)) as CandidateRow[];
      if (front.length < limit || front.every((r) => r.head === 1)) {
        for (const row of front) if (row.head === 1) picked.push(row);
        continue;
      }
      // Busy keys block part of the front: scan further in claim order, stopping at this
      // consumer's `limit`-th head.
      let heads = 0;
      let seen = 0;
      for (const row of scan.iterate(numbered(consumer, now, bound)) as IterableIterator<CandidateRow>) {
        seen++;
        if (row.head === 1) {
          picked.push(row);
          if (++heads >= limit) break;
        }
      }
      if (seen >= bound && heads < limit) this.#walkKeys(consumer, now, picked);
    }
    picked.sort((a, b) => a.priority - b.priority || a.due_ms - b.due_ms || a.seq - b.seq);
    return picked.slice(0, limit);
  }

  /**
   * Adds to `picked` the due first unfinished entry of each key of `consumer` with unfinished
   * entries (the first `CLAIM_KEY_WALK_CAP` keys, in key order), one index probe per key.
   */
  #walkKeys(consumer: string, now: number, picked: CandidateRow[]): void {
    const inbox = this.#ctx.t("inbox");
    const taken = new Set(picked.map((r) => r.seq));
    const first = this.#ctx.stmt(
      `SELECT ${CANDIDATE_COLUMNS}, i.key, (i.status = 'pending' AND i.due_ms <= ?2 AND i.attempt < i.max_attempts) AS head
         FROM ${inbox} i WHERE i.consumer = ?1 AND i.key IS NOT NULL AND i.status IN ('pending', 'in-flight')
        ORDER BY i.key, i.seq LIMIT 1`,
    );
    const next = this.#ctx.stmt(
      `SELECT ${CANDIDATE_COLUMNS}, i.key, (i.status = 'pending' AND i.due_ms <= ?2 AND i.attempt < i.max_attempts) AS head
         FROM ${inbox} i WHERE i.consumer = ?1 AND i.key IS NOT NULL AND i.status IN ('pending', 'in-flight') AND i.key > ?3
        ORDER BY i.key, i.seq LIMIT 1`,
    );
    let row = first.get(numbered(consumer, now)) as (CandidateRow & { key: string }) | undefined;
    for (let visited = 1; row !== undefined; visited++) {
      if (row.head === 1 && !taken.has(row.seq)) {
        taken.add(row.seq);
        picked.push(row);
      }
      if (visited >= CLAIM_KEY_WALK_CAP) break;
      row = next.get(numbered(consumer, now, row.key)) as (CandidateRow & { key: string }) | undefined;
    }
  }

  /**
   * Expired leases of these consumers: the attempt goes into the history as a
   * `LeaseExpiredError`; the entry is pending again, or dead after its last attempt. Returns how
   * many became dead.
   */
  #expireLeases(consumersJson: string, now: number): number {
    const inbox = this.#ctx.t("inbox");
    const rows = this.#ctx
      .stmt(
        `UPDATE ${inbox} SET
           history = json_insert(history, '$[#]', json_object('attempt', attempt, 'at', ?2, 'error', json(?3 || attempt || ?4))),
           last_error = ?3 || attempt || ?4,
           status = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'pending' END,
           reason = CASE WHEN attempt >= max_attempts THEN ?5 ELSE reason END,
           finished_ms = CASE WHEN attempt >= max_attempts THEN ?1 ELSE finished_ms END,
           lease_token = NULL
         WHERE status = 'in-flight' AND consumer IN (SELECT value FROM json_each(?6)) AND lease_expires_ms <= ?1
         RETURNING status`,
      )
      .all(
        numbered(
          now,
          iso(now),
          `{"name":"${LEASE_EXPIRED_ERROR_NAME}","message":"the lease of attempt `,
          ` expired before the attempt finished"}`,
          LEASE_EXPIRED_REASON,
          consumersJson,
        ),
      ) as Array<{ status: string }>;
    return rows.filter((r) => r.status === "dead").length;
  }

  async complete(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    if (entries.length === 0) return [];
    const inbox = this.#ctx.t("inbox");
    const done = await this.#ctx.write("inbox.complete", () => {
      const now = this.#ctx.nowMs();
      // One prepared UPDATE per entry, found by its rowid: the lease token starts with the seq
      // (`<seq>.<random>`, see claim); a token of another shape is looked up by id.
      const set = `UPDATE ${inbox} SET status = 'completed', lease_token = NULL, finished_ms = ?, history = '[]', last_error = NULL`;
      const bySeq = this.#ctx.stmt(
        `${set} WHERE id = ? AND lease_token = ? AND seq = ? AND status = 'in-flight'`,
      );
      const byId = this.#ctx.stmt(`${set} WHERE id = ? AND lease_token = ? AND status = 'in-flight'`);
      const done = new Set<string>();
      for (const ref of entries) {
        const id = String(ref?.id);
        const token = String(ref?.leaseToken);
        const seq = leaseSeq(token);
        const changed =
          seq === undefined ? byId.run(now, id, token).changes : bySeq.run(now, id, token, seq).changes;
        if (changed > 0) done.add(id);
      }
      return done;
    });
    if (done.size > 0) this.#ctx.changed();
    return outcomes(entries, done);
  }

  async fail(params: FailParams): Promise<FailOutcome> {
    this.#ctx.ensureOpen();
    const inbox = this.#ctx.t("inbox");
    const error = copyAttemptError(params?.error);
    const outcome = await this.#ctx.write("inbox.fail", (): FailOutcome => {
      const row = this.#ctx
        .stmt(
          `SELECT attempt, max_attempts FROM ${inbox} WHERE id = ? AND lease_token = ? AND status = 'in-flight'`,
        )
        .get(String(params?.id), String(params?.leaseToken)) as
        | { attempt: number; max_attempts: number }
        | undefined;
      if (!row) return "lease-lost";
      const now = this.#ctx.nowMs();
      const errorJson = JSON.stringify(error);
      const record = JSON.stringify({ attempt: row.attempt, at: iso(now), error });
      if (params.deadLetter || row.attempt >= row.max_attempts) {
        const reason =
          params.reason ??
          (params.deadLetter
            ? `dead-lettered after attempt ${row.attempt}: ${error.message}`
            : `max attempts (${row.max_attempts}) reached`);
        this.#ctx
          .stmt(
            `UPDATE ${inbox} SET status = 'dead', history = json_insert(history, '$[#]', json(?)), last_error = ?,
               reason = ?, finished_ms = ?, lease_token = NULL WHERE id = ?`,
          )
          .run(record, errorJson, reason, now, params.id);
        return "dead-lettered";
      }
      const retryInMs = params.retryInMs;
      const delay =
        Number.isFinite(retryInMs) && (retryInMs as number) > 0 ? Math.ceil(retryInMs as number) : 0;
      this.#ctx
        .stmt(
          `UPDATE ${inbox} SET status = 'pending', history = json_insert(history, '$[#]', json(?)), last_error = ?,
             lease_token = NULL, due_ms = ? WHERE id = ?`,
        )
        .run(record, errorJson, now + delay, params.id);
      return "retry-scheduled";
    });
    if (outcome !== "lease-lost") this.#ctx.changed();
    return outcome;
  }

  async release(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const entries = params?.entries ?? [];
    if (entries.length === 0) return [];
    const inbox = this.#ctx.t("inbox");
    const done = await this.#ctx.write("inbox.release", () => {
      const rows = this.#ctx
        .stmt(
          `UPDATE ${inbox} SET status = 'pending', lease_token = NULL, attempt = max(0, attempt - 1)
           WHERE status = 'in-flight' AND ${REFS_MATCH} RETURNING id`,
        )
        .all(refsJson(entries)) as Array<{ id: string }>;
      return new Set(rows.map((r) => r.id));
    });
    if (done.size > 0) this.#ctx.changed();
    return outcomes(entries, done);
  }

  async prune(params: { olderThanMs: number; limit?: number | undefined }): Promise<number> {
    const olderThanMs = params?.olderThanMs;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0)
      throw invalid(`prune needs olderThanMs >= 0, got ${String(olderThanMs)}`);
    const limit = params.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1)
      throw invalid(`prune limit must be an integer >= 1, got ${String(limit)}`);
    this.#ctx.ensureOpen();
    const inbox = this.#ctx.t("inbox");
    return this.#ctx.write("inbox.prune", () => {
      const cutoff = this.#ctx.nowMs() - olderThanMs;
      return this.#ctx
        .stmt(
          `DELETE FROM ${inbox} WHERE seq IN (
             SELECT seq FROM ${inbox} WHERE status = 'completed' AND finished_ms <= ? ORDER BY seq LIMIT ?)`,
        )
        .run(cutoff, limit).changes;
    });
  }

  async stats(params?: { consumers?: readonly string[] | undefined }): Promise<InboxStats> {
    this.#ctx.ensureOpen();
    const inbox = this.#ctx.t("inbox");
    const dead = this.#ctx.t("dead_letters");
    const filter = params?.consumers ? JSON.stringify([...params.consumers]) : null;
    return this.#ctx.run("inbox.stats", () => {
      const now = this.#ctx.nowMs();
      const where = "(?1 IS NULL OR consumer IN (SELECT value FROM json_each(?1)))";
      const counts = this.#ctx
        .stmt(
          `SELECT
             coalesce(sum(status = 'pending'), 0) AS pending,
             coalesce(sum(status = 'pending' AND due_ms > ?2), 0) AS scheduled,
             coalesce(sum(status = 'in-flight'), 0) AS inFlight,
             coalesce(sum(status = 'completed'), 0) AS completed,
             coalesce(sum(status = 'dead'), 0) AS dead
           FROM ${inbox} WHERE ${where}`,
        )
        .get(numbered(filter, now)) as {
        pending: number;
        scheduled: number;
        inFlight: number;
        completed: number;
        dead: number;
      };
      const added = this.#ctx
        .stmt(`SELECT count(*) AS n FROM ${dead} WHERE ${where}`)
        .get(numbered(filter)) as { n: number };
      const oldest = this.#ctx
        .stmt(
          `SELECT occurred_at FROM ${inbox} WHERE status = 'pending' AND occurred_ms IS NOT NULL AND ${where}
           ORDER BY occurred_ms LIMIT 1`,
        )
        .get(numbered(filter)) as { occurred_at: string } | undefined;
      return {
        pending: counts.pending,
        scheduled: counts.scheduled,
        inFlight: counts.inFlight,
        completed: counts.completed,
        dead: counts.dead + added.n,
        ...(oldest ? { oldestPendingAt: oldest.occurred_at } : {}),
      };
    });
  }

  /** The earliest due time after now of a pending entry (for waitForChange), if any. */
  nextDueAfter(now: number): number | undefined {
    const row = this.#ctx
      .stmt(`SELECT min(due_ms) AS due FROM ${this.#ctx.t("inbox")} WHERE status = 'pending' AND due_ms > ?`)
      .get(now) as { due: number | null };
    return row.due ?? undefined;
  }
}
