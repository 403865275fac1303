import { describe, expect, it, vi } from "vitest";
import { isUuid, isUuidv7, uuidv7, uuidv7Timestamp } from "./uuid.js";

const V7_FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function bytesOf(id: string): number[] {
  const hex = id.replaceAll("-", "");
  return Array.from({ length: 16 }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}

describe("uuidv7", () => {
  it("has the RFC 9562 layout: lower-case 8-4-4-4-12, version 7, variant 10", () => {
    for (let i = 0; i < 1000; i++) {
      const id = uuidv7();
      expect(id).toMatch(V7_FORMAT);
      const b = bytesOf(id);
      expect((b[6] as number) >> 4).toBe(7);
      expect((b[8] as number) >> 6).toBe(0b10);
    }
  });

  it("stores the current Unix time in milliseconds in the first 48 bits", () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    const ts = uuidv7Timestamp(id) as number;
    // The counter may borrow a few ms ahead after an overflow in earlier tests, never behind.
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(after + 50);
  });

  it("is strictly increasing for 10k ids generated in a tight loop", () => {
    const ids: string[] = new Array(10_000);
    for (let i = 0; i < ids.length; i++) ids[i] = uuidv7();
    for (let i = 1; i < ids.length; i++) {
      if (!((ids[i - 1] as string) < (ids[i] as string))) {
        throw new Error(`not increasing at ${i}: ${ids[i - 1]} !< ${ids[i]}`);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  describe("with a frozen or backwards clock", () => {
    it("stays strictly increasing, advancing the timestamp when the counter overflows", () => {
      const spy = vi.spyOn(Date, "now").mockReturnValue(Date.UTC(2030, 0, 1));
      try {
        const ids: string[] = [];
        // 12-bit counter seeded below 2048: 5000 ids in one "millisecond" must overflow it.
        for (let i = 0; i < 5000; i++) ids.push(uuidv7());
        for (let i = 1; i < ids.length; i++) expect((ids[i - 1] as string) < (ids[i] as string)).toBe(true);
        const last = uuidv7Timestamp(ids[ids.length - 1] as string) as number;
        expect(last).toBeGreaterThan(Date.UTC(2030, 0, 1));
        expect(last).toBeLessThan(Date.UTC(2030, 0, 1) + 10);

        spy.mockReturnValue(Date.UTC(2029, 0, 1)); // clock jumps back a year
        const after = uuidv7();
        expect(after > (ids[ids.length - 1] as string)).toBe(true);
      } finally {
        spy.mockRestore();
      }
    });
  });

  it("is random beyond the timestamp and counter", () => {
    const tails = new Set<string>();
    for (let i = 0; i < 1000; i++) tails.add(uuidv7().slice(19));
    expect(tails.size).toBe(1000);
  });
});

describe("isUuid / isUuidv7", () => {
  it.each([
    ["0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d", true, true],
    ["0190B6A4-6F1E-7A3C-8D2E-5B4F1A9C0E7D", true, true],
    ["6ba7b810-9dad-11d1-80b4-00c04fd430c8", true, false],
    ["f47ac10b-58cc-4372-a567-0e02b2c3d479", true, false],
    ["00000000-0000-0000-0000-000000000000", true, false],
    ["0190b6a4-6f1e-7a3c-cd2e-5b4f1a9c0e7d", true, false], // wrong variant for v7
    ["0190b6a46f1e7a3c8d2e5b4f1a9c0e7d", false, false],
    ["0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7", false, false],
    ["0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d0", false, false],
    ["g190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d", false, false],
    ["{0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d}", false, false],
    ["", false, false],
    ["order-1", false, false],
  ])("%j: uuid %s, v7 %s", (value, uuid, v7) => {
    expect(isUuid(value)).toBe(uuid);
    expect(isUuidv7(value)).toBe(v7);
  });

  it("does not throw on non-strings", () => {
    expect(isUuid(42 as never)).toBe(false);
    expect(isUuidv7(undefined as never)).toBe(false);
  });

  it("uuidv7Timestamp reads the time back, undefined for other ids", () => {
    expect(uuidv7Timestamp("0190b6a4-6f1e-7a3c-8d2e-5b4f1a9c0e7d")).toBe(0x0190b6a46f1e);
    expect(uuidv7Timestamp("6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBeUndefined();
  });
});
