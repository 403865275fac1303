// The demo on PostgreSQL + NATS JetStream: the same scenarios as on SQLite, by changing only
// EVENTFERRY_STORE and EVENTFERRY_TRANSPORT. Each app gets its own schema and stream prefix.
import { afterAll, describe, expect } from "vitest";
import type { DemoConfig } from "../src/config.js";
import { describeDemoScenarios } from "./scenarios.js";
import {
  deleteNatsStreams,
  dropSchemas,
  leftovers,
  NATS_URL,
  natsAvailable,
  POSTGRES_URL,
  postgresAvailable,
  uniqueName,
  withQuery,
} from "./services.js";

const available = (await postgresAvailable()) && (await natsAvailable());
const schemas: string[] = [];
const prefixes: string[] = [];

/** One configuration, as the two variables would give it. */
function postgresNatsConfig(): Partial<DemoConfig> {
  const name = uniqueName("pn");
  schemas.push(name);
  prefixes.push(name);
  return {
    store: withQuery(POSTGRES_URL, { schema: name }),
    transport: withQuery(NATS_URL, { streamPrefix: name, storage: "memory" }),
  };
}

describe.runIf(available)("PostgreSQL + NATS", () => {
  afterAll(async () => {
    await dropSchemas(schemas);
    await deleteNatsStreams(prefixes);
    expect(await leftovers({ nats: prefixes })).toBe(0);
  });

  describeDemoScenarios("PostgreSQL with the NATS transport", postgresNatsConfig);
});
