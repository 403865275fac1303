/**
 * The wire format: one JSON document per event (the camelCase envelope with `data` nested), and a
 * decoder that also reads the snake_case style and flattened field maps (Redis stream entries).
 *
 * Both directions run per event on the hot path: nothing is built per call that can be built
 * once, the raw text is parsed exactly once, and field checks are `typeof` checks.
 */
import type { PublishEventOptions } from "./contracts/handler.js";
import {
  type EventData,
  type EventDefinition,
  type EventInput,
  type EventType,
  isValidEventType,
} from "./define-event.js";
import { tryParseDuration } from "./duration.js";
import { ConfigError, type ErrorCode, ValidationError } from "./errors.js";
import {
  DEFAULT_PRIORITY,
  type EncodedEvent,
  type EventEnvelope,
  type Priority,
  type UntypedEnvelope,
} from "./event.js";
import { uuidv7 } from "./uuid.js";

/** Limits the decoder enforces on untrusted input. */
export interface CodecLimits {
  /** Largest accepted document in UTF-8 bytes. @default 1048576 (1 MiB) */
  maxBytes?: number;
  /** Deepest accepted nesting of arrays/objects, the envelope itself counting as 1. @default 32 */
  maxDepth?: number;
}

/** Default {@link CodecLimits}: 1 MiB, depth 32. */
export const codecDefaults: { readonly maxBytes: 1048576; readonly maxDepth: 32 } = Object.freeze({
  maxBytes: 1048576,
  maxDepth: 32,
} as const);

/** Longest accepted event id and key. */
const MAX_ID_LENGTH = 255;

/**
 * Validates and completes {@link CodecLimits} (for factories that take them as options). Throws a
 * {@link ConfigError} listing every problem.
 *
 * @example
 * resolveCodecLimits({ maxBytes: 256 * 1024 }); // { maxBytes: 262144, maxDepth: 32 }
 */
export function resolveCodecLimits(limits: CodecLimits = {}): Required<CodecLimits> {
  const maxBytes = limits.maxBytes ?? codecDefaults.maxBytes;
  const maxDepth = limits.maxDepth ?? codecDefaults.maxDepth;
  const problems: string[] = [];
  if (!Number.isInteger(maxBytes) || maxBytes < 1)
    problems.push(`maxBytes must be an integer >= 1, got ${maxBytes}`);
  if (!Number.isInteger(maxDepth) || maxDepth < 2)
    problems.push(`maxDepth must be an integer >= 2, got ${maxDepth}`);
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:codec] invalid codec limits: ${problems.join("; ")}`, { problems });
  }
  return { maxBytes, maxDepth };
}

// ---------------------------------------------------------------------------------------------
// encode

/**
 * Encodes an envelope into the wire JSON document (camelCase envelope, `data` nested, absent
 * optional fields omitted). The result is an {@link EncodedEvent} whose `payload` is that string.
 *
 * MUST only return what {@link decodeEvent} accepts with the same limits: it throws a
 * {@link ValidationError} with code `PAYLOAD_TOO_LARGE` when the document is over `maxBytes`, and
 * `VALIDATION_FAILED` when `data` cannot be serialised (a `BigInt`, a cycle), nests deeper than
 * `maxDepth`, holds a key named `__proto__`, `constructor` or `prototype`, or a U+0000 (NUL)
 * character in a key or string.
 *
 * @example
 * const encoded = encodeEvent(createEnvelope(OrderCreated, { orderId: "o-1", total: 42 }));
 * await transport.publish("orders", [encoded]);
 */
export function encodeEvent(
  envelope: EventEnvelope,
  limits?: CodecLimits,
): EncodedEvent & { readonly payload: string } {
  const maxBytes = limits?.maxBytes ?? codecDefaults.maxBytes;
  const maxDepth = limits?.maxDepth ?? codecDefaults.maxDepth;
  let payload: string;
  try {
    payload = JSON.stringify({
      id: envelope.id,
      type: envelope.type,
      schemaVersion: envelope.schemaVersion,
      key: envelope.key,
      priority: envelope.priority,
      occurredAt: envelope.occurredAt,
      deliverAt: envelope.deliverAt,
      correlationId: envelope.correlationId,
      causationId: envelope.causationId,
      traceparent: envelope.traceparent,
      metadata: envelope.metadata,
      data: envelope.data,
    });
  } catch (cause) {
    throw new ValidationError(
      `[eventferry:codec] event ${JSON.stringify(envelope.id)} (${envelope.type}) cannot be encoded as JSON: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause, issues: ["data: not JSON-serialisable"] },
    );
  }
  if (exceedsBytes(payload, maxBytes)) {
    throw new ValidationError(
      `[eventferry:codec] event ${JSON.stringify(envelope.id)} (${envelope.type}) is larger than ${maxBytes} bytes when encoded`,
      { code: "PAYLOAD_TOO_LARGE", details: { maxBytes } },
    );
  }
  const problem = scanStructure(payload, maxDepth) ?? forbiddenKeyIn(payload);
  if (problem !== undefined) {
    throw new ValidationError(
      `[eventferry:codec] event ${JSON.stringify(envelope.id)} (${envelope.type}) cannot be encoded: ${problem}`,
      { issues: [problem] },
    );
  }
  return { id: envelope.id, type: envelope.type, key: envelope.key, payload };
}

