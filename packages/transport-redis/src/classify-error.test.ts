import { isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { classifyRedisError, type RedisErrorKind, toTransportError } from "./classify-error.js";

function reply(message: string): Error {
  return Object.assign(new Error(message), { name: "ReplyError" });
}
function socket(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });
}

describe("classifyRedisError", () => {
  const table: [string, unknown, RedisErrorKind][] = [
    [
      "no group",
      reply("NOGROUP No such key 'ef:{a}' or consumer group 'g' in XREADGROUP with GROUP option"),
      "no-group",
    ],
    [
      "no group inside a script",
      reply("NOGROUP No such key or consumer group script: abc, on @user_script:20."),
      "no-group",
    ],
    ["stream deleted while blocked", reply("UNBLOCKED the stream key no longer exists"), "no-group"],
    ["group exists", reply("BUSYGROUP Consumer Group name already exists"), "group-exists"],
    ["wrong password", reply("WRONGPASS invalid username-password pair or user is disabled."), "auth"],
    ["no auth", reply("NOAUTH Authentication required."), "auth"],
    ["no permission", reply("NOPERM this user has no permissions to run the 'xadd' command"), "auth"],
    ["loading", reply("LOADING Redis is loading the dataset in memory"), "unavailable"],
    ["read-only replica", reply("READONLY You can't write against a read only replica."), "unavailable"],
    ["cluster down", reply("CLUSTERDOWN The cluster is down"), "unavailable"],
    ["try again", reply("TRYAGAIN Multiple keys request during rehashing of slot"), "unavailable"],
    ["master down", reply("MASTERDOWN Link with MASTER is down"), "unavailable"],
    ["busy script", reply("BUSY Redis is busy running a script."), "unavailable"],
    ["out of memory", reply("OOM command not allowed when used memory > 'maxmemory'."), "out-of-memory"],
    [
      "wrong type",
      reply("WRONGTYPE Operation against a key holding the wrong kind of value"),
      "invalid-input",
    ],
    ["connection closed", new Error("Connection is closed."), "connection"],
    [
      "retries exhausted",
      Object.assign(new Error("Reached the max retries per request limit (which is 20)."), {
        name: "MaxRetriesPerRequestError",
      }),
      "connection",
    ],
    ["command timeout", new Error("Command timed out"), "connection"],
    ["refused", socket("ECONNREFUSED"), "connection"],
    ["reset", socket("ECONNRESET"), "connection"],
    ["dns", socket("ENOTFOUND"), "connection"],
    ["cluster startup", new Error("None of startup nodes is available"), "connection"],
    ["syntax", reply("ERR syntax error"), "other"],
    ["not an error", "a string", "other"],
  ];
  it.each(table)("%s", (_name, error, kind) => {
    expect(classifyRedisError(error)).toBe(kind);
  });
});

describe("toTransportError", () => {
  const table: [string, unknown, string, string, boolean][] = [
    ["connection closed", new Error("Connection is closed."), "ConnectionError", "CONNECTION_FAILED", true],
    ["loading", reply("LOADING Redis is loading"), "ConnectionError", "CONNECTION_FAILED", true],
    [
      "wrong password",
      reply("WRONGPASS invalid username-password pair"),
      "ConnectionError",
      "CONNECTION_FAILED",
      false,
    ],
    ["out of memory", reply("OOM command not allowed"), "EventferryError", "TRANSPORT_FAILED", true],
    ["wrong type", reply("WRONGTYPE Operation against a key"), "ValidationError", "VALIDATION_FAILED", false],
    ["no group", reply("NOGROUP No such key"), "EventferryError", "TRANSPORT_FAILED", false],
    ["syntax", reply("ERR syntax error"), "EventferryError", "TRANSPORT_FAILED", false],
  ];
  it.each(table)("%s", (_name, error, name, code, retryable) => {
    const wrapped = toTransportError(error, "publish", "redis://cache:6379");
    expect(isEventferryError(wrapped)).toBe(true);
    expect(wrapped.name).toBe(name);
    expect(wrapped.code).toBe(code);
    expect(wrapped.retryable).toBe(retryable);
    expect(wrapped.cause).toBe(error);
    expect(
      wrapped.message.startsWith("[eventferry:transport-redis] publish failed (redis://cache:6379):"),
    ).toBe(true);
  });

  it("redacts passwords in the target, the message and the cause", () => {
    const error = new Error("could not connect to redis://app:s3cret@cache:6379");
    const wrapped = toTransportError(error, "connect", "redis://app:s3cret@cache:6379");
    expect(wrapped.message).not.toContain("s3cret");
    expect(wrapped.stack).not.toContain("s3cret");
    expect(JSON.stringify(wrapped)).not.toContain("s3cret");
    expect(String((wrapped.cause as Error).message)).not.toContain("s3cret");
    expect(wrapped.message).toContain("redis://app:***@cache:6379");
  });

  it("passes Eventferry errors through", () => {
    const original = toTransportError(new Error("Connection is closed."), "x");
    expect(toTransportError(original, "y")).toBe(original);
  });
});
