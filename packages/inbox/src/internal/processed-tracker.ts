import type { HandlerOutcome, ProcessedResult } from "../processed.js";

interface EventRecord {
  type: string;
  /** `[handler, status, handler, status, …]`: one flat array per event, the hot path allocates little. */
  outcomes: string[];
}

function outcomeOf(record: EventRecord, handler: string): HandlerOutcome | undefined {
  const o = record.outcomes;
  for (let i = 0; i < o.length; i += 2) {
    if (o[i] === handler) return { status: o[i + 1] as HandlerOutcome["status"] };
  }
  return undefined;
}

interface Waiter {
  /** Handler names to wait for; `undefined`: every handler matching the event's type. */
  readonly only: string | undefined;
  readonly resolve: (result: ProcessedResult) => void;
}

/**
 * Remembers how this process's handlers finished recent events (completed or dead-lettered) and
 * wakes `whenProcessed` waiters. Bounded: events are kept in two generations of `capacity / 2`;
 * when the current one is full it becomes the previous one (the older is dropped whole), so the
 * last `capacity / 2` to `capacity` events are remembered. Dropping a generation at once, instead
 * of the oldest event on every new one, keeps the hot path to one map insert per event.
 */
export class ProcessedTracker {
  #records = new Map<string, EventRecord>();
  #previous = new Map<string, EventRecord>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #capacity: number;
  readonly #expected: (type: string) => readonly string[];

  constructor(options: { capacity: number; expected: (type: string) => readonly string[] }) {
    this.#capacity = options.capacity;
    this.#expected = options.expected;
  }

  /** Notes that `handler` finished event `eventId` of `type`. */
  note(eventId: string, type: string, handler: string, status: HandlerOutcome["status"]): void {
    let record = this.#record(eventId);
    if (!record) {
      record = { type, outcomes: [] };
      if (this.#records.size >= Math.max(1, this.#capacity / 2)) {
        this.#previous = this.#records;
        this.#records = new Map();
      }
      this.#records.set(eventId, record);
    }
    const o = record.outcomes;
    let i = 0;
    while (i < o.length && o[i] !== handler) i += 2;
    o[i] = handler;
    o[i + 1] = status;
    const waiters = this.#waiters.get(eventId);
    if (!waiters) return;
    for (const w of [...waiters]) {
      const result = this.result(eventId, w.only);
      if (result) {
        waiters.delete(w);
        w.resolve(result);
      }
    }
    if (waiters.size === 0) this.#waiters.delete(eventId);
  }

  /** The result when every awaited handler finished the event, else `undefined`. */
  result(eventId: string, only: string | undefined): ProcessedResult | undefined {
    const record = this.#record(eventId);
    if (!record) return undefined;
    const names = only !== undefined ? [only] : this.#expected(record.type);
    const handlers: Record<string, HandlerOutcome> = {};
    for (const name of names) {
      const outcome = outcomeOf(record, name);
      if (!outcome) return undefined;
      handlers[name] = outcome;
    }
    return {
      eventId,
      type: record.type,
      handlers,
      ok: Object.values(handlers).every((o) => o.status === "completed"),
    };
  }

  /** Handler names that finished the event so far. */
  finished(eventId: string): string[] {
    const o = this.#record(eventId)?.outcomes ?? [];
    return o.filter((_, i) => i % 2 === 0);
  }

  #record(eventId: string): EventRecord | undefined {
    return this.#records.get(eventId) ?? this.#previous.get(eventId);
  }

  /** Registers a waiter; returns its removal. */
  wait(eventId: string, only: string | undefined, resolve: (result: ProcessedResult) => void): () => void {
    const waiter: Waiter = { only, resolve };
    let set = this.#waiters.get(eventId);
    if (!set) {
      set = new Set();
      this.#waiters.set(eventId, set);
    }
    set.add(waiter);
    return () => {
      const s = this.#waiters.get(eventId);
      s?.delete(waiter);
      if (s?.size === 0) this.#waiters.delete(eventId);
    };
  }
}