// ---------------------------------------------------------------------------------------------
// decode

/**
 * Decodes what a transport delivered into an envelope whose `data` is not validated yet (the
 * registry does that). Accepts:
 *
 * 1. the camelCase envelope JSON string, as {@link encodeEvent} writes it;
 * 2. the snake_case style JSON: `{ event_id, event_type, aggregate_id (→ key), occurred_on
 *    (→ occurredAt), payload (→ data; a JSON string or a value), schema_version?, priority?,
 *    correlation_id?, causation_id?, deliver_at?, traceparent?, metadata? }`;
 * 3. a flattened field map (a Redis stream entry): either `{ data: "<json envelope>" }` /
 *    `{ event: "<json envelope>" }`, or the fields themselves in either naming style, where
 *    `data`/`payload`/`metadata` are JSON strings and numbers are decimal strings.
 *
 * Missing optional fields get their defaults (`schemaVersion` 1, `priority` 3); `null` counts as
 * missing; dates are normalised to `toISOString()` form; unknown fields are ignored.
 *
 * MUST throw a {@link ValidationError} — never another error type, never hang, never overflow the
 * stack — with code `PAYLOAD_TOO_LARGE` when the payload is over `maxBytes` UTF-8 bytes (checked
 * before parsing), or `DECODE_FAILED` for invalid or truncated JSON, a document that is not an
 * object, a missing or ill-typed field (id a non-empty string of at most 255 characters, type a
 * valid event type, occurredAt an ISO-8601 date, priority an integer 1…5, schemaVersion an
 * integer >= 1, key a string, metadata a map of strings), nesting deeper than `maxDepth`
 * (checked on the raw text before parsing), a key named `__proto__`, `constructor` or
 * `prototype` anywhere in the document, or a U+0000 (NUL) character in any key or string
 * (PostgreSQL cannot store one; rejected on every store alike).
 *
 * @example
 * const envelope = decodeEvent(delivery.event.payload);
 * const event = registry.validate(envelope);
 */
export function decodeEvent(
  payload: string | Readonly<Record<string, string>>,
  limits?: CodecLimits,
): UntypedEnvelope {
  const maxBytes = limits?.maxBytes ?? codecDefaults.maxBytes;
  const maxDepth = limits?.maxDepth ?? codecDefaults.maxDepth;
  if (typeof payload === "string") return fromDocument(parseDocument(payload, maxBytes, maxDepth), maxDepth);
  if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
    return fromFieldMap(payload, maxBytes, maxDepth);
  }
  return fail(
    `payload must be a JSON string or a field map, got ${payload === null ? "null" : typeof payload}`,
  );
}

