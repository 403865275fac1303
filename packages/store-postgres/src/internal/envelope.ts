import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";
import { COMPONENT } from "./names.js";

/** The columns an envelope is indexed by, plus the envelope itself (one element of a JSON array param). */
export interface EnvelopeRow {
  /** id */
  readonly i: string;
  /** type */
  readonly t: string;
  /** key */
  readonly k: string | null;
  /** priority */
  readonly p: number;
  /** occurredAt (null when unparseable) */
  readonly o: string | null;
  /** deliverAt */
  readonly d: string | null;
  /** the envelope */
  readonly e: EventEnvelope;
}

export function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(COMPONENT, message));
}

/** Validates the fields the store relies on; throws a `ValidationError` for the first bad one. */
export function envelopeRow(event: EventEnvelope): EnvelopeRow {
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
  let deliverAt: string | null = null;
  if (event.deliverAt !== undefined && event.deliverAt !== null) {
    const ms = Date.parse(event.deliverAt);
    if (Number.isNaN(ms)) throw invalid(`event ${event.id} has an invalid deliverAt: ${event.deliverAt}`);
    deliverAt = new Date(ms).toISOString();
  }
  const occurredMs = Date.parse(String(event.occurredAt));
  return {
    i: event.id,
    t: event.type,
    k: typeof event.key === "string" ? event.key : null,
    p: priority,
    o: Number.isNaN(occurredMs) ? null : new Date(occurredMs).toISOString(),
    d: deliverAt,
    e: event,
  };
}
