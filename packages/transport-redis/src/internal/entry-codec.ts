// How events are laid out in stream entries, and how any entry — ours, a foreign producer's, or
// garbage — becomes an EncodedEvent. Runs per entry on the hot path: no JSON parsing, one pass
// over the field list.
import type { EncodedEvent } from "@eventferry/core";

/**
 * Field holding `<id>\n<type>` or `<id>\n<type>\n<key>` beside the document: one field instead of
 * three keeps entries small (Redis parses, stores and replies fewer strings per entry).
 */
export const META_FIELD = "ef";
/** Field holding the event id, when the id or type contains a newline (and for field-map payloads). */
export const ID_FIELD = "ef-id";
/** Field holding the event type. */
export const TYPE_FIELD = "ef-type";
/** Field holding the ordering key, when the event has one. */
export const KEY_FIELD = "ef-key";
/** Field holding the wire document (the JSON envelope). */
export const DATA_FIELD = "data";
/** Marker of an event published with a field-map payload (its fields are the entry's other fields). */
export const FIELDS_MARKER = "ef-fields";

/** The reserved prefix of our own fields: a field-map payload may not use it. */
export const RESERVED_PREFIX = "ef-";

/**
 * The XADD field/value arguments of one event: `data <payload>` when the payload is an envelope
 * document that starts with the event's id, type (and key) — what `encodeEvent` writes —, else
 * `ef <id>\n<type>[\n<key>], data <payload>` for a string payload (`ef-id, ef-type, [ef-key], data` when the id or type holds a newline); the map's
 * own fields plus `ef-id, ef-type, [ef-key], ef-fields` for a field map.
 */
export function entryFields(event: EncodedEvent): string[] {
  const payload = event.payload;
  const key = event.key;
  const id = event.id;
  const type = event.type;
  if (typeof payload === "string") {
    // The codec's document starts with id, type, schemaVersion, key: when the reader finds exactly
    // this event's id, type and key there, the document alone is enough (an entry as small as a
    // hand-written `XADD key * data <json>`).
    if (matchesEnvelope(payload, id, type, key ?? undefined)) return [DATA_FIELD, payload];
    if (!id.includes("\n") && !type.includes("\n")) {
      return [
        META_FIELD,
        key === undefined || key === null ? `${id}\n${type}` : `${id}\n${type}\n${key}`,
        DATA_FIELD,
        payload,
      ];
    }
    return key === undefined || key === null
      ? [ID_FIELD, event.id, TYPE_FIELD, event.type, DATA_FIELD, payload]
      : [ID_FIELD, event.id, TYPE_FIELD, event.type, KEY_FIELD, key, DATA_FIELD, payload];
  }
  const out: string[] = [ID_FIELD, event.id, TYPE_FIELD, event.type];
  if (key !== undefined && key !== null) out.push(KEY_FIELD, key);
  out.push(FIELDS_MARKER, "1");
  for (const name of Object.keys(payload)) out.push(name, payload[name] as string);
  return out;
}

/**
 * The problem with an event's shape for publishing, or `undefined`. Checked before anything is
 * sent, so a bad batch is rejected whole.
 */
export function eventProblem(event: unknown, index: number): string | undefined {
  if (typeof event !== "object" || event === null) return `events[${index}] is not an object`;
  const e = event as Partial<EncodedEvent>;
  if (typeof e.id !== "string" || e.id.length === 0) return `events[${index}].id must be a non-empty string`;
  if (typeof e.type !== "string") return `events[${index}].type must be a string`;
  if (e.key !== undefined && e.key !== null && typeof e.key !== "string")
    return `events[${index}].key must be a string`;
  const payload = e.payload;
  if (typeof payload === "string") return undefined;
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return `events[${index}].payload must be a string or a map of strings`;
  }
  const names = Object.keys(payload);
  if (names.length === 0) return `events[${index}].payload is an empty field map`;
  for (const name of names) {
    if (name.startsWith(RESERVED_PREFIX))
      return `events[${index}].payload field "${name}" uses the reserved prefix "${RESERVED_PREFIX}"`;
    if (typeof (payload as Record<string, unknown>)[name] !== "string")
      return `events[${index}].payload field "${name}" is not a string`;
  }
  return undefined;
}

