import { describeTransportConformance } from "@eventferry/core/testing";
import { afterAll, describe } from "vitest";
import { createRedisTransport } from "../src/index.js";
import { adminClient, available, deleteKeys, REDIS_URL } from "./setup.js";

const admin = adminClient();

describe.runIf(available)("redis", () => {
  afterAll(() => admin.quit());

  describeTransportConformance("redis", {
    create: ({ id }) => createRedisTransport({ url: REDIS_URL, prefix: `eftest:${id}` }),
    cleanup: async ({ id }) => {
      await deleteKeys(admin, `eftest:${id}`);
    },
    ackTimeoutMs: 300,
  });
});
