// A relay killed (SIGKILL, a real child process) between publishing a batch and marking it
// published: the next relay publishes the batch again, and the consumer's inbox turns the
// duplicate into one effect.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createEnvelope,
  defineEvent,
  type EncodedEvent,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { publishInTransaction } from "@eventferry/outbox";
import { createEventferry } from "eventferry";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPostgresStore, createStoreTransport } from "../src/index.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const OrderPlaced = defineEvent("order.placed", z.object({ orderId: z.string() }));
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const schema = `efo_crash_${randomBytes(5).toString("hex")}`;
const N = 20;
const CHILD_LEASE_MS = 1_500;

/**
 * The child: a relay over the store transport whose publish, once the batch is in the transport,
 * kills its own process with SIGKILL — before the relay can mark the rows published. It runs the
 * BUILT packages (dist; turbo builds before `test:int`).
 */
const CHILD = `
import { createPostgresStore, createStoreTransport } from "@eventferry/store-postgres";
import { createOutboxRelay } from "@eventferry/outbox";
const store = createPostgresStore({ url: process.env.EF_URL, schema: process.env.EF_SCHEMA, poolSize: 2, listen: false });
const inner = createStoreTransport(store);
const transport = {
  name: inner.name, features: inner.features,
  subscribe: (t, o) => inner.subscribe(t, o), close: () => inner.close(), health: () => inner.health(),
  async publish(topic, events, options) {
    await inner.publish(topic, events, options);
    process.stdout.write("published " + events.length + "\\n", () => process.kill(process.pid, "SIGKILL"));
    await new Promise(() => {});
  },
};
const relay = createOutboxRelay({ store, transport, lease: ${CHILD_LEASE_MS}, batchSize: 1000 });
await relay.flush({ timeout: "20s" });
process.stdout.write("not killed\\n");
`;

function runChild(): Promise<{
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
      cwd: packageDir,
      env: { ...process.env, EF_URL: POSTGRES_URL, EF_SCHEMA: schema },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal });
    });
  });
}

describe.runIf(available)("outbox relay crash on PostgreSQL", () => {
  afterAll(async () => {
    await dropSchema(admin, schema);
    await admin.end();
  });

  it("a relay SIGKILLed between publish and mark: the batch is published again, each event takes effect once", async () => {
    expect(
      existsSync(join(packageDir, "dist", "index.js")) &&
        existsSync(join(packageDir, "..", "outbox", "dist", "index.js")),
      "the child imports the built packages: run the build (turbo does before test:int)",
    ).toBe(true);
    const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 6 });
    try {
      await store.migrate();
      await admin.query(`CREATE TABLE "${schema}".effects (event_id text NOT NULL, order_id text NOT NULL)`);
      const transport = createStoreTransport(store, { pollIntervalMs: 50 });
      // The consumer group exists before the child publishes (the store transport fans out to
      // the groups it knows).
      await (await transport.subscribe("events", { group: "crash" })).close();

      const events = Array.from({ length: N }, (_, i) => createEnvelope(OrderPlaced, { orderId: `o-${i}` }));
      await store.transaction(async (tx) => {
        await tx.client.query(`CREATE TABLE "${schema}".orders (id text PRIMARY KEY)`);
        await publishInTransaction(tx, "events", events);
      });

      const child = await runChild();
      expect(child.signal, `child: ${child.stdout} ${child.stderr}`).toBe("SIGKILL");
      expect(child.stdout).toBe(`published ${N}\n`);
      // Published, never marked: in the transport, and still pending (leased to the dead relay).
      const queued = await admin.query(
        `SELECT count(DISTINCT event_id)::int AS n FROM "${schema}".ef_transport_messages WHERE grp = 'crash'`,
      );
      expect(queued.rows[0].n).toBe(N);
      expect(await store.outbox.pending()).toBe(N);

      const republished: EncodedEvent[] = [];
      const counting: Transport = {
        name: transport.name,
        features: transport.features,
        async publish(topic, batch, options) {
          republished.push(...batch);
          await transport.publish(topic, batch, options);
        },
        subscribe: (topic, options) => transport.subscribe(topic, options),
        close: () => transport.close(),
        health: () => transport.health(),
      };
      const ferry = await createEventferry<pg.PoolClient>({
        store,
        transport: counting,
        group: "crash",
        logger: silentLogger,
        pollInterval: 50,
      });
      let runs = 0;
      ferry.on(OrderPlaced, async (event, ctx) => {
        runs++;
        await ctx.tx.query(`INSERT INTO "${schema}".effects VALUES ($1, $2)`, [event.id, event.data.orderId]);
      });
      try {
        await ferry.start();
        await ferry.whenIdle({ timeout: "15s" }); // waits out the dead relay's lease, then relays
        const deadline = Date.now() + 10_000;
        for (;;) {
          const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".effects`);
          if (rows[0].n >= N || Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        await ferry.whenIdle({ timeout: "5s" });
        await new Promise((r) => setTimeout(r, 200)); // room for a second effect to show up
      } finally {
        await ferry.stop({ timeout: "2s" });
        await transport.close();
      }
      // Every event went to the transport twice: by the killed relay and again by the ferry's.
      expect(republished.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
      expect(await store.outbox.pending()).toBe(0);
      const { rows } = await admin.query<{ event_id: string; n: number }>(
        `SELECT event_id, count(*)::int AS n FROM "${schema}".effects GROUP BY event_id`,
      );
      expect(rows.map((r) => r.event_id).sort()).toEqual(events.map((e) => e.id).sort());
      expect(rows.every((r) => r.n === 1)).toBe(true);
      expect(runs).toBe(N);
    } finally {
      await store.close();
    }
  }, 30_000);
});
