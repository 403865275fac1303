import { ConfigError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import {
  durableName,
  isValidStreamPrefix,
  isValidTopicPattern,
  topicFilterSubjects,
  topicSubject,
} from "./names.js";

describe("topic → subject mapping", () => {
  it.each([
    ["orders", ["ef.orders"]],
    ["order.created", ["ef.order.created"]],
    ["order.*", ["ef.order.*"]],
    ["*.created", ["ef.*.created"]],
    ["*", ["ef.*"]],
    ["**", ["ef.>"]],
    ["order.**", ["ef.order", "ef.order.>"]],
    ["a.*.**", ["ef.a.*", "ef.a.*.>"]],
  ])("%s → %j", (topic, subjects) => {
    expect(topicFilterSubjects("ef", topic)).toEqual(subjects);
  });

  it.each(["", "a..b", "a.**.b", "a.b*", "a b", "a.>", "**.x", "a/b"])("rejects %j", (topic) => {
    expect(isValidTopicPattern(topic)).toBe(false);
    expect(() => topicFilterSubjects("ef", topic)).toThrow(ConfigError);
  });

  it("publishes topic t to <prefix>.t", () => {
    expect(topicSubject("shop", "order.created")).toBe("shop.order.created");
  });

  it("validates stream prefixes", () => {
    expect(isValidStreamPrefix("eventferry")).toBe(true);
    expect(isValidStreamPrefix("A_b-9")).toBe(true);
    for (const bad of ["", "a.b", "a b", "a*", "x".repeat(65), 5])
      expect(isValidStreamPrefix(bad)).toBe(false);
  });
});

describe("durableName", () => {
  it("is stable, readable and valid as a consumer name", () => {
    const name = durableName("order.created", "billing");
    expect(name).toBe(durableName("order.created", "billing"));
    expect(name).toMatch(/^billing__order_created__[0-9a-f]{12}$/);
  });

  it("never collides when readable parts do", () => {
    expect(durableName("a.b", "g")).not.toBe(durableName("a_b", "g"));
    expect(durableName("t", "a/b")).not.toBe(durableName("t", "a.b"));
    expect(durableName("order.*", "g")).not.toBe(durableName("order._", "g"));
  });

  it("caps long names", () => {
    const name = durableName("t".repeat(200), "g".repeat(200));
    expect(name.length).toBeLessThanOrEqual(48 + 2 + 48 + 2 + 12);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
