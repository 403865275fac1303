import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createPostgresStore } from "../src/index.js";
import { available, POSTGRES_URL } from "./setup.js";

describe.runIf(available)("health", () => {
  it("reports the server's durability settings (fsync, synchronous_commit) and version", async () => {
    const store = createPostgresStore({ url: POSTGRES_URL, schema: `efh_${randomBytes(4).toString("hex")}` });
    try {
      const report = await store.health();
      expect(report.status).toBe("healthy");
      const details = report.details as {
        durability: { fsync: string; synchronousCommit: string };
        serverVersion: string;
      };
      expect(["on", "off"]).toContain(details.durability.fsync);
      expect(["on", "off", "local", "remote_write", "remote_apply"]).toContain(
        details.durability.synchronousCommit,
      );
      expect(details.serverVersion).toMatch(/^\d+/);
    } finally {
      await store.close();
    }
    const closed = await store.health();
    expect(closed).toMatchObject({ status: "unhealthy", reasons: ["the store is closed"] });
  });
});