/** Field names in the two naming styles, for messages. */
interface FieldNames {
  readonly id: string;
  readonly type: string;
  readonly key: string;
  readonly occurredAt: string;
  readonly deliverAt: string;
  readonly priority: string;
  readonly schemaVersion: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly traceparent: string;
  readonly metadata: string;
  readonly data: string;
}

const CAMEL: FieldNames = {
  id: "id",
  type: "type",
  key: "key",
  occurredAt: "occurredAt",
  deliverAt: "deliverAt",
  priority: "priority",
  schemaVersion: "schemaVersion",
  correlationId: "correlationId",
  causationId: "causationId",
  traceparent: "traceparent",
  metadata: "metadata",
  data: "data",
};

const SNAKE: FieldNames = {
  id: "event_id",
  type: "event_type",
  key: "aggregate_id",
  occurredAt: "occurred_on",
  deliverAt: "deliver_at",
  priority: "priority",
  schemaVersion: "schema_version",
  correlationId: "correlation_id",
  causationId: "causation_id",
  traceparent: "traceparent",
  metadata: "metadata",
  data: "payload",
};

/** The raw fields of an envelope before validation. */
interface RawFields {
  id: unknown;
  type: unknown;
  key: unknown;
  occurredAt: unknown;
  deliverAt: unknown;
  priority: unknown;
  schemaVersion: unknown;
  correlationId: unknown;
  causationId: unknown;
  traceparent: unknown;
  metadata: unknown;
  data: unknown;
}

function fromDocument(doc: Record<string, unknown>, maxDepth: number): UntypedEnvelope {
  if (doc.event_id !== undefined || doc.event_type !== undefined) {
    // snake_case style: `payload` and `metadata` may be JSON strings (text columns).
    const payload = doc.payload;
    const metadata = doc.metadata;
    return toEnvelope(
      {
        id: doc.event_id,
        type: doc.event_type,
        key: typeof doc.aggregate_id === "number" ? String(doc.aggregate_id) : doc.aggregate_id,
        occurredAt: doc.occurred_on ?? doc.occurred_at,
        deliverAt: doc.deliver_at,
        priority: doc.priority,
        schemaVersion: doc.schema_version,
        correlationId: doc.correlation_id,
        causationId: doc.causation_id,
        traceparent: doc.traceparent,
        metadata: typeof metadata === "string" ? parseNested(metadata, "metadata", maxDepth - 1) : metadata,
        data: typeof payload === "string" ? parseNested(payload, "payload", maxDepth - 1) : payload,
      },
      SNAKE,
      false,
    );
  }
  return toEnvelope(doc as unknown as RawFields, CAMEL, false);
}

const FLAT_ID_FIELDS = ["id", "event_id", "type", "event_type"] as const;

function fromFieldMap(
  fields: Readonly<Record<string, unknown>>,
  maxBytes: number,
  maxDepth: number,
): UntypedEnvelope {
  const names = Object.keys(fields);
  let units = 0;
  for (const name of names) {
    if (name === "__proto__" || name === "constructor" || name === "prototype") {
      fail(`field map has a forbidden key ${JSON.stringify(name)}`);
    }
    const value = fields[name];
    units += name.length + (typeof value === "string" ? value.length : 0);
  }
  if (units * 3 > maxBytes) {
    let bytes = 0;
    for (const name of names) {
      const value = fields[name];
      bytes += utf8Length(name) + (typeof value === "string" ? utf8Length(value) : 0);
    }
    if (bytes > maxBytes) tooLarge(maxBytes);
  }

  let flattened = false;
  for (const name of FLAT_ID_FIELDS) {
    if (fields[name] !== undefined) {
      flattened = true;
      break;
    }
  }
  if (!flattened) {
    const document = typeof fields.data === "string" ? fields.data : fields.event;
    if (typeof document !== "string") {
      fail('field map has neither an event document ("data" or "event") nor event fields ("id", "type")');
    }
    return fromDocument(parseDocument(document, maxBytes, maxDepth), maxDepth);
  }

  const snake = fields.event_id !== undefined || fields.event_type !== undefined;
  const f = snake ? SNAKE : CAMEL;
  const metadata = fields[f.metadata];
  const data = fields[f.data];
  return toEnvelope(
    {
      id: fields[f.id],
      type: fields[f.type],
      key: fields[f.key],
      occurredAt: fields[f.occurredAt] ?? (snake ? fields.occurred_at : undefined),
      deliverAt: fields[f.deliverAt],
      priority: fields[f.priority],
      schemaVersion: fields[f.schemaVersion],
      correlationId: fields[f.correlationId],
      causationId: fields[f.causationId],
      traceparent: fields[f.traceparent],
      metadata: typeof metadata === "string" ? parseNested(metadata, f.metadata, maxDepth - 1) : metadata,
      data: typeof data === "string" ? parseNested(data, f.data, maxDepth - 1) : data,
    },
    f,
    true,
  );
}

