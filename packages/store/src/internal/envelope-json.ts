import type { EventEnvelope } from "@eventferry/core";
import { storableEnvelope } from "../storable-envelope.js";
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

/** Validates the fields the store relies on and serialises the envelope. */
export function encodeEnvelope(event: EventEnvelope): EnvelopeFacts {
  const f = storableEnvelope(event, MEMORY_COMPONENT);
  return {
    id: f.id,
    type: f.type,
    key: f.key ?? undefined,
    priority: f.priority,
    occurredAt: f.occurredAt,
    occurredMs: f.occurredMs ?? Number.NaN,
    deliverMs: f.deliverMs ?? undefined,
    json: JSON.stringify(event),
  };
}

/** A fresh copy of a stored envelope. */
export function decodeEnvelope(json: string): EventEnvelope {
  return JSON.parse(json) as EventEnvelope;
}

export { canonicalJson } from "../storable-envelope.js";