/**
 * An entry as the subscriber hands it on. Recognised layouts, in order:
 *
 * 1. ours: `ef` (id, type, key) or `ef-id`, `ef-type`, `ef-key`?, and `data` (the JSON envelope)
 *    → payload = `data`; with `ef-fields` → payload = the other fields (a field-map payload);
 * 2. a `data` (or `event`) field holding an envelope and no event fields → payload = that string,
 *    id = the entry id, type `""`;
 * 3. flattened event fields (`event_id`/`event_type`/`aggregate_id`/…, or `id`/`type`/…) →
 *    payload = the field map, id/type/key from those fields;
 * 4. anything else → payload = the field map, id = the entry id, type `""` (the inbox's decode
 *    fails and dead-letters it; the stream is never blocked).
 */
export function decodeEntry(entryId: string, fields: readonly string[]): EncodedEvent {
  let id: string | undefined;
  let type: string | undefined;
  let key: string | undefined;
  let data: string | undefined;
  let ours = false;
  let fieldsMarker = false;
  let flat = false;
  const n = fields.length;
  // Fast paths: exactly what we publish, `data <document>` or `ef <meta> data <payload>`.
  if (n === 2 && fields[0] === DATA_FIELD) return fromDocument(entryId, fields[1] as string);
  if (n === 4 && fields[0] === META_FIELD && fields[2] === DATA_FIELD) {
    const event = fromMeta(fields[1] as string, fields[3] as string);
    if (event !== undefined) return event;
  }
  for (let i = 0; i + 1 < n; i += 2) {
    const name = fields[i];
    switch (name) {
      case META_FIELD: {
        const meta = fields[i + 1] as string;
        const first = meta.indexOf("\n");
        if (first > 0) {
          const second = meta.indexOf("\n", first + 1);
          id = meta.slice(0, first);
          type = second === -1 ? meta.slice(first + 1) : meta.slice(first + 1, second);
          if (second !== -1) key = meta.slice(second + 1);
          ours = true;
        }
        break;
      }
      case ID_FIELD:
        id = fields[i + 1];
        ours = true;
        break;
      case TYPE_FIELD:
        type = fields[i + 1];
        break;
      case KEY_FIELD:
        key = fields[i + 1];
        break;
      case DATA_FIELD:
        data = fields[i + 1];
        break;
      case FIELDS_MARKER:
        fieldsMarker = true;
        break;
      case "id":
      case "type":
      case "event_id":
      case "event_type":
        flat = true;
        break;
    }
  }
  if (ours && !fieldsMarker && data !== undefined && typeof id === "string") {
    return key === undefined
      ? { id, type: type ?? "", payload: data }
      : { id, type: type ?? "", key, payload: data };
  }
  if (ours && fieldsMarker && typeof id === "string") {
    const map = fieldMap(fields, true);
    return key === undefined
      ? { id, type: type ?? "", payload: map }
      : { id, type: type ?? "", key, payload: map };
  }
  const map = fieldMap(fields, false);
  if (!flat) {
    const document = data ?? map.event;
    if (typeof document === "string" && !ours) return fromDocument(entryId, document);
    return { id: entryId, type: "", payload: map };
  }
  const flatId = nonEmpty(map.event_id) ?? nonEmpty(map.id) ?? entryId;
  const flatType = map.event_type ?? map.type ?? "";
  const flatKey = nonEmpty(map.aggregate_id) ?? nonEmpty(map.key);
  return flatKey === undefined
    ? { id: flatId, type: flatType, payload: map }
    : { id: flatId, type: flatType, key: flatKey, payload: map };
}

/** An event from a lone document: id, type and key peeked from its start when there, else the entry id. */
function fromDocument(entryId: string, document: string): EncodedEvent {
  return peekEvent(document) ?? { id: entryId, type: "", payload: document };
}

/**
 * True when {@link peekEnvelope} reads exactly `id`, `type` and `key` from `document`. Checked in
 * place without allocating (the publish hot path); strings that JSON would escape never match, so
 * such events keep the meta field.
 */
