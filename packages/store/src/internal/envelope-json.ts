import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";
import { MEMORY_COMPONENT } from "./memory-context.js";

/**
 * What the memory store keeps of an envelope: its JSON text (so every read hands out a fresh
 * copy with JSON semantics, as a database would) and the fields it indexes on.
 */
export interface EnvelopeFacts {
  readonly id: string;
  readonly type: string;
  readonly key: string | undefined;
  readonly priority: number;
  readonly occurredAt: string;
  /** `Date.parse(occurredAt)`; NaN when unparseable. */
  readonly occurredMs: number;
  /** `Date.parse(deliverAt)`, or undefined when the event has none. */
  readonly deliverMs: number | undefined;
  readonly json: string;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
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
  let deliverMs: number | undefined;
  if (event.deliverAt !== undefined && event.deliverAt !== null) {
    deliverMs = Date.parse(event.deliverAt);
    if (Number.isNaN(deliverMs))
      throw invalid(`event ${event.id} has an invalid deliverAt: ${event.deliverAt}`);
  }
  const occurredAt = String(event.occurredAt);
  return {
    id: event.id,
    type: event.type,
    key: typeof event.key === "string" ? event.key : undefined,
    priority,
    occurredAt,
    occurredMs: Date.parse(occurredAt),
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
