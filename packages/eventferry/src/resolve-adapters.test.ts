import { ConfigError, type EventferryError, isEventferryError } from "@eventferry/core";
import type { Store } from "@eventferry/store";
import { describe, expect, it } from "vitest";
import { adapterPackages, resolveStore, resolveTransport } from "./resolve-adapters.js";
import { fakeStoreCalls } from "./test-fixtures/fake-store-adapter.fixture.js";
import { fakeTransportCalls } from "./test-fixtures/fake-transport-adapter.fixture.js";

const fixture = (name: string) => new URL(`./test-fixtures/${name}`, import.meta.url).pathname;

async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect(isEventferryError(error)).toBe(true);
  return error as ConfigError;
}

describe("adapterPackages", () => {
  it("maps every documented scheme to its package", () => {
    expect(adapterPackages.store).toEqual({
      memory: "@eventferry/store",
      sqlite: "@eventferry/store-sqlite",
      postgres: "@eventferry/store-postgres",
      postgresql: "@eventferry/store-postgres",
    });
    expect(adapterPackages.transport).toEqual({
      memory: "@eventferry/core",
      redis: "@eventferry/transport-redis",
      rediss: "@eventferry/transport-redis",
      nats: "@eventferry/transport-nats",
    });
    expect(Object.isFrozen(adapterPackages.store)).toBe(true);
  });
});

describe("resolveStore", () => {
  it("creates the memory store for memory:", async () => {
    const store = await resolveStore("memory:");
    expect(store.name).toBe("memory");
    await store.close();
  });

  it("rejects an unknown scheme, listing the known ones, with the password redacted", async () => {
    const error = await configError(resolveStore("mysql://app:s3cret@db:3306/shop"));
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message).toContain('unknown store scheme "mysql:"');
    expect(error.message).toContain("mysql://app:***@db:3306/shop");
    for (const scheme of ["memory:", "sqlite:", "postgres:", "postgresql:"])
      expect(error.message).toContain(scheme);
    expect(error.message).not.toContain("s3cret");
    expect(JSON.stringify(error.toJSON())).not.toContain("s3cret");
  });

  it("rejects a string without a scheme", async () => {
    const error = await configError(resolveStore("./events.db"));
    expect(error.message).toContain("URL with a scheme");
  });

  it("names the package to install when the adapter package is missing (a real dynamic import)", async () => {
    const error = await configError(
      resolveStore("vault://admin:hunter2@db.internal/events", {
        adapters: { store: { vault: "@eventferry/not-installed" } },
      }),
    );
    expect(error.code).toBe("ADAPTER_MISSING");
    expect(error.message).toContain("install it: npm install @eventferry/not-installed");
    expect(error.message).toContain("vault://admin:***@db.internal/events");
    expect(error.message).not.toContain("hunter2");
    expect(error.details).toMatchObject({ package: "@eventferry/not-installed" });
    expect((error.cause as { code?: string }).code).toBe("ERR_MODULE_NOT_FOUND");
  });

  it("names the driver to install when the adapter is there but its driver is not", async () => {
    const error = await configError(
      resolveStore("drv://x", { adapters: { store: { drv: fixture("missing-driver-adapter.fixture.ts") } } }),
    );
    expect(error.code).toBe("ADAPTER_MISSING");
    expect(error.message).toContain("npm install eventferry-driver-that-is-not-installed");
  });

  it("rejects a package that is not a store adapter", async () => {
    const error = await configError(
      resolveStore("core://x", { adapters: { store: { core: "@eventferry/core" } } }),
    );
    expect(error.code).toBe("CONFIG_INVALID");
    expect(error.message).toContain("@eventferry/core does not export createStoreFromUrl");
  });

  it("wraps a plain error of the adapter's factory in a ConfigError without the password", async () => {
    const error = await configError(
      resolveStore("bad://u:topsecret@h/db", {
        adapters: { store: { bad: fixture("failing-store-adapter.fixture.ts") } },
      }),
    );
    expect(error.message).toContain("could not create the adapter");
    expect(error.message).toContain("bad://u:***@h/db");
    expect(error.message).not.toContain("topsecret");
  });

  it("passes the whole URL to the adapter's createStoreFromUrl", async () => {
    const store = await resolveStore("fake://h/db?x=1", {
      adapters: { store: { fake: fixture("fake-store-adapter.fixture.ts") } },
    });
    expect(fakeStoreCalls.urls.at(-1)).toBe("fake://h/db?x=1");
    expect(fakeStoreCalls.created.at(-1)).toBe(store);
    await store.close();
  });

  it("lets an override take a scheme of the built-in table", async () => {
    await resolveStore("postgres://elsewhere/db", {
      adapters: { store: { postgres: fixture("fake-store-adapter.fixture.ts") } },
    }).then((s) => s.close());
    expect(fakeStoreCalls.urls.at(-1)).toBe("postgres://elsewhere/db");
  });
});

describe("resolveTransport", () => {
  it("creates the memory transport for memory:", async () => {
    const transport = await resolveTransport("memory:");
    expect(transport.name).toBe("memory");
    await transport.close();
  });

  it("rejects an unknown scheme, listing the known ones including store:", async () => {
    const error = await configError(resolveTransport("kafka://user:pw123@broker:9092"));
    expect(error.message).toContain('unknown transport scheme "kafka:"');
    for (const scheme of ["memory:", "redis:", "rediss:", "nats:", "store:"])
      expect(error.message).toContain(scheme);
    expect(error.message).not.toContain("pw123");
  });

  it("names the package to install when the transport package is missing", async () => {
    const error: EventferryError = await configError(
      resolveTransport("amqp://guest:guest-pass@localhost", {
        adapters: { transport: { amqp: "@eventferry/not-installed-transport" } },
      }),
    );
    expect(error.code).toBe("ADAPTER_MISSING");
    expect(error.message).toContain("npm install @eventferry/not-installed-transport");
    expect(error.message).not.toContain("guest-pass");
  });

  it("passes the whole URL to the adapter's createTransportFromUrl", async () => {
    const transport = await resolveTransport("fakebus://h:1/x", {
      adapters: { transport: { fakebus: fixture("fake-transport-adapter.fixture.ts") } },
    });
    expect(fakeTransportCalls.urls.at(-1)).toBe("fakebus://h:1/x");
    expect(fakeTransportCalls.created.at(-1)).toBe(transport);
    await transport.close();
  });

  it("store: gives the memory transport for the memory store", async () => {
    const store = await resolveStore("memory:");
    const transport = await resolveTransport("store:", { store });
    expect(transport.name).toBe("memory");
    await transport.close();
    await store.close();
  });

  it("store: finds the store's adapter package by the store's name", async () => {
    const store = { name: "fake" } as Store;
    const transport = await resolveTransport("store:", {
      store,
      adapters: { store: { fake: fixture("fake-store-adapter.fixture.ts") } },
    });
    expect(fakeStoreCalls.queueFor.at(-1)).toBe(store);
    await transport.close();
  });

  it("store: rejects a store whose adapter is unknown, or that has no queue transport", async () => {
    const unknown = await configError(resolveTransport("store:", { store: { name: "homegrown" } as Store }));
    expect(unknown.message).toContain('store "homegrown", which is not a known store adapter');
    const noQueue = await configError(
      resolveTransport("store:", {
        store: { name: "plain" } as Store,
        adapters: { store: { plain: fixture("fake-transport-adapter.fixture.ts") } },
      }),
    );
    expect(noQueue.message).toContain("has no queue transport");
    const noStore = await configError(resolveTransport("store:"));
    expect(noStore.message).toContain("needs a store");
  });
});
