/**
 * The event envelope: what a publisher writes, what the store keeps and what a handler receives.
 */

/** Priority 1 (highest) … 5 (lowest). */
export type Priority = 1 | 2 | 3 | 4 | 5;

/** Default priority of an event that does not name one. */
export const DEFAULT_PRIORITY: Priority = 3;

/** A decoded, validated event. `TData` is the payload type of its definition. */
export interface EventEnvelope<TType extends string = string, TData = unknown> {
  /** Unique id, UUIDv7 by default; the idempotency key everywhere. */
  readonly id: string;
  /** Dot-namespaced name, e.g. `order.created`. */
  readonly type: TType;
  /** The payload, validated by the type's schema. */
  readonly data: TData;
  /** Version of `data`'s schema; older versions are upcast on read. @default 1 */
  readonly schemaVersion: number;
  /** Ordering/partition key: events with the same key are handled one at a time, in order. */
  readonly key?: string | undefined;
  /** 1 (highest) … 5. @default 3 */
  readonly priority: Priority;
  /** When it happened (ISO-8601). */
  readonly occurredAt: string;
  /** When it may be handled (ISO-8601); absent means immediately. */
  readonly deliverAt?: string | undefined;
  readonly correlationId?: string | undefined;
  readonly causationId?: string | undefined;
  /** W3C trace context. */
  readonly traceparent?: string | undefined;
  /** Small string map. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

/** An envelope whose data has not been validated against a schema yet. */
export type UntypedEnvelope = EventEnvelope<string, unknown>;

/**
 * What a transport carries. Transports move these opaquely: they never parse `payload`.
 *
 * On the publish side `payload` is the codec's JSON document. On the subscribe side it is what
 * arrived: a string (JSON or garbage) or, for transports with field maps (Redis Streams), the
 * entry's fields. The inbox decodes it with the codec; an undecodable payload is dead-lettered.
 */
export interface EncodedEvent {
  /** The event id when the transport knows it; otherwise the transport's own message id. */
  readonly id: string;
  /** The event type when the transport knows it; `""` when it does not. */
  readonly type: string;
  /** Ordering key, when known. */
  readonly key?: string | undefined;
  /** The wire document (or a flattened field map). */
  readonly payload: string | Readonly<Record<string, string>>;
}
