import { ConfigError, resolveStore } from "eventferry";
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
  // Inside this repository every adapter package exists, so "not installed" is a package that
  // truly is not: the same resolver the demo uses, pointed at it.
  it("name the package to install, without the password, on one line", async () => {
    let error: unknown;
    try {
      await resolveStore("postgres://shop:hunter2@localhost/shop", {
        adapters: { store: { postgres: "@eventferry/not-installed" } },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("ADAPTER_MISSING");
    const line = describeStartupError(error);
    expect(line).toContain("npm install @eventferry/not-installed");
    expect(line).not.toContain("hunter2");
    expect(line).not.toContain("\n");
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
