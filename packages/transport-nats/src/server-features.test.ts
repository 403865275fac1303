import { describe, expect, it } from "vitest";
import { natsGatedFeatures, parseServerVersion, serverAtLeast, supportsFeature } from "./server-features.js";

describe("server version gating", () => {
  it.each([
    ["2.9.10", [2, 9, 10]],
    ["v2.10.0-beta.3", [2, 10, 0]],
    [" 2.11.1 ", [2, 11, 1]],
  ])("parses %s", (version, expected) => {
    expect(parseServerVersion(version)).toEqual(expected);
  });

  it.each([undefined, "", "two", 2])("does not parse %j", (version) => {
    expect(parseServerVersion(version)).toBeUndefined();
  });

  it.each([
    ["2.9.10", "2.10.0", false],
    ["2.10.0", "2.10.0", true],
    ["2.10.4", "2.10.0", true],
    ["3.0.0", "2.10.0", true],
    ["2.9.99", "2.10.0", false],
    ["garbage", "2.10.0", false],
  ])("%s >= %s is %s", (version, minimum, expected) => {
    expect(serverAtLeast(version, minimum)).toBe(expected);
  });

  it("gates the 2.10 features off on 2.9", () => {
    for (const feature of Object.keys(natsGatedFeatures) as (keyof typeof natsGatedFeatures)[]) {
      expect(supportsFeature("2.9.10", feature)).toBe(false);
      expect(supportsFeature("2.10.0", feature)).toBe(true);
    }
  });
});
