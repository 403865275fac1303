import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";
import { SQLITE_COMPONENT } from "../classify-error.js";

/** What the store keeps of an envelope: its JSON text and the fields it indexes on. */
export interface EnvelopeFacts {
  readonly id: string;
  readonly type: string;
  readonly key: string | null;
  readonly priority: number;
  readonly occurredAt: string;
  /** `Date.parse(occurredAt)`; null when unparseable. */
  readonly occurredMs: number | null;
  /** `Date.parse(deliverAt)`, or null when the event has none. */
  readonly deliverMs: number | null;
  readonly json: string;
}

export function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(SQLITE_COMPONENT, message));
}

/** Validates the fields the store relies on and serialises the envelope. */
export function encodeEnvelope(event: EventEnvelope): EnvelopeFacts {
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
    json: JSON.stringify(event),
  };
}

/** A fresh copy of a stored envelope. */
export function decodeEnvelope(json: string): EventEnvelope {
  return JSON.parse(json) as EventEnvelope;
}

/** JSON with object keys sorted: equal for equal content regardless of key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Binds `?1`, `?2`, … (better-sqlite3 takes numbered parameters as named ones). */
export function numbered(...values: unknown[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  values.forEach((v, i) => {
    out[i + 1] = v;
  });
  return out;
}
