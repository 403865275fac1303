import { ConfigError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { createTransportFromUrl, parseNatsUrl } from "./create-transport-from-url.js";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("parseNatsUrl", () => {
  it.each([
    ["nats://127.0.0.1:4222", { servers: ["nats://127.0.0.1:4222"] }],
    ["nats://localhost", { servers: ["nats://localhost:4222"] }],
    ["nats://", { servers: ["nats://127.0.0.1:4222"] }],
    ["NATS://n1:4222,n2:5222/", { servers: ["nats://n1:4222", "nats://n2:5222"] }],
    ["nats://[::1]:4222", { servers: ["nats://[::1]:4222"] }],
    ["tls://n1", { servers: ["tls://n1:4222"], tls: true }],
    ["nats://app:p%40ss%3Aword@n1:4222", { servers: ["nats://n1:4222"], user: "app", pass: "p@ss:word" }],
    ["nats://s3cr3tToken@n1", { servers: ["nats://n1:4222"], token: "s3cr3tToken" }],
    [
      "nats://n1?streamPrefix=shop&storage=memory&retention=interest&maxAge=3d&maxBytes=1048576&maxMsgs=-1&replicas=3&duplicateWindow=5m&compression=s2&provision=false",
      {
        servers: ["nats://n1:4222"],
        streamPrefix: "shop",
        storage: "memory",
        retention: "interest",
        maxAge: "3d",
        maxBytes: 1048576,
        maxMsgs: -1,
        replicas: 3,
        duplicateWindow: "5m",
        compression: "s2",
        provision: false,
      },
    ],
    [
      "nats://n1?maxPendingPublishes=500&publishTimeout=2s&maxAckPending=2000&fetchExpires=5s&connectTimeout=1s&name=billing",
      {
        servers: ["nats://n1:4222"],
        maxPendingPublishes: 500,
        publishTimeout: "2s",
        maxAckPending: 2000,
        fetchExpires: "5s",
        connectTimeout: "1s",
        name: "billing",
      },
    ],
    [
      "nats://n1?tls&tlsCaFile=/etc/ca.pem&tlsCertFile=/etc/c.pem&tlsKeyFile=/etc/k.pem",
      {
        servers: ["nats://n1:4222"],
        tls: { caFile: "/etc/ca.pem", certFile: "/etc/c.pem", keyFile: "/etc/k.pem" },
      },
    ],
    ["nats://n1?credsFile=/run/app.creds", { servers: ["nats://n1:4222"], credsFile: "/run/app.creds" }],
    [
      "nats://n1?nkeySeedFile=/run/seed&tls=false",
      { servers: ["nats://n1:4222"], nkeySeedFile: "/run/seed", tls: false },
    ],
    ["nats://n1?token=abc", { servers: ["nats://n1:4222"], token: "abc" }],
  ])("%s", (url, expected) => {
    expect(parseNatsUrl(url)).toEqual(expected);
  });

  it("lists every problem at once and never shows the password", () => {
    const error = configError(() =>
      parseNatsUrl(
        "nats://app:hunter2@bad host:99999,ok:1/path?streamPrefx=x&maxBytes=big&provision=maybe&name=",
      ),
    );
    expect(error.problems.length).toBeGreaterThanOrEqual(5);
    const text = `${error.message}\n${error.stack}\n${JSON.stringify(error)}`;
    expect(text).not.toContain("hunter2");
    expect(error.message).toContain("app:***@");
    expect(error.message).toMatch(/unknown option "streamPrefx"/);
    expect(error.message).toMatch(/"maxBytes" must be an integer/);
    expect(error.message).toMatch(/"provision" must be true or false/);
    expect(error.message).toMatch(/"name" needs a value/);
    expect(error.message).toMatch(/no path/);
  });

  it("hides a token given as userinfo", () => {
    const error = configError(() => parseNatsUrl("nats://tok3nvalue@n1?oops=1"));
    expect(error.message).not.toContain("tok3nvalue");
  });

  it.each(["redis://n1", "n1:4222", "http://n1", "nats:n1"])("rejects %s", (url) => {
    configError(() => parseNatsUrl(url));
  });

  it("rejects a password without a user and a token given twice", () => {
    expect(configError(() => parseNatsUrl("nats://:pw@n1")).message).toMatch(/needs a user name/);
    expect(configError(() => parseNatsUrl("nats://t1@n1?token=t2")).message).toMatch(/token given twice/);
    expect(configError(() => parseNatsUrl("nats://n1?tls=false&tlsCaFile=/ca")).message).toMatch(
      /contradicts/,
    );
  });
});

describe("createTransportFromUrl", () => {
  it("validates synchronously and connects lazily (no server needed to create it)", async () => {
    const transport = createTransportFromUrl("nats://127.0.0.1:1?streamPrefix=lazy");
    expect(transport.name).toBe("nats");
    expect(transport.stream).toBe("lazy");
    expect(transport.features.persistent).toBe(true);
    await transport.close();
  });

  it("reports option problems found by the factory with the redacted URL", () => {
    const error = configError(() =>
      createTransportFromUrl("nats://app:hunter2@n1?streamPrefix=bad.prefix&replicas=9&storage=tape"),
    );
    expect(error.message).toContain("app:***@");
    expect(error.message).not.toContain("hunter2");
    expect(error.problems.join("\n")).toMatch(/streamPrefix/);
    expect(error.problems.join("\n")).toMatch(/replicas/);
    expect(error.problems.join("\n")).toMatch(/storage/);
  });
});
