import { describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { compileGlob, isGlobPattern } from "./glob.js";

describe("compileGlob", () => {
  const cases: [pattern: string, matches: string[], misses: string[]][] = [
    [
      "order.created",
      ["order.created"],
      ["order", "order.created.v2", "order.create", "xorder.created", "orderxcreated"],
    ],
    [
      "order.*",
      ["order.created", "order.paid", "order.item-added"],
      ["order", "order.a.b", "orders.created", "x.order.a"],
    ],
    ["*.created", ["order.created", "user.created"], ["created", "a.b.created", "order.created.x"]],
    ["*", ["order", "a"], ["order.created", ""]],
    ["*.*", ["a.b"], ["a", "a.b.c"]],
    ["order.*.added", ["order.item.added"], ["order.added", "order.a.b.added", "order.item.removed"]],
    // ** at the end: zero or more segments
    ["order.**", ["order", "order.a", "order.a.b", "order.a.b.c"], ["orders", "orderx.a", "x.order", "ord"]],
    // ** at the start
    [
      "**.failed",
      ["failed", "payment.failed", "payment.card.failed"],
      ["failed.x", "payment.failedx", "xfailed"],
    ],
    // ** in the middle
    [
      "order.**.shipped",
      ["order.shipped", "order.a.shipped", "order.a.b.shipped"],
      ["order", "order.shipped.x", "x.order.shipped", "order.ashipped"],
    ],
    ["**", ["a", "a.b", "a.b.c.d.e"], []],
    ["**.**", ["a", "a.b.c"], []],
    ["a.**.**.b", ["a.b", "a.x.b", "a.x.y.b"], ["a", "b", "a.x"]],
    ["**.*", ["a", "a.b"], []],
    ["*.**", ["a", "a.b", "a.b.c"], []],
    ["a.**.*.z", ["a.b.z", "a.b.c.z"], ["a.z", "a.b"]],
    ["**.b.**", ["b", "a.b", "b.c", "a.b.c", "x.y.b.z.w"], ["a", "a.bb", "ab.c"]],
    ["Order_1.item-X.*", ["Order_1.item-X.y"], ["order_1.item-X.y"]],
  ];

  it.each(cases)("%s", (pattern, matches, misses) => {
    const match = compileGlob(pattern);
    for (const type of matches) expect(match(type), `${pattern} should match ${type}`).toBe(true);
    for (const type of misses) expect(match(type), `${pattern} should not match ${type}`).toBe(false);
  });

  it.each([
    ["", "empty"],
    [".", "empty segment"],
    ["order.", "empty segment"],
    [".order", "empty segment"],
    ["order..created", "empty segment"],
    ["a**b", "mixes"],
    ["order.*ed", "mixes"],
    ["order.***", "mixes"],
    ["order.cre ated", "outside"],
    ["order/created", "outside"],
    ["order.created$", "outside"],
    ["order.(a|b)", "outside"],
    ["ördér.created", "outside"],
    ["a".repeat(256), "longer"],
  ])("rejects %j (%s)", (pattern, reason) => {
    expect(() => compileGlob(pattern)).toThrow(ConfigError);
    expect(() => compileGlob(pattern)).toThrow(reason);
  });

  it("agrees with a reference matcher on random patterns and types", () => {
    // Straightforward recursive definition of the semantics, for comparison.
    const reference = (p: readonly string[], t: readonly string[]): boolean => {
      if (p.length === 0) return t.length === 0;
      const [head, ...rest] = p;
      if (head === "**") return reference(rest, t) || (t.length > 0 && reference(p, t.slice(1)));
      if (t.length === 0) return false;
      return (head === "*" || head === t[0]) && reference(rest, t.slice(1));
    };
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]) => xs[random(xs.length)] as T;
    for (let i = 0; i < 3000; i++) {
      const pattern = Array.from({ length: 1 + random(5) }, () => pick(["a", "b", "*", "**"]));
      const type = Array.from({ length: 1 + random(6) }, () => pick(["a", "b", "ab"]));
      const actual = compileGlob(pattern.join("."))(type.join("."));
      expect(actual, `${pattern.join(".")} vs ${type.join(".")}`).toBe(reference(pattern, type));
    }
  });

  it("treats regex metacharacters in types as plain text", () => {
    const match = compileGlob("a.*.c");
    expect(match("a.b.c")).toBe(true);
    expect(match("a.b.c\n")).toBe(false);
    expect(match("a..c")).toBe(false);
  });

  it("handles long types and many ** without catastrophic backtracking", () => {
    const cases = [
      ["**.a.**.b.**.c.**.d", Array.from({ length: 300 }, () => "a.b.c").join(".")],
      [
        Array.from({ length: 40 }, () => "**.a").join(".") + ".**.b",
        Array.from({ length: 500 }, () => "a").join("."),
      ],
    ] as const;
    const start = performance.now();
    for (const [pattern, type] of cases) expect(compileGlob(pattern)(type)).toBe(false);
    expect(performance.now() - start).toBeLessThan(200);
    expect(compileGlob(cases[1][0])(`${cases[1][1]}.b`)).toBe(true);
  });
});

describe("isGlobPattern", () => {
  it.each([
    ["order.*", true],
    ["**", true],
    ["order.created", false],
    ["", false],
  ])("%j -> %s", (value, expected) => {
    expect(isGlobPattern(value)).toBe(expected);
  });
});
