import { componentMessage, type EventEnvelope, uuidv7, ValidationError } from "@eventferry/core";
import type { CompleteOutcome, LeaseRef, OutboxEntry, OutboxStore } from "../store.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope-json.js";
import { Fifo } from "./fifo.js";
import { Heap } from "./heap.js";
import { MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";

type OutboxStatus = "pending" | "in-flight" | "published";

interface OutboxRecord {
  readonly id: string;
  readonly seq: number;
  readonly topic: string;
  readonly eventJson: string;
  readonly key: string | undefined;
  status: OutboxStatus;
  leaseToken: string | undefined;
  publishedAt: number;
  version: number;
  queued: number;
}

interface ReadyItem {
  readonly rec: OutboxRecord;
  readonly v: number;
}

interface LeaseItem {
  readonly rec: OutboxRecord;
  readonly token: string;
  readonly exp: number;
}

const readyLive = (item: ReadyItem): boolean => item.v === item.rec.version && item.rec.status === "pending";
const leaseLive = (item: LeaseItem): boolean =>
  item.rec.status === "in-flight" && item.rec.leaseToken === item.token;

/** A staged outbox row: validated and serialised, not yet visible. */
export interface StagedOutboxRow {
  readonly topic: string;
  readonly eventJson: string;
  readonly key: string | undefined;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/**
 * The in-memory outbox: rows in add order, claimable when not leased and not blocked by an
 * earlier unpublished row of their key; published rows stay until `cleanup`.
 */
export class MemoryOutbox implements OutboxStore {
  readonly #ctx: MemoryContext;
  readonly #rows = new Map<string, OutboxRecord>();
  readonly #ready = new Heap<ReadyItem>((a, b) => a.rec.seq < b.rec.seq);
  readonly #leases = new Heap<LeaseItem>((a, b) => a.exp < b.exp);
  readonly #keys = new Map<string, Fifo<OutboxRecord>>();
  readonly #published = new Fifo<OutboxRecord>();
  #unpublished = 0;
  #inFlight = 0;
  #seq = 0;

  constructor(ctx: MemoryContext) {
    this.#ctx = ctx;
  }

  /** Validates rows for `add` (in or outside a transaction). */
  stage(params: { topic: string; events: readonly EventEnvelope[] }): StagedOutboxRow[] {
    if (typeof params?.topic !== "string" || params.topic === "") throw invalid("outbox.add needs a topic");
    return (params.events ?? []).map((event) => {
      const f = encodeEnvelope(event);
      return { topic: params.topic, eventJson: f.json, key: f.key };
    });
  }

  /** Makes staged rows visible. */
  apply(rows: readonly StagedOutboxRow[]): void {
    for (const row of rows) {
      const rec: OutboxRecord = {
        id: uuidv7(),
        seq: ++this.#seq,
        topic: row.topic,
        eventJson: row.eventJson,
        key: row.key,
        status: "pending",
        leaseToken: undefined,
        publishedAt: 0,
        version: 0,
        queued: -1,
      };
      this.#rows.set(rec.id, rec);
      this.#unpublished++;
      if (rec.key === undefined) {
        this.#offer(rec);
      } else {
        let queue = this.#keys.get(rec.key);
        if (!queue) {
          queue = new Fifo<OutboxRecord>();
          this.#keys.set(rec.key, queue);
        }
        queue.push(rec);
        if (queue.first() === rec) this.#offer(rec);
      }
    }
    if (rows.length > 0) this.#ctx.changes.notify();
  }

  async add(params: { topic: string; events: readonly EventEnvelope[] }): Promise<void> {
    this.#ctx.ensureOpen();
    this.apply(this.stage(params));
  }

  async claim(params: { limit: number; leaseMs: number }): Promise<OutboxEntry[]> {
    this.#ctx.ensureOpen();
    const { limit, leaseMs } = params;
    if (!Number.isInteger(limit)) throw invalid(`claim limit must be an integer, got ${String(limit)}`);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalid(`leaseMs must be > 0, got ${String(leaseMs)}`);
    const now = this.#ctx.now();
    this.#expireLeases(now);
    const out: OutboxEntry[] = [];
    while (out.length < limit) {
      const item = this.#ready.pop();
      if (!item) break;
      if (!readyLive(item)) continue;
      const rec = item.rec;
      const token = globalThis.crypto.randomUUID();
      rec.status = "in-flight";
      rec.leaseToken = token;
      rec.version++;
      this.#inFlight++;
      this.#leases.push({ rec, token, exp: now + leaseMs });
      if (this.#leases.size > 2 * this.#inFlight + 1024) this.#leases.compact(leaseLive);
      out.push({ id: rec.id, topic: rec.topic, event: decodeEnvelope(rec.eventJson), leaseToken: token });
    }
    return out;
  }

  async markPublished(params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> {
    this.#ctx.ensureOpen();
    const now = this.#ctx.now();
    return (params?.entries ?? []).map((ref): CompleteOutcome => {
      const rec = typeof ref?.id === "string" ? this.#rows.get(ref.id) : undefined;
      if (rec?.status !== "in-flight" || rec.leaseToken !== ref.leaseToken) return "lease-lost";
      rec.status = "published";
      rec.leaseToken = undefined;
      rec.publishedAt = now;
      rec.version++;
      this.#inFlight--;
      this.#unpublished--;
      this.#published.push(rec);
      if (rec.key !== undefined) {
        const queue = this.#keys.get(rec.key);
        if (queue) {
          const wasFirst = queue.first() === rec;
          queue.remove(rec);
          const next = queue.first();
          if (!next) this.#keys.delete(rec.key);
          else if (wasFirst && next.status === "pending") this.#offer(next);
        }
      }
      return "completed";
    });
  }

  async cleanup(params: { olderThanMs: number }): Promise<number> {
    this.#ctx.ensureOpen();
    const olderThanMs = params?.olderThanMs;
    if (!Number.isFinite(olderThanMs) || olderThanMs < 0) {
      throw invalid(`olderThanMs must be >= 0, got ${String(olderThanMs)}`);
    }
    const cutoff = this.#ctx.now() - olderThanMs;
    let deleted = 0;
    for (;;) {
      const first = this.#published.first();
      if (!first || first.publishedAt > cutoff) break;
      this.#published.shift();
      this.#rows.delete(first.id);
      deleted++;
    }
    return deleted;
  }

  async pending(): Promise<number> {
    this.#ctx.ensureOpen();
    return this.#unpublished;
  }

  /** Row counts (health details, memory tests). */
  sizes(): { rows: number; unpublished: number; inFlight: number; published: number } {
    return {
      rows: this.#rows.size,
      unpublished: this.#unpublished,
      inFlight: this.#inFlight,
      published: this.#published.length,
    };
  }

  #offer(rec: OutboxRecord): void {
    if (rec.queued === rec.version) return;
    rec.queued = rec.version;
    this.#ready.push({ rec, v: rec.version });
    if (this.#ready.size > 2 * this.#unpublished + 1024) this.#ready.compact(readyLive);
  }

  #expireLeases(now: number): void {
    for (;;) {
      const top = this.#leases.peek();
      if (!top || top.exp > now) return;
      this.#leases.pop();
      if (!leaseLive(top)) continue;
      const rec = top.rec;
      rec.status = "pending";
      rec.leaseToken = undefined;
      rec.version++;
      this.#inFlight--;
      if (rec.key === undefined || this.#keys.get(rec.key)?.first() === rec) this.#offer(rec);
    }
  }
}
