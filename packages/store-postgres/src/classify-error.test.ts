import { isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { classifyPostgresError, type PostgresErrorKind, toStoreError } from "./classify-error.js";

function pgError(code: string, message = `error ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

describe("classifyPostgresError", () => {
  const table: [string, unknown, PostgresErrorKind][] = [
    ["unique violation", pgError("23505"), "unique-violation"],
    ["serialization failure", pgError("40001"), "retryable"],
    ["deadlock", pgError("40P01"), "retryable"],
    ["lock not available", pgError("55P03"), "retryable"],
    ["admin shutdown (terminated backend)", pgError("57P01"), "connection"],
    ["connection failure", pgError("08006"), "connection"],
    ["idle in transaction past its timeout", pgError("25P03"), "connection"],
    ["transaction past its timeout", pgError("25P04"), "connection"],
    ["connection does not exist", pgError("08003"), "connection"],
    ["too many connections", pgError("53300"), "connection"],
    ["unknown database", pgError("3D000"), "config"],
    ["bad password", pgError("28P01"), "config"],
    ["no pg_hba entry", pgError("28000"), "config"],
    ["unknown schema", pgError("3F000"), "config"],
    ["bad uuid text", pgError("22P02"), "invalid-input"],
    ["not-null violation", pgError("23502"), "invalid-input"],
    ["socket refused", pgError("ECONNREFUSED"), "connection"],
    ["socket reset", pgError("ECONNRESET"), "connection"],
    ["pg: connection terminated", new Error("Connection terminated unexpectedly"), "connection"],
    ["pg: client-side query timeout", new Error("Query read timeout"), "connection"],
    ["pg-pool: no client in time", new Error("timeout exceeded when trying to connect"), "connection"],
    ["syntax error", pgError("42601"), "other"],
    ["no code", new Error("something"), "other"],
    ["not an error", "a string", "other"],
  ];
  it.each(table)("%s", (_name, error, kind) => {
    expect(classifyPostgresError(error)).toBe(kind);
  });
});

describe("toStoreError", () => {
  const table: [string, Error, string, string, boolean][] = [
    ["terminated backend", pgError("57P01"), "ConnectionError", "CONNECTION_FAILED", true],
    ["deadlock", pgError("40P01"), "EventferryError", "STORE_FAILED", true],
    ["unknown database", pgError("3D000"), "ConfigError", "CONFIG_INVALID", false],
    ["bad password", pgError("28P01"), "ConnectionError", "CONNECTION_FAILED", false],
    ["unique violation", pgError("23505"), "ValidationError", "VALIDATION_FAILED", false],
    ["syntax error", pgError("42601"), "EventferryError", "STORE_FAILED", false],
  ];
  it.each(table)("%s", (_name, error, name, code, retryable) => {
    const wrapped = toStoreError(error, "claim");
    expect(isEventferryError(wrapped)).toBe(true);
    expect(wrapped.name).toBe(name);
    expect(wrapped.code).toBe(code);
    expect(wrapped.retryable).toBe(retryable);
    expect(wrapped.cause).toBe(error);
    expect(wrapped.message.startsWith("[eventferry:store-postgres] claim failed:")).toBe(true);
  });

  it("redacts passwords in messages", () => {
    const wrapped = toStoreError(
      pgError("08001", "could not connect to postgres://app:s3cret@db:5432/app"),
      "connect",
    );
    expect(wrapped.message).not.toContain("s3cret");
    expect(wrapped.message).toContain("***");
  });

  it("passes Eventferry errors through", () => {
    const original = toStoreError(pgError("57P01"), "x");
    expect(toStoreError(original, "y")).toBe(original);
  });
});
