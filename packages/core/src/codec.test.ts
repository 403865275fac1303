import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  codecDefaults,
  createEnvelope,
  decodeEvent,
  encodeEvent,
  resolveCodecLimits,
  utf8Length,
} from "./codec.js";
import { defineEvent } from "./define-event.js";
import { ConfigError, type ErrorCode, ValidationError } from "./errors.js";
import type { EventEnvelope } from "./event.js";
import { isUuidv7 } from "./uuid.js";

const OrderCreated = defineEvent(
  "order.created",
  z.object({ orderId: z.string(), total: z.number(), note: z.string().default("") }),
);
const NOW = new Date("2024-05-01T12:00:00.000Z");

function expectCode(fn: () => unknown, code: ErrorCode, message?: string | RegExp): ValidationError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, "expected a ValidationError").toBeInstanceOf(ValidationError);
  const v = error as ValidationError;
  expect(v.code).toBe(code);
  expect(v.message.startsWith("[eventferry:")).toBe(true);
  if (message !== undefined) expect(v.message).toMatch(message);
  return v;
}

const full: EventEnvelope = {
  id: "0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d",
  type: "order.created",
  data: {
    orderId: "o-1",
    total: 42,
    lines: [{ sku: "a", qty: 2 }],
    tags: ["x"],
    nested: { deep: { deeper: true } },
  },
  schemaVersion: 2,
  key: "customer-7",
  priority: 1,
  occurredAt: "2024-05-01T12:00:00.000Z",
  deliverAt: "2024-05-01T12:10:00.000Z",
  correlationId: "c-1",
  causationId: "e-0",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  metadata: { tenant: "acme", source: "api" },
};

describe("encodeEvent / decodeEvent round trip", () => {
  it.each([
    ["a full envelope", full],
    [
      "a minimal envelope",
      {
        id: "e-1",
        type: "a",
        data: null,
        schemaVersion: 1,
        priority: 3,
        occurredAt: "2024-05-01T12:00:00.000Z",
      },
    ],
    [
      "unicode and emoji",
      { ...full, data: { text: 'Grüße, 世界! 🚀👩‍👩‍👧 \u2028 "q" \\ \n\t', ключ: "значение" } },
    ],
    [
      "escaped look-alikes of forbidden keys as values",
      { ...full, data: { word: "constructor", proto: "__proto__" } },
    ],
    ["strings full of brackets", { ...full, data: { s: "[[[[{{{{".repeat(100), t: '\\"]]]}}}' } }],
    ["a scalar payload", { ...full, data: 7 }],
    ["an array payload", { ...full, data: [1, "two", { three: 3 }] }],
    ["no data at all", { ...full, data: undefined }],
  ] as const)("%s", (_name, envelope) => {
    const encoded = encodeEvent(envelope as EventEnvelope);
    expect(encoded.id).toBe(envelope.id);
    expect(encoded.type).toBe(envelope.type);
    expect(encoded.key).toBe((envelope as EventEnvelope).key);
    expect(typeof encoded.payload).toBe("string");
    expect(decodeEvent(encoded.payload)).toEqual(envelope);
  });

  it("writes a camelCase document with data nested and absent fields omitted", () => {
    const envelope = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 }, {}, NOW);
    const doc = JSON.parse(encodeEvent(envelope).payload);
    expect(doc).toEqual({
      id: envelope.id,
      type: "order.created",
      schemaVersion: 1,
      priority: 3,
      occurredAt: "2024-05-01T12:00:00.000Z",
      data: { orderId: "o-1", total: 42, note: "" },
    });
  });

  it("round-trips what createEnvelope builds", () => {
    const envelope = createEnvelope(
      OrderCreated,
      { orderId: "o-1", total: 42 },
      { key: "k", priority: 5, delay: "10m", metadata: { a: "b" }, correlationId: "c" },
      NOW,
    );
    expect(decodeEvent(encodeEvent(envelope).payload)).toEqual(envelope);
  });
});

