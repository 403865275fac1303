import {
  compileGlob,
  componentMessage,
  type EventEnvelope,
  type TypeMatcher,
  ValidationError,
} from "@eventferry/core";
import type { AppendResult, EventQuery, StoredEvent } from "../store.js";
import { type EnvelopeFacts, encodeEnvelope } from "./envelope-json.js";
import { iso, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";

interface LogRecord {
  readonly position: number;
  readonly id: string;
  readonly type: string;
  readonly key: string | undefined;
  readonly occurredMs: number;
  readonly recordedAt: string;
  readonly json: string;
}

/** Default page size of {@link MemoryLog.read}. */
export const DEFAULT_PAGE_SIZE = 500;

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/** The in-memory event log: append-only, idempotent by event id, position = index + 1. */
export class MemoryLog {
  readonly #ctx: MemoryContext;
  readonly #records: LogRecord[] = [];
  readonly #ids = new Set<string>();

  constructor(ctx: MemoryContext) {
    this.#ctx = ctx;
  }

  get size(): number {
    return this.#records.length;
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Validates and serialises events (throws before anything is written). */
  stage(events: readonly EventEnvelope[]): EnvelopeFacts[] {
    if (!Array.isArray(events)) throw invalid("append needs an array of events");
    return events.map(encodeEnvelope);
  }

  /** Appends staged events; duplicates (already in the log or earlier in `facts`) are no-ops. */
  apply(facts: readonly EnvelopeFacts[]): AppendResult {
    const inserted: string[] = [];
    const duplicates: string[] = [];
    const recordedAt = iso(this.#ctx.now());
    for (const f of facts) {
      if (this.#ids.has(f.id)) {
        duplicates.push(f.id);
        continue;
      }
      this.#ids.add(f.id);
      this.#records.push({
        position: this.#records.length + 1,
        id: f.id,
        type: f.type,
        key: f.key,
        occurredMs: f.occurredMs,
        recordedAt,
        json: f.json,
      });
      inserted.push(f.id);
    }
    return { inserted, duplicates };
  }

  async append(events: readonly EventEnvelope[]): Promise<AppendResult> {
    this.#ctx.ensureOpen();
    return this.apply(this.stage(events));
  }

  read(query: EventQuery = {}): AsyncIterable<StoredEvent> {
    const ctx = this.#ctx;
    const records = this.#records;
    return {
      async *[Symbol.asyncIterator](): AsyncIterator<StoredEvent> {
        ctx.ensureOpen();
        const match = compileQuery(query);
        const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
        if (!Number.isInteger(pageSize) || pageSize < 1)
          throw invalid(`pageSize must be >= 1, got ${pageSize}`);
        const limit = query.limit ?? Number.POSITIVE_INFINITY;
        if (!(limit >= 0)) throw invalid(`limit must be >= 0, got ${String(query.limit)}`);
        let index = Math.max(0, Math.floor(query.afterPosition ?? 0));
        let yielded = 0;
        while (yielded < limit) {
          ctx.ensureOpen();
          // One page: at most `pageSize` matches, copied before the consumer sees any.
          const page: StoredEvent[] = [];
          while (index < records.length && page.length < pageSize && yielded + page.length < limit) {
            const r = records[index++] as LogRecord;
            if (match(r))
              page.push({ ...JSON.parse(r.json), position: r.position, recordedAt: r.recordedAt });
          }
          if (page.length === 0) return;
          for (const event of page) {
            yield event;
            yielded++;
          }
        }
      },
    };
  }
}

function compileQuery(query: EventQuery): (r: LogRecord) => boolean {
  const types = query.types ? new Set(query.types) : undefined;
  const pattern: TypeMatcher | undefined =
    query.pattern !== undefined ? compileGlob(query.pattern) : undefined;
  const key = query.key;
  const from = query.from ? query.from.getTime() : undefined;
  const until = query.until ? query.until.getTime() : undefined;
  return (r) =>
    (types === undefined || types.has(r.type)) &&
    (pattern === undefined || pattern(r.type)) &&
    (key === undefined || r.key === key) &&
    (from === undefined || r.occurredMs >= from) &&
    (until === undefined || r.occurredMs < until);
}
