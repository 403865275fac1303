import { isEventferryError } from "@eventferry/core";
import { describe, expect, it } from "vitest";
import { createSqliteStore } from "./sqlite-store.js";
import { createStoreFromUrl } from "./store-from-url.js";

function configError(fn: () => unknown): { code: string; message: string; problems: string[] } {
  try {
    fn();
  } catch (e) {
    if (isEventferryError(e)) return e as unknown as { code: string; message: string; problems: string[] };
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("createSqliteStore options", () => {
  it("lists every problem in one ConfigError, synchronously, before touching any file", () => {
    const e = configError(() =>
      createSqliteStore({
        path: "/nonexistent/never-created.db",
        tablePrefix: "x; drop table",
        busyTimeoutMs: -1,
        synchronous: "sometimes" as never,
      }),
    );
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.message).toMatch(/^\[eventferry:store-sqlite\] invalid options: /);
    expect(e.problems).toHaveLength(3);
    expect(e.problems[0]).toContain('"x; drop table"');
  });

  it("needs exactly one of path and database", () => {
    expect(configError(() => createSqliteStore({})).problems).toEqual([
      "give exactly one of path and database",
    ]);
  });

  it.each(["", "1abc", "a-b", "a b", 'a"b', "x".repeat(64)])("rejects the table prefix %j", (prefix) => {
    expect(configError(() => createSqliteStore({ path: ":memory:", tablePrefix: prefix })).code).toBe(
      "CONFIG_INVALID",
    );
  });

  it.each(["ef_", "_x", "A1", "x".repeat(63)])("accepts the table prefix %j", (prefix) => {
    expect(createSqliteStore({ path: ":memory:", tablePrefix: prefix }).tablePrefix).toBe(prefix);
  });
});

describe("createStoreFromUrl", () => {
  it.each([
    ["sqlite::memory:", ":memory:"],
    ["sqlite:./data/events.db", "./data/events.db"],
    ["sqlite:///var/lib/app/events.db", "/var/lib/app/events.db"],
    ["sqlite:data%20dir/e.db", "data dir/e.db"],
  ])("%s opens %s", async (url, path) => {
    const store = createStoreFromUrl(url);
    expect(store.name).toBe("sqlite");
    // The path is reported by health once opened; opening :memory: only, to touch no files here.
    if (path === ":memory:") {
      await store.migrate();
      expect((await store.health()).details).toMatchObject({ path: ":memory:" });
      await store.close();
    } else {
      expect(store.features.shared).toBe(true);
    }
  });

  it("reads options from the query string", async () => {
    const store = createStoreFromUrl("sqlite::memory:?tablePrefix=app_&synchronous=full&busyTimeoutMs=100");
    expect(store.tablePrefix).toBe("app_");
    expect((await store.health()).details).toMatchObject({ synchronous: "full", busyTimeoutMs: 100 });
    await store.close();
  });

  it.each([
    ["postgres://localhost/db", /not a sqlite: URL/],
    ["sqlite://host/file.db", /no host/],
    ["sqlite:", /names no file/],
    ["sqlite:a.db?color=blue", /unknown URL parameter color/],
    ["sqlite:a.db?tablePrefix=x;drop", /tablePrefix/],
  ])("rejects %s", (url, message) => {
    const e = configError(() => createStoreFromUrl(url));
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.message).toMatch(message);
  });
});