/** Size, depth and forbidden-key checks on the raw text, then one `JSON.parse`; must be an object. */
function parseDocument(text: string, maxBytes: number, maxDepth: number): Record<string, unknown> {
  if (exceedsBytes(text, maxBytes)) tooLarge(maxBytes);
  const first = firstNonWhitespace(text);
  if (first !== 123 /* { */) {
    if (first === -1) fail("payload is empty");
    fail("payload is not a JSON object");
  }
  const value = parseJson(text, "payload", maxDepth);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    fail("payload is not a JSON object");
  return value as Record<string, unknown>;
}

/** A JSON string nested in a field (`payload`, `data`, `metadata`): any JSON value. */
function parseNested(text: string, field: string, maxDepth: number): unknown {
  if (firstNonWhitespace(text) === -1) fail(`field "${field}" is an empty string, not JSON`);
  return parseJson(text, `field "${field}"`, maxDepth);
}

function parseJson(text: string, what: string, maxDepth: number): unknown {
  const problem = scanStructure(text, maxDepth);
  if (problem !== undefined) fail(`${what} ${problem}`);
  const guarded = mayHoldForbiddenKey(text);
  try {
    return guarded ? JSON.parse(text, rejectForbiddenKeys) : JSON.parse(text);
  } catch (cause) {
    if (cause instanceof ForbiddenKey) {
      return fail(`${what} has a forbidden key ${JSON.stringify(cause.key)} (prototype pollution)`);
    }
    if (cause instanceof NulCharacter) return fail(`${what} ${NUL_PROBLEM}`);
    return fail(`${what} is not valid JSON`, cause);
  }
}

/**
 * One pass over the raw text: nesting depth outside strings, and unterminated strings/containers.
 * Returns a problem or `undefined`. Strings are skipped with `indexOf`, so long string values
 * cost little. Linear time, constant stack.
 */
function scanStructure(text: string, maxDepth: number): string | undefined {
  const n = text.length;
  // Valid JSON of n characters nests at most n/2 deep, and JSON.parse fails fast on a short
  // invalid text: only longer texts need the scan.
  if (n <= 2 * maxDepth) return undefined;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return "is truncated (unterminated string)";
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) return `nests deeper than ${maxDepth} levels`;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  if (depth > 0) return "is truncated (unclosed object or array)";
  return undefined;
}

/** True when the character at `index` is preceded by an odd number of backslashes. */
function isEscaped(text: string, index: number): boolean {
  let backslashes = 0;
  for (let j = index - 1; j >= 0 && text.charCodeAt(j) === 92; j--) backslashes++;
  return (backslashes & 1) === 1;
}

/**
 * Only `\u` escapes can spell a letter in JSON, so a text without `\u`, "proto" and
 * "constructor" cannot hold a forbidden key and is parsed without a reviver.
 */
function mayHoldForbiddenKey(text: string): boolean {
  return text.includes("proto") || text.includes("constructor") || text.includes("\\u");
}

class ForbiddenKey extends Error {
  constructor(readonly key: string) {
    super(key);
  }
}

/** A U+0000 in a key or string: stores cannot keep it (PostgreSQL refuses it in text and jsonb). */
class NulCharacter extends Error {}

