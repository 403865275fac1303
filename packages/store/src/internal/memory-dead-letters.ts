import { componentMessage, type EventEnvelope, uuidv7, ValidationError } from "@eventferry/core";
import { copyAttemptError } from "../attempt-error.js";
import type { AttemptError, DeadLetter, DeadLetterQuery, DeadLetterStore } from "../store.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope-json.js";
import { iso, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";
import type { InboxRecord, MemoryInbox } from "./memory-inbox.js";

/** A dead letter made by `add`: a message that never became an inbox entry. */
interface AddedDeadLetter {
  readonly id: string;
  readonly consumer: string;
  readonly eventJson: string | undefined;
  readonly type: string | undefined;
  readonly raw: string | undefined;
  readonly reason: string;
  readonly error: AttemptError;
  readonly deadAt: number;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/**
 * Dead letters: dead inbox entries (kept by the inbox, retryable) and messages dead-lettered
 * with `add` (kept here, never retried). Listed together, ordered by id.
 */
export class MemoryDeadLetters implements DeadLetterStore {
  readonly #ctx: MemoryContext;
  readonly #inbox: () => MemoryInbox;
  readonly #added = new Map<string, AddedDeadLetter>();

  constructor(ctx: MemoryContext, inbox: () => MemoryInbox) {
    this.#ctx = ctx;
    this.#inbox = inbox;
  }

  /** Dead letters made by `add` for these consumers (all when undefined). */
  countAdded(consumers: ReadonlySet<string> | undefined): number {
    if (!consumers) return this.#added.size;
    let n = 0;
    for (const d of this.#added.values()) if (consumers.has(d.consumer)) n++;
    return n;
  }

  async add(params: {
    consumer: string;
    raw?: string;
    event?: EventEnvelope;
    reason: string;
    error: AttemptError;
  }): Promise<string> {
    this.#ctx.ensureOpen();
    if (typeof params?.consumer !== "string" || params.consumer === "") {
      throw invalid("deadLetters.add needs a consumer");
    }
    if (typeof params.reason !== "string") throw invalid("deadLetters.add needs a reason");
    const facts = params.event !== undefined ? encodeEnvelope(params.event) : undefined;
    const id = uuidv7();
    this.#added.set(id, {
      id,
      consumer: params.consumer,
      eventJson: facts?.json,
      type: facts?.type,
      raw: params.raw === undefined ? undefined : String(params.raw),
      reason: params.reason,
      error: copyAttemptError(params.error),
      deadAt: this.#ctx.now(),
    });
    return id;
  }

  async list(query: DeadLetterQuery = {}): Promise<DeadLetter[]> {
    this.#ctx.ensureOpen();
    const { consumer, type, after } = query;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const found: Array<InboxRecord | AddedDeadLetter> = [];
    const keep = (d: { id: string; consumer: string; type: string | undefined }): boolean =>
      (consumer === undefined || d.consumer === consumer) &&
      (type === undefined || d.type === type) &&
      (after === undefined || d.id > after);
    for (const rec of this.#inbox().deadRecords()) if (keep(rec)) found.push(rec);
    for (const d of this.#added.values()) if (keep(d)) found.push(d);
    found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return found.slice(0, limit).map((d) => this.#view(d));
  }

  async get(params: { id: string }): Promise<DeadLetter | undefined> {
    this.#ctx.ensureOpen();
    const id = params?.id;
    const rec = this.#inbox().getDead(id);
    if (rec) return this.#view(rec);
    const added = this.#added.get(id);
    return added ? this.#view(added) : undefined;
  }

  async retry(params: { ids: readonly string[] }): Promise<string[]> {
    this.#ctx.ensureOpen();
    const now = this.#ctx.now();
    const inbox = this.#inbox();
    const retried: string[] = [];
    for (const id of new Set(params?.ids ?? [])) if (inbox.retryDead(id, now)) retried.push(id);
    if (retried.length > 0) this.#ctx.changes.notify();
    return retried;
  }

  async purge(params: { ids?: readonly string[]; consumer?: string } = {}): Promise<number> {
    this.#ctx.ensureOpen();
    const inbox = this.#inbox();
    const { consumer } = params;
    const ids = params.ids
      ? new Set(params.ids)
      : new Set([...[...inbox.deadRecords()].map((r) => r.id), ...this.#added.keys()]);
    let purged = 0;
    for (const id of ids) {
      const rec = inbox.getDead(id);
      if (rec) {
        if (consumer === undefined || rec.consumer === consumer) purged += inbox.purgeDead(id) ? 1 : 0;
        continue;
      }
      const added = this.#added.get(id);
      if (added && (consumer === undefined || added.consumer === consumer)) {
        this.#added.delete(id);
        purged++;
      }
    }
    return purged;
  }

  #view(d: InboxRecord | AddedDeadLetter): DeadLetter {
    if ("seq" in d) return this.#inbox().toDeadLetter(d);
    return {
      id: d.id,
      consumer: d.consumer,
      ...(d.eventJson !== undefined ? { event: decodeEnvelope(d.eventJson) } : {}),
      ...(d.raw !== undefined ? { raw: d.raw } : {}),
      reason: d.reason,
      error: { ...d.error },
      attempts: 0,
      history: [],
      deadAt: iso(d.deadAt),
    };
  }
}
