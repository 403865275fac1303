import { componentMessage, type EventEnvelope, ValidationError } from "@eventferry/core";
import { storableEnvelope } from "@eventferry/store";
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
  const f = storableEnvelope(event, COMPONENT);
  return {
    i: f.id,
    t: f.type,
    k: f.key,
    p: f.priority,
    o: f.occurredMs === null ? null : new Date(f.occurredMs).toISOString(),
    d: f.deliverMs === null ? null : new Date(f.deliverMs).toISOString(),
    e: event,
  };
}
