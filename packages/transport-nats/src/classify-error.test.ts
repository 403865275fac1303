import { ConfigError, ConnectionError, EventferryError, ValidationError } from "@eventferry/core";
import { errors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { classifyNatsError, type NatsErrorKind, toTransportError } from "./classify-error.js";

/** A JetStreamApiError look-alike: the client's class is not exported, its shape is. */
function apiError(code: number, description: string): Error {
  const error = new Error(description);
  error.name = "JetStreamApiError";
  Object.assign(error, { apiError: () => ({ err_code: code, code: 400, description }) });
  return error;
}

function withName(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  const error = new Error(message);
  error.name = name;
  return Object.assign(error, extra);
}

describe("classifyNatsError", () => {
  const cases: Array<[string, unknown, NatsErrorKind]> = [
    ["AuthorizationError", new errors.AuthorizationError("'Authorization Violation'"), "auth"],
    ["expired user", new errors.UserAuthenticationExpiredError("user authentication expired"), "auth"],
    [
      "permission",
      new errors.PermissionViolationError("Permissions Violation for Publish", "publish", "x"),
      "permission",
    ],
    ["max payload", new Error("MAX_PAYLOAD_EXCEEDED: maximum payload exceeded"), "too-large"],
    ["stream not found", apiError(10059, "stream not found"), "not-found"],
    ["consumer not found", apiError(10014, "consumer not found"), "not-found"],
    ["JetStream not enabled", withName("JetStreamNotEnabled", "jetstream is not enabled"), "unavailable"],
    ["no responders", new errors.NoRespondersError("$JS.API.INFO"), "unavailable"],
    [
      "JS temporarily unavailable",
      apiError(10008, "JetStream system temporarily unavailable"),
      "unavailable",
    ],
    [
      "connection refused",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4222"), { code: "ECONNREFUSED" }),
      "connection",
    ],
    ["nats ConnectionError", new errors.ConnectionError("connection refused"), "connection"],
    ["closed connection", new errors.ClosedConnectionError(), "connection"],
    ["draining", new errors.DrainingConnectionError(), "connection"],
    ["timeout", new errors.TimeoutError(), "connection"],
    ["heartbeats", withName("JetStreamError", "heartbeats missed"), "connection"],
    ["invalid argument", new errors.InvalidArgumentError("bad option"), "invalid"],
    ["invalid subject", new errors.InvalidSubjectError("a..b"), "invalid"],
    ["other API error", apiError(10052, "invalid stream config"), "invalid"],
    ["wrapped", new Error("outer", { cause: new errors.ClosedConnectionError() }), "connection"],
    ["unknown", new Error("something odd"), "other"],
    ["not an error", 42, "other"],
  ];
  it.each(cases)("%s → %s", (_label, error, kind) => {
    expect(classifyNatsError(error)).toBe(kind);
  });
});

describe("toTransportError", () => {
  it("maps kinds to the error family, keeps the cause, names the adapter and redacts", () => {
    const refused = toTransportError(
      new errors.ConnectionError("connection refused"),
      "connect to nats://a:4222",
    );
    expect(refused).toBeInstanceOf(ConnectionError);
    expect(refused.retryable).toBe(true);
    expect(refused.message).toBe(
      "[eventferry:transport-nats] connect to nats://a:4222 failed: connection refused",
    );

    const auth = toTransportError(new errors.AuthorizationError("'Authorization Violation'"), "connect");
    expect(auth).toBeInstanceOf(ConnectionError);
    expect(auth.retryable).toBe(false);

    const big = toTransportError(new Error("maximum payload exceeded"), "publish");
    expect(big).toBeInstanceOf(ValidationError);
    expect(big.code).toBe("PAYLOAD_TOO_LARGE");

    expect(toTransportError(new errors.InvalidArgumentError("x"), "op")).toBeInstanceOf(ConfigError);
    const other = toTransportError(new Error("boom password=hunter2"), "op");
    expect(other.code).toBe("TRANSPORT_FAILED");
    expect(other.message).not.toContain("hunter2");
    expect(other.cause).toBeInstanceOf(Error);

    const already = new EventferryError("CLOSED", "closed");
    expect(toTransportError(already, "op")).toBe(already);
  });
});
