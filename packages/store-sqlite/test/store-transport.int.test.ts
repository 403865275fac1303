import { describeTransportConformance } from "@eventferry/core/testing";
import { afterAll } from "vitest";
import { createSqliteStore, createStoreTransport, type SqliteStore } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
const stores = new Map<string, SqliteStore>();

describeTransportConformance("store:sqlite", {
  create: async ({ id }) => {
    const store = createSqliteStore({ path: tmp.file(`${id}.db`) });
    await store.migrate();
    stores.set(id, store);
    return createStoreTransport(store, { minPollMs: 5, maxPollMs: 50 });
  },
  cleanup: async ({ id, transport }) => {
    await transport.close();
    await stores.get(id)?.close();
    stores.delete(id);
  },
});