describe("decodeEvent input styles", () => {
  it("fills defaults: schemaVersion 1, priority 3", () => {
    const e = decodeEvent('{"id":"e-1","type":"a.b","occurredAt":"2024-05-01T12:00:00.000Z","data":{}}');
    expect(e.schemaVersion).toBe(1);
    expect(e.priority).toBe(3);
    expect(e.key).toBeUndefined();
  });

  it("treats null optional fields as absent", () => {
    const e = decodeEvent(
      JSON.stringify({
        id: "e",
        type: "a",
        occurredAt: "2024-05-01T12:00:00Z",
        key: null,
        priority: null,
        metadata: null,
        correlationId: null,
      }),
    );
    expect(e).toMatchObject({ priority: 3, schemaVersion: 1 });
    expect(e.key).toBeUndefined();
    expect(e.metadata).toBeUndefined();
    expect(e.correlationId).toBeUndefined();
  });

  it("normalises dates to toISOString form", () => {
    const e = decodeEvent(JSON.stringify({ id: "e", type: "a", occurredAt: "2024-05-01T14:00:00+02:00" }));
    expect(e.occurredAt).toBe("2024-05-01T12:00:00.000Z");
  });

  it("reads the snake_case style with payload as a JSON string", () => {
    const e = decodeEvent(
      JSON.stringify({
        event_id: "e-9",
        event_type: "order.created",
        aggregate_id: "customer-7",
        occurred_on: "2024-05-01T12:00:00.000Z",
        payload: JSON.stringify({ orderId: "o-1", total: 42 }),
        schema_version: 2,
        priority: 2,
        correlation_id: "c-1",
        causation_id: "e-8",
        metadata: { tenant: "acme" },
      }),
    );
    expect(e).toEqual({
      id: "e-9",
      type: "order.created",
      key: "customer-7",
      occurredAt: "2024-05-01T12:00:00.000Z",
      data: { orderId: "o-1", total: 42 },
      schemaVersion: 2,
      priority: 2,
      correlationId: "c-1",
      causationId: "e-8",
      metadata: { tenant: "acme" },
    });
  });

  it("reads the snake_case style with payload as an object, numeric aggregate ids and defaults", () => {
    const e = decodeEvent(
      '{"event_id":"e-9","event_type":"order.created","aggregate_id":77,"occurred_on":"2024-05-01T12:00:00.000Z","payload":{"orderId":"o-1"}}',
    );
    expect(e).toMatchObject({
      id: "e-9",
      key: "77",
      data: { orderId: "o-1" },
      schemaVersion: 1,
      priority: 3,
    });
  });

  it("reads a field map holding the envelope document under data or event", () => {
    const payload = encodeEvent(full).payload;
    expect(decodeEvent({ data: payload })).toEqual(full);
    expect(decodeEvent({ event: payload })).toEqual(full);
  });

  it("reads a flattened camelCase field map (numbers as strings, nested values as JSON)", () => {
    const e = decodeEvent({
      id: full.id,
      type: full.type,
      schemaVersion: "2",
      key: "customer-7",
      priority: "1",
      occurredAt: full.occurredAt,
      deliverAt: full.deliverAt as string,
      correlationId: "c-1",
      causationId: "e-0",
      traceparent: full.traceparent as string,
      metadata: JSON.stringify(full.metadata),
      data: JSON.stringify(full.data),
    });
    expect(e).toEqual(full);
  });

  it("reads a flattened snake_case field map", () => {
    const e = decodeEvent({
      event_id: "e-9",
      event_type: "order.created",
      aggregate_id: "customer-7",
      occurred_on: "2024-05-01T12:00:00.000Z",
      payload: '{"orderId":"o-1","total":42}',
      schema_version: "3",
      priority: "4",
    });
    expect(e).toMatchObject({
      id: "e-9",
      key: "customer-7",
      data: { orderId: "o-1", total: 42 },
      schemaVersion: 3,
      priority: 4,
    });
  });

  it("ignores unknown fields", () => {
    const e = decodeEvent(JSON.stringify({ ...full, position: 12, extra: { a: 1 } }));
    expect(e).toEqual(full);
  });
});

