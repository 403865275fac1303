import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";

/**
 * For store adapters: the fields of an envelope a store indexes on, validated once, the same way
 * in every adapter.
 */
export interface StorableEnvelope {
  readonly id: string;
  readonly type: string;
  /** The ordering key, `null` when the event has none. */
  readonly key: string | null;
  /** 1 … 5, the default (3) filled in. */
  readonly priority: number;
  /** `occurredAt` as given. */
  readonly occurredAt: string;
  /** `Date.parse(occurredAt)`, `null` when unparseable (the log then cannot filter it by time). */
  readonly occurredMs: number | null;
  /** `Date.parse(deliverAt)`, `null` when the event has none. */
  readonly deliverMs: number | null;
}

/**
 * Validates what a store relies on (non-empty string id and type, priority 1 … 5, string key,
 * parseable `deliverAt`) and returns the indexed fields. Throws a `ValidationError` naming
 * `component` and the first bad field.
 *
 * @example
 * const facts = storableEnvelope(event, "store-sqlite");
 * insert.run(facts.id, facts.type, facts.key, facts.priority, facts.deliverMs, JSON.stringify(event));
 */
export function storableEnvelope(event: EventEnvelope, component: string): StorableEnvelope {
  const invalid = (message: string) => new ValidationError(componentMessage(component, message));
  if (typeof event !== "object" || event === null) throw invalid("an event must be an object");
  if (typeof event.id !== "string" || event.id === "") throw invalid("an event needs a non-empty string id");
  if (typeof event.type !== "string" || event.type === "") {
    throw invalid(`event ${event.id} needs a non-empty string type`);
  }
  const priority = event.priority ?? 3;
  if (!Number.isInteger(priority) || priority < 1 || priority > 5) {
    throw invalid(`event ${event.id} has priority ${String(priority)}; expected 1 … 5`);
  }
  if (event.key !== undefined && event.key !== null && typeof event.key !== "string") {
    throw invalid(`event ${event.id} has a non-string key`);
  }
  let deliverMs: number | null = null;
  if (event.deliverAt !== undefined && event.deliverAt !== null) {
    deliverMs = Date.parse(event.deliverAt);
    if (Number.isNaN(deliverMs))
      throw invalid(`event ${event.id} has an invalid deliverAt: ${event.deliverAt}`);
  }
  const occurredAt = String(event.occurredAt);
  const occurredMs = Date.parse(occurredAt);
  return {
    id: event.id,
    type: event.type,
    key: typeof event.key === "string" ? event.key : null,
    priority,
    occurredAt,
    occurredMs: Number.isNaN(occurredMs) ? null : occurredMs,
    deliverMs,
  };
}

/**
 * For store adapters: JSON with object keys sorted, so equal content gives equal text whatever
 * the key order (how `schemas.put` tells an identical re-put from a conflicting one).
 *
 * @example
 * canonicalJson({ b: 1, a: 2 }) === canonicalJson({ a: 2, b: 1 }) // true
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
