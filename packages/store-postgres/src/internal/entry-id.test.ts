import { describe, expect, it } from "vitest";
import { entryId, entrySeq } from "./entry-id.js";

describe("inbox entry ids", () => {
  it("write a seq as a version-8 UUID and read it back", () => {
    expect(entryId("1")).toBe("00000000-0000-8000-8000-000000000001");
    expect(entryId(255)).toBe("00000000-0000-8000-8000-0000000000ff");
    for (const seq of ["1", "42", "4096", "9007199254740991", "9007199254740993", "1152921504606846975"]) {
      const id = entryId(seq);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(entrySeq(id)).toBe(seq);
      expect(entrySeq(id.toUpperCase())).toBe(seq);
    }
  });

  it("read nothing from other ids", () => {
    for (const id of [
      "0190a000-0000-4000-8000-000000000001", // a random (v4/v7) uuid: a dead letter added with add()
      "00000000-0000-8000-8000-000000000000", // seq 0 does not exist
      "00000000-0000-8000-8000-00000000001", // too short
      "1",
      "",
      undefined,
      null,
      42,
    ]) {
      expect(entrySeq(id)).toBeUndefined();
    }
  });
});