describe("decodeEvent bad input", () => {
  const valid = { id: "e-1", type: "order.created", occurredAt: "2024-05-01T12:00:00.000Z", data: { a: 1 } };
  const withField = (field: string, value: unknown) => JSON.stringify({ ...valid, [field]: value });
  const without = (field: string) => {
    const copy: Record<string, unknown> = { ...valid };
    delete copy[field];
    return JSON.stringify(copy);
  };

  const corpus: [name: string, payload: string | Record<string, string>, message?: RegExp][] = [
    ["invalid JSON", "{id: 1}", /not valid JSON/],
    ["truncated JSON", encodeEvent(full).payload.slice(0, 60) as string],
    ["truncated in a string", '{"id":"e-1","type":"order.crea'],
    ["trailing garbage", `${JSON.stringify(valid)}x`],
    ["empty string", "", /empty/],
    ["whitespace only", "   \n", /empty/],
    ["null", "null", /not a JSON object/],
    ["an array", "[1,2,3]", /not a JSON object/],
    ["a number", "42", /not a JSON object/],
    ["a JSON string", '"hello"', /not a JSON object/],
    ["missing id", without("id"), /field "id" is missing/],
    ["missing type", without("type"), /field "type" is missing/],
    ["missing occurredAt", without("occurredAt"), /field "occurredAt" is missing/],
    ["id a number", withField("id", 42), /field "id"/],
    ["id empty", withField("id", ""), /field "id"/],
    ["id too long", withField("id", "x".repeat(256)), /field "id"/],
    ["type a number", withField("type", 1), /field "type"/],
    ["type with spaces", withField("type", "order created"), /field "type" must be a valid event type/],
    ["type with empty segment", withField("type", "order..created"), /field "type"/],
    ["type a glob", withField("type", "order.*"), /field "type"/],
    ["type too long", withField("type", "a".repeat(256)), /field "type"/],
    [
      "occurredAt garbage",
      withField("occurredAt", "yesterday"),
      /field "occurredAt" must be an ISO-8601 date/,
    ],
    ["occurredAt impossible", withField("occurredAt", "2024-13-45T99:00:00Z"), /occurredAt/],
    ["occurredAt an object", withField("occurredAt", {}), /occurredAt/],
    ["deliverAt garbage", withField("deliverAt", "later"), /field "deliverAt"/],
    ["priority 0", withField("priority", 0), /field "priority" must be an integer from 1 to 5/],
    ["priority 6", withField("priority", 6), /priority/],
    ["priority 2.5", withField("priority", 2.5), /priority/],
    ["priority a string in JSON", withField("priority", "1"), /priority/],
    ["schemaVersion 0", withField("schemaVersion", 0), /field "schemaVersion"/],
    ["schemaVersion 1.5", withField("schemaVersion", 1.5), /schemaVersion/],
    ["schemaVersion a string in JSON", withField("schemaVersion", "2"), /schemaVersion/],
    ["key a number", withField("key", 7), /field "key"/],
    ["key too long", withField("key", "k".repeat(256)), /field "key"/],
    ["metadata an array", withField("metadata", ["a"]), /field "metadata"/],
    ["metadata with a number", withField("metadata", { a: 1 }), /field "metadata"/],
    ["metadata a string", withField("metadata", "a=b"), /field "metadata"/],
    ["correlationId a number", withField("correlationId", 1), /field "correlationId"/],
    ["traceparent an object", withField("traceparent", {}), /field "traceparent"/],
    [
      "snake payload invalid JSON",
      JSON.stringify({ event_id: "e", event_type: "a", occurred_on: "2024-05-01", payload: "{nope" }),
      /payload/,
    ],
    [
      "snake missing event_type",
      JSON.stringify({ event_id: "e", occurred_on: "2024-05-01" }),
      /field "event_type" is missing/,
    ],
    [
      "__proto__ at top level",
      '{"__proto__":{"polluted":true},"id":"e-1","type":"a","occurredAt":"2024-05-01T12:00:00Z"}',
      /__proto__/,
    ],
    ["constructor at top level", JSON.stringify({ ...valid, constructor: { name: "x" } }), /constructor/],
    ["prototype at top level", JSON.stringify({ ...valid, prototype: 1 }), /prototype/],
    [
      "__proto__ nested in data",
      '{"id":"e-1","type":"a","occurredAt":"2024-05-01T12:00:00Z","data":{"x":[{"__proto__":{"isAdmin":true}}]}}',
      /__proto__/,
    ],
    [
      "constructor nested in data",
      JSON.stringify({ ...valid, data: { a: { b: { constructor: 1 } } } }),
      /constructor/,
    ],
    ["prototype nested in metadata", JSON.stringify({ ...valid, metadata: { prototype: "x" } }), /prototype/],
    [
      "__proto__ spelled with \\u escapes",
      '{"id":"e-1","type":"a","occurredAt":"2024-05-01T12:00:00Z","data":{"\\u005f_pr\\u006fto__":{}}}',
      /__proto__/,
    ],
    [
      "__proto__ inside a snake payload string",
      JSON.stringify({
        event_id: "e",
        event_type: "a",
        occurred_on: "2024-05-01",
        payload: '{"__proto__":{}}',
      }),
      /__proto__/,
    ],
    ["U+0000 in a data string", JSON.stringify({ ...valid, data: { name: "a\u0000b" } }), /U\+0000/],
    ["U+0000 in a data key", JSON.stringify({ ...valid, data: { "a\u0000": 1 } }), /U\+0000/],
    ["U+0000 in the id", JSON.stringify({ ...valid, id: "e\u0000" }), /U\+0000/],
    ["U+0000 in the key", JSON.stringify({ ...valid, key: "k\u0000" }), /U\+0000/],
    ["U+0000 in metadata", JSON.stringify({ ...valid, metadata: { a: "\u0000" } }), /U\+0000/],
    [
      "U+0000 in a snake payload string",
      JSON.stringify({
        event_id: "e",
        event_type: "a",
        occurred_on: "2024-05-01",
        payload: '{"x":"\\u0000"}',
      }),
      /U\+0000/,
    ],
    ["U+0000 in a flattened id field", { id: "e\u0000", type: "a", occurredAt: "2024-05-01" }, /U\+0000/],
    ["binary garbage", String.fromCharCode(...Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256))],
    ["NUL bytes", "\u0000\u0000{\u0000}"],
    ["lone surrogates", '\ud800{"id":"\udfff"}'],
    ["field map without document or fields", { foo: "bar" }, /neither/],
    ["field map with a non-JSON data document", { data: "not json" }],
    [
      "flattened map with invalid priority",
      { id: "e", type: "a", occurredAt: "2024-05-01", priority: "high" },
      /priority/,
    ],
    [
      "flattened map with priority ' 3'",
      { id: "e", type: "a", occurredAt: "2024-05-01", priority: " 3" },
      /priority/,
    ],
    [
      "flattened map with invalid data JSON",
      { id: "e", type: "a", occurredAt: "2024-05-01", data: "{" },
      /data/,
    ],
    ["flattened map with empty data", { id: "e", type: "a", occurredAt: "2024-05-01", data: "" }, /data/],
    [
      "flattened map with __proto__ in data",
      { id: "e", type: "a", occurredAt: "2024-05-01", data: '{"__proto__":{}}' },
      /__proto__/,
    ],
    [
      "flattened map with metadata not a map",
      { id: "e", type: "a", occurredAt: "2024-05-01", metadata: "[1]" },
      /metadata/,
    ],
  ];

  it.each(corpus)("%s -> DECODE_FAILED", (_name, payload, message) => {
    expectCode(() => decodeEvent(payload), "DECODE_FAILED", message);
  });

  it("does not pollute Object.prototype", () => {
    try {
      decodeEvent('{"__proto__":{"polluted":true},"id":"e","type":"a","occurredAt":"2024-05-01"}');
    } catch {}
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("rejects a field map with a __proto__ key of its own", () => {
    const fields = JSON.parse('{"__proto__":"x","id":"e","type":"a","occurredAt":"2024-05-01"}');
    expectCode(() => decodeEvent(fields), "DECODE_FAILED", /__proto__/);
  });

  it("rejects non-string, non-object payloads from untyped callers", () => {
    for (const payload of [null, undefined, 42, ["a"]])
      expectCode(() => decodeEvent(payload as never), "DECODE_FAILED");
  });

  it.each([
    ["10,000-deep arrays", `{"data":${"[".repeat(10_000)}${"]".repeat(10_000)}}`],
    ["10,000-deep objects", `{"data":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`],
    ["100,000-deep unclosed arrays", "[".repeat(100_000)],
    ["100,000-deep arrays at the top", `${"[".repeat(100_000)}${"]".repeat(100_000)}`],
    [
      "deep nesting inside a snake payload string",
      JSON.stringify({
        event_id: "e",
        event_type: "a",
        occurred_on: "2024-05-01",
        payload: `${"[".repeat(5000)}${"]".repeat(5000)}`,
      }),
    ],
    [
      "deep nesting in a flattened data field",
      { id: "e", type: "a", occurredAt: "2024-05-01", data: `${"[".repeat(5000)}${"]".repeat(5000)}` },
    ],
  ] as const)("%s -> DECODE_FAILED, not RangeError", (_name, payload) => {
    expectCode(() => decodeEvent(payload), "DECODE_FAILED");
  });

  it("accepts nesting up to maxDepth and rejects one more", () => {
    const nest = (levels: number) =>
      `{"id":"e","type":"a","occurredAt":"2024-05-01T12:00:00.000Z","data":${"[".repeat(levels)}${"]".repeat(levels)}}`;
    // the envelope is level 1, so data may nest maxDepth - 1 levels
    expect(() => decodeEvent(nest(31))).not.toThrow();
    expectCode(() => decodeEvent(nest(32)), "DECODE_FAILED", /deeper than 32/);
    expect(() => decodeEvent(nest(5), { maxDepth: 6 })).not.toThrow();
    expectCode(() => decodeEvent(nest(6), { maxDepth: 6 }), "DECODE_FAILED");
  });

  it("counts brackets inside strings as text, not nesting", () => {
    const data = { s: "[".repeat(1000), t: '\\"[[[[' };
    expect(decodeEvent(JSON.stringify({ ...valid, data })).data).toEqual(data);
  });

  describe("size limit", () => {
    const sized = (bytes: number, char = "a") => {
      const head = JSON.stringify({ ...valid, data: "" });
      const fill = bytes - head.length;
      const unit = utf8Length(char);
      const doc = JSON.stringify({
        ...valid,
        data: char.repeat(Math.floor(fill / unit)) + "a".repeat(fill % unit),
      });
      expect(utf8Length(doc)).toBe(bytes);
      return doc;
    };

    it("accepts exactly 1 MiB and rejects 1 MiB + 1 byte before parsing", () => {
      const exact = sized(1024 * 1024);
      expect(decodeEvent(exact).id).toBe("e-1");
      const over = `${exact} `;
      expectCode(() => decodeEvent(over), "PAYLOAD_TOO_LARGE", /larger than 1048576 bytes/);
      // not parsed: garbage of the same size gets the size error, not a JSON error
      expectCode(() => decodeEvent("x".repeat(1024 * 1024 + 1)), "PAYLOAD_TOO_LARGE");
    });

    it("counts UTF-8 bytes, not characters", () => {
      const doc = sized(3000, "€"); // 3 bytes each
      expect(doc.length).toBeLessThan(1500);
      expectCode(() => decodeEvent(doc, { maxBytes: 2000 }), "PAYLOAD_TOO_LARGE");
      expect(() => decodeEvent(doc, { maxBytes: 3000 })).not.toThrow();
      const emoji = sized(4000, "🚀"); // 4 bytes, 2 code units
      expectCode(() => decodeEvent(emoji, { maxBytes: 3999 }), "PAYLOAD_TOO_LARGE");
      expect(() => decodeEvent(emoji, { maxBytes: 4000 })).not.toThrow();
    });

    it("applies a custom maxBytes to strings and field maps", () => {
      const doc = JSON.stringify({ ...valid, data: "x".repeat(200) });
      expectCode(() => decodeEvent(doc, { maxBytes: 100 }), "PAYLOAD_TOO_LARGE");
      expectCode(() => decodeEvent({ data: doc }, { maxBytes: 100 }), "PAYLOAD_TOO_LARGE");
      expectCode(
        () =>
          decodeEvent(
            { id: "e", type: "a", occurredAt: "2024-05-01", data: JSON.stringify("x".repeat(200)) },
            { maxBytes: 100 },
          ),
        "PAYLOAD_TOO_LARGE",
      );
      expect(codecDefaults).toEqual({ maxBytes: 1048576, maxDepth: 32 });
    });
  });

  it("only ever throws ValidationError on random mutations of a valid document", () => {
    const base = encodeEvent(full).payload;
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = '{}[]":,\\ u0aZ-.\u0000é🚀';
    for (let i = 0; i < 3000; i++) {
      const chars = [...base];
      for (let k = 0; k <= random(4); k++) {
        const at = random(chars.length);
        const op = random(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[random(alphabet.length)] as string);
        else chars.length = at;
      }
      try {
        decodeEvent(chars.join(""));
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        expect(["DECODE_FAILED", "PAYLOAD_TOO_LARGE"]).toContain(e.code);
      }
    }
  });
});

describe("encodeEvent refusals", () => {
  it("refuses data that is not JSON-serialisable", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expectCode(() => encodeEvent({ ...full, data: cyclic }), "VALIDATION_FAILED", /cannot be encoded/);
    expectCode(() => encodeEvent({ ...full, data: { n: 10n } }), "VALIDATION_FAILED");
  });

  it("refuses what the decoder would refuse: size, depth, forbidden keys", () => {
    expectCode(
      () => encodeEvent({ ...full, data: "x".repeat(2000) }, { maxBytes: 1000 }),
      "PAYLOAD_TOO_LARGE",
    );
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expectCode(() => encodeEvent({ ...full, data: deep }), "VALIDATION_FAILED", /deeper/);
    expectCode(
      () => encodeEvent({ ...full, data: JSON.parse('{"__proto__":{}}') }),
      "VALIDATION_FAILED",
      /__proto__/,
    );
    expectCode(
      () => encodeEvent({ ...full, data: { a: { constructor: 1 } } }),
      "VALIDATION_FAILED",
      /constructor/,
    );
    expectCode(() => encodeEvent({ ...full, data: { name: "a\u0000b" } }), "VALIDATION_FAILED", /U\+0000/);
    // A backslash followed by "u0000" is not a NUL.
    expect(decodeEvent(encodeEvent({ ...full, data: { path: "C:\\u0000" } }).payload).data).toEqual({
      path: "C:\\u0000",
    });
  });
});

