import { describeTransportConformance } from "@eventferry/core/testing";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe } from "vitest";
import { createNatsTransport } from "../src/index.js";
import { adminConnection, available, deleteStream, NATS_SERVERS } from "./setup.js";

let admin: NatsConnection;

describe.runIf(available)("nats", () => {
  beforeAll(async () => {
    admin = await adminConnection();
  });
  afterAll(() => admin.close());

  describeTransportConformance("nats", {
    // One stream per case: the case id is the stream prefix (ids are [A-Za-z0-9-], under 64 chars).
    create: ({ id }) => createNatsTransport({ servers: NATS_SERVERS, streamPrefix: id, storage: "memory" }),
    cleanup: ({ id }) => deleteStream(admin, id),
    ackTimeoutMs: 1_000,
  });
});