export function matchesEnvelope(
  document: string,
  id: string,
  type: string,
  key: string | undefined,
): boolean {
  if (!document.startsWith('{"id":"') || !plain(id) || id.length === 0 || !document.startsWith(id, 7))
    return false;
  let pos = 7 + id.length;
  if (!document.startsWith('","type":"', pos) || !plain(type)) return false;
  pos += 10;
  if (!document.startsWith(type, pos) || document.charCodeAt(pos + type.length) !== 34) return false;
  pos += type.length + 1;
  if (document.startsWith(',"schemaVersion":', pos)) {
    pos += 17;
    while (pos < document.length) {
      const c = document.charCodeAt(pos);
      if (c < 48 || c > 57) break;
      pos++;
    }
  }
  const hasKey = document.startsWith(',"key":"', pos);
  if (key === undefined) return !hasKey;
  if (!hasKey || !plain(key)) return false;
  pos += 8;
  return document.startsWith(key, pos) && document.charCodeAt(pos + key.length) === 34;
}

/** No character JSON escapes as `\"` or `\\` (control characters show up as a mismatch instead). */
function plain(text: string): boolean {
  return text.indexOf('"') === -1 && text.indexOf("\\") === -1;
}

/**
 * Reads id, type and key from the start of an envelope document as `encodeEvent` writes it —
 * `{"id":…,"type":…[,"schemaVersion":n][,"key":…]` — without parsing the rest. `undefined`
 * when the document does not start that way. (Only a hint for EncodedEvent: the inbox decodes
 * and validates the whole document.)
 */
export function peekEnvelope(
  document: string,
): { id: string; type: string; key: string | undefined } | undefined {
  const event = peekEvent(document);
  return event === undefined ? undefined : { id: event.id, type: event.type, key: event.key };
}

/** {@link peekEnvelope} as the EncodedEvent of the document (one object per entry on the hot path). */
function peekEvent(document: string): EncodedEvent | undefined {
  if (!document.startsWith('{"id":"')) return undefined;
  const id = readJsonString(document, 6);
  if (id === undefined || id.value.length === 0 || !document.startsWith(',"type":"', id.end))
    return undefined;
  const type = readJsonString(document, id.end + 8);
  if (type === undefined) return undefined;
  let pos = type.end;
  if (document.startsWith(',"schemaVersion":', pos)) {
    pos += 17;
    while (pos < document.length) {
      const c = document.charCodeAt(pos);
      if (c < 48 || c > 57) break;
      pos++;
    }
  }
  if (document.startsWith(',"key":"', pos)) {
    const k = readJsonString(document, pos + 7);
    if (k === undefined) return undefined;
    return { id: id.value, type: type.value, key: k.value, payload: document };
  }
  return { id: id.value, type: type.value, payload: document };
}

/** The JSON string whose opening quote is at `quote`: its value and the index after its closing quote. */
function readJsonString(text: string, quote: number): { value: string; end: number } | undefined {
  if (text.charCodeAt(quote) !== 34) return undefined;
  const close = text.indexOf('"', quote + 1);
  if (close === -1) return undefined;
  const raw = text.slice(quote + 1, close);
  if (!raw.includes("\\")) return { value: raw, end: close + 1 };
  // Escapes: find the unescaped closing quote and let JSON.parse unescape the token.
  let end = close;
  while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
  if (end === -1) return undefined;
  try {
    const value: unknown = JSON.parse(text.slice(quote, end + 1));
    return typeof value === "string" ? { value, end: end + 1 } : undefined;
  } catch {
    return undefined;
  }
}

/** True when the character at `index` follows an odd number of backslashes. */
function isEscaped(text: string, index: number): boolean {
  let backslashes = 0;
  for (let j = index - 1; j >= 0 && text.charCodeAt(j) === 92; j--) backslashes++;
  return (backslashes & 1) === 1;
}

/** An event from our meta field and document; `undefined` when the meta field is malformed. */
function fromMeta(meta: string, data: string): EncodedEvent | undefined {
  const first = meta.indexOf("\n");
  if (first <= 0) return undefined;
  const second = meta.indexOf("\n", first + 1);
  if (second === -1) return { id: meta.slice(0, first), type: meta.slice(first + 1), payload: data };
  return {
    id: meta.slice(0, first),
    type: meta.slice(first + 1, second),
    key: meta.slice(second + 1),
    payload: data,
  };
}

/** The entry's fields as a map without a prototype (a field may be named `__proto__`). */
function fieldMap(fields: readonly string[], withoutOwn: boolean): Record<string, string> {
  const map: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] as string;
    if (withoutOwn && name.startsWith(RESERVED_PREFIX)) continue;
    map[name] = fields[i + 1] as string;
  }
  return map;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