const NUL_PROBLEM = "holds a U+0000 (NUL) character, which stores cannot keep (PostgreSQL refuses it)";

function rejectForbiddenKeys(key: string, value: unknown): unknown {
  if (key === "__proto__" || key === "constructor" || key === "prototype") throw new ForbiddenKey(key);
  if (key.indexOf("\0") !== -1 || (typeof value === "string" && value.indexOf("\0") !== -1)) {
    throw new NulCharacter();
  }
  return value;
}

/** A string field that must not hold U+0000 (ids, keys, metadata: kept in text columns). */
function checkNoNul(value: string, field: string): void {
  if (value.indexOf("\0") !== -1) fieldError(field, NUL_PROBLEM);
}

/** A forbidden key in an already-valid JSON text, or `undefined` (for the encoder). */
function forbiddenKeyIn(text: string): string | undefined {
  if (!mayHoldForbiddenKey(text)) return undefined;
  try {
    JSON.parse(text, rejectForbiddenKeys);
  } catch (cause) {
    if (cause instanceof ForbiddenKey) return `data has a forbidden key ${JSON.stringify(cause.key)}`;
    if (cause instanceof NulCharacter) return `the event ${NUL_PROBLEM}`;
    throw cause;
  }
  return undefined;
}

function firstNonWhitespace(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return c;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// field validation

/** Types seen valid recently: a Set lookup instead of a RegExp per event. Bounded. */
const validTypes = new Set<string>();

function isKnownValidType(type: string): boolean {
  if (validTypes.has(type)) return true;
  if (!isValidEventType(type)) return false;
  if (validTypes.size < 1024) validTypes.add(type);
  return true;
}

function toEnvelope(raw: RawFields, f: FieldNames, stringNumbers: boolean): UntypedEnvelope {
  const id = raw.id;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    fieldError(
      f.id,
      id === undefined ? "is missing" : `must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
    );
  }
  checkNoNul(id, f.id);
  const type = raw.type;
  if (typeof type !== "string" || !isKnownValidType(type)) {
    fieldError(
      f.type,
      type === undefined
        ? "is missing"
        : "must be a valid event type (dot-separated segments of [A-Za-z0-9_-])",
    );
  }
  const occurredAt = toIsoDate(raw.occurredAt);
  if (occurredAt === undefined) {
    fieldError(f.occurredAt, raw.occurredAt === undefined ? "is missing" : "must be an ISO-8601 date");
  }
  let deliverAt: string | undefined;
  if (raw.deliverAt !== undefined && raw.deliverAt !== null && raw.deliverAt !== "") {
    deliverAt = toIsoDate(raw.deliverAt);
    if (deliverAt === undefined) fieldError(f.deliverAt, "must be an ISO-8601 date");
  }

  let priority: unknown = raw.priority ?? DEFAULT_PRIORITY;
  if (stringNumbers && typeof priority === "string") priority = integerFromString(priority);
  if (typeof priority !== "number" || !Number.isInteger(priority) || priority < 1 || priority > 5) {
    fieldError(f.priority, "must be an integer from 1 to 5");
  }
  let schemaVersion: unknown = raw.schemaVersion ?? 1;
  if (stringNumbers && typeof schemaVersion === "string") schemaVersion = integerFromString(schemaVersion);
  if (typeof schemaVersion !== "number" || !Number.isInteger(schemaVersion) || schemaVersion < 1) {
    fieldError(f.schemaVersion, "must be an integer >= 1");
  }

  let key = raw.key ?? undefined;
  if (key !== undefined) {
    if (typeof key !== "string" || key.length > MAX_ID_LENGTH) {
      fieldError(f.key, `must be a string of at most ${MAX_ID_LENGTH} characters`);
    }
    checkNoNul(key, f.key);
    if (key === "") key = undefined;
  }

  return {
    id,
    type,
    data: raw.data,
    schemaVersion,
    key: key as string | undefined,
    priority: priority as Priority,
    occurredAt,
    deliverAt,
    correlationId: optionalString(raw.correlationId, f.correlationId),
    causationId: optionalString(raw.causationId, f.causationId),
    traceparent: optionalString(raw.traceparent, f.traceparent),
    metadata: stringMap(raw.metadata, f.metadata),
  };
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") fieldError(field, "must be a string");
  checkNoNul(value, field);
  return value;
}

function stringMap(value: unknown, field: string): Readonly<Record<string, string>> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) fieldError(field, "must be an object of strings");
  const map = value as Record<string, unknown>;
  for (const k in map) {
    const v = map[k];
    if (typeof v !== "string")
      fieldError(field, `must be an object of strings (${JSON.stringify(k)} is not)`);
    checkNoNul(k, field);
    checkNoNul(v, field);
  }
  return map as Readonly<Record<string, string>>;
}

/** A decimal integer string (`"3"`) as a number; anything else is returned as is (and fails). */
function integerFromString(value: string): unknown {
  const n = value.length;
  if (n === 0 || n > 9) return value;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return value;
  }
  return Number(value);
}

/** The largest |ms| a Date holds. */
const MAX_DATE_MS = 8.64e15;

/**
 * An ISO-8601 date (at least `YYYY-MM-DD`) or epoch milliseconds, normalised to the
 * `toISOString()` form; `undefined` when invalid. Canonical input is returned as is.
 */
function toIsoDate(value: unknown): string | undefined {
  if (typeof value === "string") {
    const n = value.length;
    if (n < 10 || n > 64) return undefined;
    if (
      !isDigit(value, 0) ||
      !isDigit(value, 1) ||
      !isDigit(value, 2) ||
      !isDigit(value, 3) ||
      value.charCodeAt(4) !== 45 ||
      !isDigit(value, 5) ||
      !isDigit(value, 6) ||
      value.charCodeAt(7) !== 45 ||
      !isDigit(value, 8) ||
      !isDigit(value, 9)
    ) {
      return undefined;
    }
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) return undefined;
    // `2024-05-01T12:00:00.000Z` is what toISOString writes: keep the string.
    if (n === 24 && value.charCodeAt(10) === 84 /* T */ && value.charCodeAt(23) === 90 /* Z */) return value;
    return new Date(ms).toISOString();
  }
  if (typeof value === "number" && Number.isFinite(value) && Math.abs(value) <= MAX_DATE_MS) {
    return new Date(value).toISOString();
  }
  return undefined;
}

function isDigit(text: string, index: number): boolean {
  const c = text.charCodeAt(index);
  return c >= 48 && c <= 57;
}

// ---------------------------------------------------------------------------------------------
// sizes and errors

/** True when `text` is longer than `maxBytes` in UTF-8; exact, but counts only when it must. */
function exceedsBytes(text: string, maxBytes: number): boolean {
  const n = text.length;
  if (n * 3 <= maxBytes) return false; // a UTF-16 code unit is at most 3 UTF-8 bytes
  if (n > maxBytes) return true; // …and at least 1
  return utf8Length(text) > maxBytes;
}

/** UTF-8 byte length of a string (lone surrogates count 3, as their replacement character). */
export function utf8Length(text: string): number {
  let bytes = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function fail(message: string, cause?: unknown, code: ErrorCode = "DECODE_FAILED"): never {
  throw new ValidationError(`[eventferry:codec] ${message}`, {
    code,
    issues: [message],
    ...(cause === undefined ? {} : { cause }),
  });
}

function fieldError(field: string, problem: string): never {
  const message = `field "${field}" ${problem}`;
  throw new ValidationError(`[eventferry:codec] ${message}`, {
    code: "DECODE_FAILED",
    issues: [`${field}: ${problem}`],
    details: { field },
  });
}

function tooLarge(maxBytes: number): never {
  return fail(`payload is larger than ${maxBytes} bytes`, undefined, "PAYLOAD_TOO_LARGE");
}

// ---------------------------------------------------------------------------------------------
// create

/**
 * Builds a validated envelope for publishing: `data` is parsed by the definition's schema (its
 * output, with defaults applied, becomes `data`), `id` is a UUIDv7 unless `options.id`,
 * `occurredAt` is `now`, `deliverAt` comes from `options.delay` (relative to `now`) or
 * `options.deliverAt`, `priority` defaults to 3 and `schemaVersion` is the definition's version.
 *
 * MUST throw a {@link ValidationError} (code `VALIDATION_FAILED`) listing every problem with the
 * data (the schema's issues) or the options (priority not an integer 1…5, an empty or over-long
 * key or id, metadata that is not a map of strings, an invalid delay or deliverAt, both delay
 * and deliverAt).
 *
 * @param now The clock's current time. @default new Date()
 * @example
 * const envelope = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 }, { key: "customer-7", delay: "10m" });
 */
export function createEnvelope<D extends EventDefinition>(
  definition: D,
  data: EventInput<D>,
  options: PublishEventOptions = {},
  now: Date = new Date(),
): EventEnvelope<EventType<D>, EventData<D>> {
  const problems: string[] = [];
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) problems.push("now: must be a valid Date");

  const id = options.id ?? uuidv7();
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    problems.push(`id: must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  const key = options.key;
  if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > MAX_ID_LENGTH)) {
    problems.push(`key: must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
  const priority = options.priority ?? DEFAULT_PRIORITY;
  if (!Number.isInteger(priority) || priority < 1 || priority > 5) {
    problems.push(`priority: must be an integer from 1 to 5, got ${String(priority)}`);
  }

  let deliverAt: string | undefined;
  if (options.delay !== undefined && options.deliverAt !== undefined) {
    problems.push("delay, deliverAt: give one of them, not both");
  } else if (options.delay !== undefined) {
    const ms = tryParseDuration(options.delay);
    if (ms === undefined)
      problems.push(`delay: must be a non-negative duration, got ${JSON.stringify(options.delay)}`);
    else if (ms > 0 && Number.isFinite(nowMs)) deliverAt = toIsoOrProblem(nowMs + ms, "delay", problems);
  } else if (options.deliverAt !== undefined) {
    const at = options.deliverAt;
    const ms = at instanceof Date ? at.getTime() : Number.NaN;
    if (Number.isNaN(ms)) problems.push("deliverAt: must be a valid Date");
    else deliverAt = at.toISOString();
  }

  for (const name of ["correlationId", "causationId", "traceparent"] as const) {
    const value = options[name];
    if (value !== undefined && typeof value !== "string") problems.push(`${name}: must be a string`);
  }

  let metadata: Record<string, string> | undefined;
  if (options.metadata !== undefined) {
    const m = options.metadata as unknown;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      problems.push("metadata: must be an object of strings");
    } else {
      metadata = {};
      for (const [k, v] of Object.entries(m)) {
        if (k === "__proto__" || k === "constructor" || k === "prototype") {
          problems.push(`metadata: key ${JSON.stringify(k)} is not allowed`);
        } else if (typeof v !== "string") {
          problems.push(`metadata.${k}: must be a string`);
        } else {
          metadata[k] = v;
        }
      }
    }
  }

  const parsed = definition.safeParse(data);
  if (!parsed.success)
    problems.push(...(parsed.error.issues.length > 0 ? parsed.error.issues : [parsed.error.message]));

  if (problems.length > 0) {
    throw new ValidationError(
      `[eventferry:core] cannot create "${definition.type}" event: ${problems.join("; ")}`,
      parsed.success ? { issues: problems } : { issues: problems, cause: parsed.error },
    );
  }

  return {
    id,
    type: definition.type as EventType<D>,
    data: parsed.success ? (parsed.data as EventData<D>) : (undefined as never),
    schemaVersion: definition.version,
    key,
    priority,
    occurredAt: now.toISOString(),
    deliverAt,
    correlationId: options.correlationId,
    causationId: options.causationId,
    traceparent: options.traceparent,
    metadata,
  };
}

function toIsoOrProblem(ms: number, field: string, problems: string[]): string | undefined {
  if (Math.abs(ms) > MAX_DATE_MS) {
    problems.push(`${field}: is too far in the future`);
    return undefined;
  }
  return new Date(ms).toISOString();
}
