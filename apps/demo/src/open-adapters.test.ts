import { ConfigError } from "eventferry";
import { describe, expect, it } from "vitest";
import { startTestApp } from "../test/harness.js";
import { describeStartupError } from "./startup-error.js";

async function startError(store: string, transport: string): Promise<unknown> {
  try {
    const t = await startTestApp({ store, transport });
    await t.app.shutdown();
  } catch (error) {
    return error;
  }
  throw new Error(`the demo started on ${store} + ${transport}`);
}

describe("adapters that are not installed", () => {
  it("name the PostgreSQL store package to install, without the password, on one line", async () => {
    const error = await startError("postgres://shop:hunter2@localhost/shop", "store:");
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("ADAPTER_MISSING");
    const line = describeStartupError(error);
    expect(line).toContain("npm install @eventferry/store-postgres");
    expect(line).not.toContain("hunter2");
    expect(line).not.toContain("\n");
  });

  it.each([
    ["redis://localhost:6379", "@eventferry/transport-redis"],
    ["nats://localhost:4222", "@eventferry/transport-nats"],
  ])("name the transport package for %s", async (transport, pkg) => {
    const error = await startError("memory:", transport);
    expect((error as ConfigError).code).toBe("ADAPTER_MISSING");
    expect(describeStartupError(error)).toContain(`npm install ${pkg}`);
  });

  it("list the known schemes for an unknown one", async () => {
    const error = await startError("mysql://localhost/shop", "store:");
    expect((error as ConfigError).code).toBe("CONFIG_INVALID");
    expect((error as ConfigError).message).toContain("known schemes: memory:, sqlite:");
  });
});

describe("describeStartupError", () => {
  it("keeps the stack of unexpected errors", () => {
    const line = describeStartupError(new TypeError("x is undefined"));
    expect(line).toMatch(/^error: TypeError: x is undefined\n\s+at /);
  });
});