describe("createEnvelope", () => {
  it("builds a validated envelope with defaults", () => {
    const e = createEnvelope(OrderCreated, { orderId: "o-1", total: 42 }, undefined, NOW);
    expect(isUuidv7(e.id)).toBe(true);
    expect(e).toMatchObject({
      type: "order.created",
      data: { orderId: "o-1", total: 42, note: "" },
      schemaVersion: 1,
      priority: 3,
      occurredAt: "2024-05-01T12:00:00.000Z",
    });
    expect(e.deliverAt).toBeUndefined();
    expect(e.key).toBeUndefined();
  });

  it("takes the options", () => {
    const metadata = { tenant: "acme" };
    const e = createEnvelope(
      OrderCreated,
      { orderId: "o-1", total: 42 },
      {
        id: "my-id",
        key: "customer-7",
        priority: 1,
        delay: "10m",
        correlationId: "c",
        causationId: "p",
        traceparent: "t",
        metadata,
      },
      NOW,
    );
    expect(e).toMatchObject({
      id: "my-id",
      key: "customer-7",
      priority: 1,
      deliverAt: "2024-05-01T12:10:00.000Z",
      correlationId: "c",
      causationId: "p",
      traceparent: "t",
      metadata: { tenant: "acme" },
    });
    metadata.tenant = "changed";
    expect(e.metadata).toEqual({ tenant: "acme" });
  });

  it("takes deliverAt as a Date, and a zero delay means now", () => {
    expect(
      createEnvelope(
        OrderCreated,
        { orderId: "o", total: 1 },
        { deliverAt: new Date("2030-01-01T00:00:00Z") },
        NOW,
      ).deliverAt,
    ).toBe("2030-01-01T00:00:00.000Z");
    expect(
      createEnvelope(OrderCreated, { orderId: "o", total: 1 }, { delay: 0 }, NOW).deliverAt,
    ).toBeUndefined();
  });

  it("uses the definition's current version", () => {
    const V3 = defineEvent("thing.done", z.object({ n: z.number() }), {
      version: 3,
      upcast: { 1: (d) => d, 2: (d) => d },
    });
    expect(createEnvelope(V3, { n: 1 }).schemaVersion).toBe(3);
  });

  it.each([
    [{ priority: 0 }, "priority"],
    [{ priority: 6 }, "priority"],
    [{ priority: 1.5 }, "priority"],
    [{ key: "" }, "key"],
    [{ key: "k".repeat(256) }, "key"],
    [{ key: 7 }, "key"],
    [{ id: "" }, "id"],
    [{ metadata: { a: 1 } }, "metadata.a"],
    [{ metadata: "x" }, "metadata"],
    [{ metadata: JSON.parse('{"__proto__":"x"}') }, "metadata"],
    [{ delay: "soon" }, "delay"],
    [{ delay: -5 }, "delay"],
    [{ deliverAt: new Date(Number.NaN) }, "deliverAt"],
    [{ deliverAt: "2030-01-01" }, "deliverAt"],
    [{ delay: "1s", deliverAt: new Date() }, "not both"],
    [{ correlationId: 5 }, "correlationId"],
  ])("rejects options %j", (options, problem) => {
    const error = expectCode(
      () => createEnvelope(OrderCreated, { orderId: "o", total: 1 }, options as never, NOW),
      "VALIDATION_FAILED",
    );
    expect(error.message).toContain(problem);
  });

  it("rejects bad data with the schema's issues, listing every problem", () => {
    const error = expectCode(
      () => createEnvelope(OrderCreated, { orderId: 1, total: "x" } as never, { priority: 9 as never }, NOW),
      "VALIDATION_FAILED",
    );
    expect(error.issues.some((i) => i.startsWith("orderId:"))).toBe(true);
    expect(error.issues.some((i) => i.startsWith("total:"))).toBe(true);
    expect(error.issues.some((i) => i.startsWith("priority:"))).toBe(true);
  });
});

describe("resolveCodecLimits", () => {
  it("fills defaults and validates", () => {
    expect(resolveCodecLimits()).toEqual({ maxBytes: 1048576, maxDepth: 32 });
    expect(resolveCodecLimits({ maxBytes: 10 })).toEqual({ maxBytes: 10, maxDepth: 32 });
    expect(() => resolveCodecLimits({ maxBytes: 0, maxDepth: 1.5 })).toThrow(ConfigError);
    try {
      resolveCodecLimits({ maxBytes: -1, maxDepth: 0 });
    } catch (e) {
      expect((e as ConfigError).problems).toHaveLength(2);
    }
  });
});

describe("utf8Length", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["é", 2],
    ["€", 3],
    ["🚀", 4],
    ["\ud800", 3],
    ["a\udc00b", 5],
  ])("%j is %d bytes", (text, bytes) => {
    expect(utf8Length(text)).toBe(bytes);
    expect(utf8Length(text)).toBe(Buffer.byteLength(text, "utf8"));
  });
});
