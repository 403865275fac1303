import { isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { createStoreFromUrl } from "./create-store-from-url.js";
import { createPostgresStore } from "./postgres-store.js";

describe("createStoreFromUrl", () => {
  it("reads schema and tablePrefix from the query; connects lazily", async () => {
    const store = createStoreFromUrl("postgresql://app:pw@127.0.0.1:1/app?schema=events&tablePrefix=x_");
    expect(store.name).toBe("postgres");
    expect(store.schema).toBe("events");
    expect(store.tablePrefix).toBe("x_");
    expect(store.pool.totalCount).toBe(0);
    await store.close();
  });

  it("rejects other schemes and bad URLs with a ConfigError, password redacted", () => {
    for (const url of ["mysql://u:hunter2@h/db", "postgres://u:hunter2@host:notaport/db"]) {
      const error = (() => {
        try {
          createStoreFromUrl(url);
        } catch (e) {
          return e;
        }
      })();
      expect(isEventferryError(error)).toBe(true);
      expect((error as Error).name).toBe("ConfigError");
      expect((error as Error).message).not.toContain("hunter2");
    }
  });
});

describe("createPostgresStore validation", () => {
  it("lists every problem in one ConfigError", () => {
    let error: unknown;
    try {
      createPostgresStore({ schema: "Bad-Name", tablePrefix: "x;drop", poolSize: 0 });
    } catch (e) {
      error = e;
    }
    expect(isEventferryError(error)).toBe(true);
    expect((error as { problems: string[] }).problems).toHaveLength(4);
    const message = (error as Error).message;
    expect(message).toContain("exactly one of `url` and `pool`");
    expect(message).toContain("schema must match");
    expect(message).toContain("tablePrefix must match");
    expect(message).toContain("poolSize");
    expect(message.startsWith("[eventferry:store-postgres]")).toBe(true);
  });
});
