import { componentMessage, type EventEnvelope, EventferryError, ValidationError } from "@eventferry/core";
import type { MemoryTx } from "../memory-store.js";
import type { AppendResult, CompleteOutcome, LeaseRef, StoreTx } from "../store.js";
import type { EnvelopeFacts } from "./envelope-json.js";
import { closedError, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";
import type { MemoryInbox } from "./memory-inbox.js";
import type { MemoryLog } from "./memory-log.js";
import type { MemoryOutbox, StagedOutboxRow } from "./memory-outbox.js";

const DELETED: unique symbol = Symbol("deleted");

/** Copies a value the way a database would: no shared references with the caller. */
export function cloneValue(key: string, value: unknown): unknown {
  try {
    return structuredClone(value);
  } catch (error) {
    throw new ValidationError(componentMessage(MEMORY_COMPONENT, `the value of ${key} cannot be stored`), {
      cause: error,
    });
  }
}

export interface TransactionParts {
  readonly ctx: MemoryContext;
  readonly kv: Map<string, unknown>;
  readonly log: MemoryLog;
  readonly inbox: MemoryInbox;
  readonly outbox: MemoryOutbox;
}

/**
 * One memory transaction: every write (key-value, log, outbox, inbox completions) is staged and
 * applied at once by {@link MemoryTransaction.commit}, or dropped by {@link MemoryTransaction.rollback}.
 */
export class MemoryTransaction {
  readonly client: MemoryTx;
  readonly storeTx: StoreTx<MemoryTx>;
  readonly #parts: TransactionParts;
  readonly #kv = new Map<string, unknown>();
  readonly #events: EnvelopeFacts[] = [];
  readonly #eventIds = new Set<string>();
  readonly #outbox: StagedOutboxRow[] = [];
  readonly #completes = new Map<string, LeaseRef>();
  #active = true;

  constructor(parts: TransactionParts) {
    this.#parts = parts;
    const tx = this;
    this.client = {
      set(key: string, value: unknown): void {
        tx.#ensureActive();
        tx.#kv.set(String(key), cloneValue(String(key), value));
      },
      get<T = unknown>(key: string): T | undefined {
        tx.#ensureActive();
        const staged = tx.#kv.get(key);
        if (staged === DELETED) return undefined;
        if (staged !== undefined || tx.#kv.has(key)) return structuredClone(staged) as T;
        return structuredClone(parts.kv.get(key)) as T | undefined;
      },
      has(key: string): boolean {
        tx.#ensureActive();
        if (tx.#kv.has(key)) return tx.#kv.get(key) !== DELETED;
        return parts.kv.has(key);
      },
      delete(key: string): void {
        tx.#ensureActive();
        tx.#kv.set(String(key), DELETED);
      },
    };
    this.storeTx = {
      client: this.client,
      append: async (events: readonly EventEnvelope[]): Promise<AppendResult> => {
        this.#ensureActive();
        const facts = parts.log.stage(events);
        const inserted: string[] = [];
        const duplicates: string[] = [];
        for (const f of facts) {
          if (parts.log.has(f.id) || this.#eventIds.has(f.id)) {
            duplicates.push(f.id);
            continue;
          }
          this.#eventIds.add(f.id);
          this.#events.push(f);
          inserted.push(f.id);
        }
        return { inserted, duplicates };
      },
      inbox: {
        complete: async (params: { entries: readonly LeaseRef[] }): Promise<CompleteOutcome[]> => {
          this.#ensureActive();
          return (params?.entries ?? []).map((ref): CompleteOutcome => {
            if (this.#completes.has(ref.id) || !parts.inbox.holdsLease(ref)) return "lease-lost";
            this.#completes.set(ref.id, { id: ref.id, leaseToken: ref.leaseToken });
            return "completed";
          });
        },
      },
      outbox: {
        add: async (params: { topic: string; events: readonly EventEnvelope[] }): Promise<void> => {
          this.#ensureActive();
          this.#outbox.push(...parts.outbox.stage(params));
        },
      },
    };
  }

  /**
   * Applies every staged write at once. Throws (and applies nothing) when the store closed or
   * when a lease of a staged completion was lost since `complete` was called.
   */
  commit(): void {
    this.#ensureActive();
    this.#active = false;
    const { ctx, kv, log, inbox, outbox } = this.#parts;
    if (ctx.closed) throw closedError();
    for (const ref of this.#completes.values()) {
      if (!inbox.holdsLease(ref)) {
        throw new EventferryError(
          "LEASE_LOST",
          componentMessage(
            MEMORY_COMPONENT,
            `the lease of inbox entry ${ref.id} was lost before the transaction committed; nothing was applied`,
          ),
          { details: { id: ref.id } },
        );
      }
    }
    for (const [key, value] of this.#kv) {
      if (value === DELETED) kv.delete(key);
      else kv.set(key, value);
    }
    if (this.#events.length > 0) log.apply(this.#events);
    if (this.#outbox.length > 0) outbox.apply(this.#outbox);
    if (this.#completes.size > 0) {
      const now = ctx.now();
      for (const ref of this.#completes.values()) inbox.completeHeld(ref, now);
      ctx.changes.notify();
    }
  }

  /** Drops every staged write. */
  rollback(): void {
    this.#active = false;
  }

  #ensureActive(): void {
    if (!this.#active) {
      throw new EventferryError(
        "STORE_FAILED",
        componentMessage(MEMORY_COMPONENT, "the transaction has already committed or rolled back"),
      );
    }
  }
}
