import { createEnvelope, decodeEvent, defineEvent, encodeEvent } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { decodeEntry, entryFields, eventProblem, matchesEnvelope, peekEnvelope } from "./entry-codec.js";

const Tested = defineEvent("test.tested", z.object({ n: z.number() }));

describe("entryFields / decodeEntry", () => {
  it("round-trips a string payload with and without key", () => {
    const withKey = { id: "e1", type: "order.created", key: "c-7", payload: '{"a":1}' };
    expect(decodeEntry("1-1", entryFields(withKey))).toEqual(withKey);
    const noKey = { id: "e2", type: "order.created", payload: "not json" };
    const decoded = decodeEntry("1-2", entryFields(noKey));
    expect(decoded).toEqual(noKey);
    expect("key" in decoded).toBe(false);
  });

  it("round-trips a field-map payload", () => {
    const event = { id: "e3", type: "t", payload: { event_id: "e3", data: "x" } };
    const decoded = decodeEntry("1-3", entryFields(event));
    expect(decoded.id).toBe("e3");
    expect({ ...(decoded.payload as object) }).toEqual({ event_id: "e3", data: "x" });
  });

  it("reads a foreign `data` envelope without our fields", () => {
    const envelope = JSON.stringify({
      id: "x",
      type: "a.b",
      occurredAt: "2024-01-01T00:00:00.000Z",
      data: {},
    });
    expect(decodeEntry("5-0", ["data", envelope])).toEqual({ id: "x", type: "a.b", payload: envelope });
    expect(decodeEntry("5-1", ["event", envelope])).toEqual({ id: "x", type: "a.b", payload: envelope });
  });

  it("reads flattened snake_case fields as a field map the codec decodes", () => {
    const fields = [
      "event_id",
      "e9",
      "event_type",
      "order.created",
      "aggregate_id",
      "o-1",
      "occurred_on",
      "2024-05-01T12:00:00Z",
      "payload",
      '{"total":3}',
    ];
    const decoded = decodeEntry("6-0", fields);
    expect(decoded).toMatchObject({ id: "e9", type: "order.created", key: "o-1" });
    const envelope = decodeEvent(decoded.payload);
    expect(envelope).toMatchObject({ id: "e9", type: "order.created", key: "o-1", data: { total: 3 } });
  });

  it("reads flattened camelCase fields (a `data` beside `id` is the event data, not an envelope)", () => {
    const decoded = decodeEntry("7-0", [
      "id",
      "e1",
      "type",
      "a.b",
      "occurredAt",
      "2024-05-01T12:00:00Z",
      "data",
      "[1]",
    ]);
    expect(decoded.id).toBe("e1");
    expect(decodeEvent(decoded.payload).data).toEqual([1]);
  });

  it("hands garbage on as a field map with the entry id", () => {
    for (const fields of [
      ["x", "y"],
      ["", ""],
      ["ef-id", "only-id"],
      ["\uFFFD\uFFFD", "\u0000"],
    ]) {
      const decoded = decodeEntry("8-0", fields);
      expect(decoded.id).toBe("8-0");
      expect(typeof decoded.payload).toBe("object");
      expect(() => decodeEvent(decoded.payload)).toThrow();
    }
  });

  it("keeps a field named __proto__ harmless", () => {
    const decoded = decodeEntry("9-0", ["__proto__", '{"polluted":true}']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(() => decodeEvent(decoded.payload)).toThrow(/forbidden key/);
  });
});

describe("eventProblem", () => {
  it("accepts good events and names the problem of bad ones", () => {
    expect(eventProblem({ id: "1", type: "t", payload: "x" }, 0)).toBeUndefined();
    expect(eventProblem(null, 3)).toMatch(/events\[3\] is not an object/);
    expect(eventProblem({ id: 1, type: "t", payload: "x" }, 0)).toMatch(/id/);
    expect(eventProblem({ id: "1", type: "t", payload: 5 }, 0)).toMatch(/payload/);
    expect(eventProblem({ id: "1", type: "t", payload: {} }, 0)).toMatch(/empty field map/);
    expect(eventProblem({ id: "1", type: "t", payload: { a: 1 } }, 0)).toMatch(/not a string/);
    expect(eventProblem({ id: "1", type: "t", key: 3, payload: "x" }, 0)).toMatch(/key/);
  });
});

describe("the compact layout", () => {
  it("writes one meta field and the document", () => {
    expect(entryFields({ id: "e1", type: "a.b", payload: "{}" })).toEqual(["ef", "e1\na.b", "data", "{}"]);
    expect(entryFields({ id: "e1", type: "a.b", key: "k\nwith newline", payload: "{}" })).toEqual([
      "ef",
      "e1\na.b\nk\nwith newline",
      "data",
      "{}",
    ]);
  });

  it("round-trips keys with newlines and ids/types with newlines (separate fields then)", () => {
    for (const event of [
      { id: "e1", type: "a.b", key: "k\nwith newline", payload: "x" },
      { id: "e\n1", type: "a.b", key: "k", payload: "x" },
      { id: "e1", type: "a\nb", payload: "x" },
      { id: "e1", type: "", payload: "" },
    ]) {
      expect(decodeEntry("1-0", entryFields(event))).toEqual(event);
    }
  });

  it("treats a malformed meta field as garbage", () => {
    expect(decodeEntry("2-0", ["ef", "no-newline", "data", "{}"])).toEqual({
      id: "2-0",
      type: "",
      payload: "{}",
    });
    expect(typeof decodeEntry("2-1", ["ef", "\nx", "other", "y"]).payload).toBe("object");
  });
});

describe("the document-only layout", () => {
  const envelope = (id: string, key?: string) =>
    encodeEvent(
      createEnvelope(
        Tested,
        { n: 1 },
        { id, ...(key === undefined ? {} : { key }) },
        new Date("2024-01-01T00:00:00Z"),
      ),
    );

  it("writes only `data` for a codec document and reads id, type and key back from it", () => {
    for (const event of [envelope("e-1"), envelope("e-2", "customer-7"), envelope("ünï-cødé", "k\u00e9 y")]) {
      const fields = entryFields(event);
      expect(fields).toEqual(["data", event.payload]);
      const decoded = decodeEntry("3-0", fields);
      expect(decoded).toEqual(
        event.key === undefined ? { id: event.id, type: event.type, payload: event.payload } : event,
      );
    }
  });

  it("keeps the meta field for ids and keys JSON escapes, and still round-trips them", () => {
    const event = envelope('we"ird\\id\u0001', 'k"ey\n\\');
    const fields = entryFields(event);
    expect(fields[0]).toBe("ef");
    expect(decodeEntry("3-1", fields)).toEqual(event);
    // The reader's peek agrees with the writer's check wherever the writer says "matches".
    expect(peekEnvelope(event.payload)).toEqual({ id: event.id, type: event.type, key: event.key });
  });

  it("never says `matches` where the reader would read something else", () => {
    const alphabet = ["a", '"', "\\", "\n", "é", "1", ",", ":", "k"];
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const word = (max: number) =>
      Array.from(
        { length: 1 + Math.floor(random() * max) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join("");
    for (let i = 0; i < 2_000; i++) {
      const id = word(6);
      const key = random() < 0.5 ? undefined : word(4);
      const doc = JSON.stringify({ id, type: "a.b", schemaVersion: 1, key, data: { key: word(3) } });
      const matches = matchesEnvelope(doc, id, "a.b", key);
      if (matches) expect(peekEnvelope(doc)).toEqual({ id, type: "a.b", key });
      expect(peekEnvelope(doc)).toEqual({ id, type: "a.b", key });
      expect(decodeEntry("9-9", entryFields({ id, type: "a.b", key, payload: doc }))).toEqual(
        key === undefined ? { id, type: "a.b", payload: doc } : { id, type: "a.b", key, payload: doc },
      );
    }
  });

  it("keeps the meta field when the event's id, type or key differ from the document's", () => {
    const doc = envelope("e-1", "k").payload;
    expect(entryFields({ id: "other", type: "test.tested", key: "k", payload: doc })[0]).toBe("ef");
    expect(entryFields({ id: "e-1", type: "other.type", key: "k", payload: doc })[0]).toBe("ef");
    expect(entryFields({ id: "e-1", type: "test.tested", payload: doc })[0]).toBe("ef");
    expect(entryFields({ id: "e-1", type: "test.tested", key: "x", payload: doc })[0]).toBe("ef");
  });

  it("peeks only the codec's prefix, never guesses from elsewhere", () => {
    expect(peekEnvelope('{"type":"a","id":"b"}')).toBeUndefined();
    expect(peekEnvelope('{"id":"","type":"a"}')).toBeUndefined();
    expect(peekEnvelope('{"id":"a","type":"b","data":{"key":"x"}}')).toEqual({
      id: "a",
      type: "b",
      key: undefined,
    });
    expect(peekEnvelope('{"id":"a","type":"b","schemaVersion":12,"key":"k","priority":3}')).toEqual({
      id: "a",
      type: "b",
      key: "k",
    });
    expect(peekEnvelope('{"id":"a\\"')).toBeUndefined();
    expect(peekEnvelope('{"id":"a\\u00"')).toBeUndefined();
    expect(matchesEnvelope('{"id":"a","type":"b"}', "a", "b", undefined)).toBe(true);
    expect(matchesEnvelope('{"id":"a","type":"b"}', "a", "b", "k")).toBe(false);
  });

  it("reads a foreign document-only entry with the entry id when it does not start like ours", () => {
    expect(decodeEntry("4-0", ["data", '{"type":"a.b","id":"x"}'])).toEqual({
      id: "4-0",
      type: "",
      payload: '{"type":"a.b","id":"x"}',
    });
  });
});
