import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";
import { canonicalJson, type StorableEnvelope, storableEnvelope } from "@eventferry/store";
import { SQLITE_COMPONENT } from "../classify-error.js";

/** What the store keeps of an envelope: its JSON text and the fields it indexes on. */
export interface EnvelopeFacts extends StorableEnvelope {
  readonly json: string;
}

export function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(SQLITE_COMPONENT, message));
}

/** Validates the fields the store relies on and serialises the envelope. */
export function encodeEnvelope(event: EventEnvelope): EnvelopeFacts {
  const f = storableEnvelope(event, SQLITE_COMPONENT);
  // A literal of one shape (no spread): this runs once per recorded entry.
  return {
    id: f.id,
    type: f.type,
    key: f.key,
    priority: f.priority,
    occurredAt: f.occurredAt,
    occurredMs: f.occurredMs,
    deliverMs: f.deliverMs,
    json: JSON.stringify(event),
  };
}

/** A fresh copy of a stored envelope. */
export function decodeEnvelope(json: string): EventEnvelope {
  return JSON.parse(json) as EventEnvelope;
}

export { canonicalJson };

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
