// Stops the shared nats-server mid-stream and starts it again: every client on the machine sees
// the outage, so this runs in the serial project. The server is running again when the file ends,
// whatever happened.
import { execFileSync, spawn } from "node:child_process";
import { type EncodedEvent, PublishError } from "@eventferry/core";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { createNatsTransport } from "../src/index.js";
import { adminConnection, available, deleteStream, NATS_SERVERS, uniquePrefix } from "./setup.js";

const NATS_SERVER_BIN = "/usr/sbin/nats-server";
const START_ARGS = [
  "-a",
  "127.0.0.1",
  "-p",
  "4222",
  "-js",
  "-sd",
  "/var/lib/nats-server",
  "-l",
  "/var/log/nats-server.log",
];
const local = NATS_SERVERS === "nats://127.0.0.1:4222";

/** The pid of the process listening on 127.0.0.1:4222, from `ss`. */
function serverPid(): number | undefined {
  const out = execFileSync("ss", ["-ltnpH", "sport = :4222"], { encoding: "utf8" });
  const match = /pid=(\d+)/.exec(out);
  return match ? Number(match[1]) : undefined;
}

async function answers(timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      const nc = await connect({ servers: NATS_SERVERS, timeout: 500, reconnect: false });
      await nc.close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}

async function stopServer(): Promise<void> {
  const pid = serverPid();
  if (pid === undefined) throw new Error("no nats-server listens on 127.0.0.1:4222");
  process.kill(pid, "SIGTERM");
  const deadline = performance.now() + 10_000;
  while (serverPid() !== undefined) {
    if (performance.now() > deadline) throw new Error(`nats-server ${pid} did not stop`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the server as the machine does; falls back to a detached spawn if start-stop-daemon did nothing. */
async function startServer(): Promise<void> {
  if (serverPid() !== undefined) return;
  try {
    execFileSync("start-stop-daemon", [
      "--start",
      "--oknodo",
      "--background",
      "--exec",
      NATS_SERVER_BIN,
      "--",
      ...START_ARGS,
    ]);
  } catch {
    // fall through to the check below
  }
  if (await answers(5_000)) return;
  const child = spawn(NATS_SERVER_BIN, START_ARGS, { detached: true, stdio: "ignore" });
  child.unref();
  if (!(await answers(10_000))) throw new Error("could not start nats-server again");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(available && local)("nats-server restart mid-stream", () => {
  afterAll(async () => {
    await startServer();
  }, 30_000);

  it("publishing and consuming resume after a restart; every acknowledged publish is delivered", async () => {
    const prefix = uniquePrefix("restart");
    const transport = createNatsTransport({
      servers: NATS_SERVERS,
      streamPrefix: prefix,
      storage: "file",
      publishTimeout: "1s",
      fetchExpires: "2s",
      maxAge: "1h",
    });
    const acknowledged = new Set<string>();
    const failed = new Set<string>();
    const delivered = new Map<string, number>();
    let publishErrors = 0;
    let batchNo = 0;
    let phase: "before" | "down" | "after" = "before";
    const publishedIn = { before: 0, down: 0, after: 0 };
    try {
      const sub = await transport.subscribe("orders", { group: "g", batchSize: 50, ackTimeoutMs: 3_000 });
      const consuming = (async () => {
        for await (const batch of sub.batches()) {
          for (const d of batch) delivered.set(d.event.id, (delivered.get(d.event.id) ?? 0) + 1);
          await sub.ackMany(batch);
        }
      })();

      let publishing = true;
      const producer = (async () => {
        while (publishing) {
          const batch: EncodedEvent[] = Array.from({ length: 20 }, (_, i) => ({
            id: `${prefix}-${batchNo}-${i}`,
            type: "test.happened",
            payload: `{"b":${batchNo},"i":${i}}`,
          }));
          batchNo++;
          const during = phase;
          try {
            await transport.publish("orders", batch);
            for (const e of batch) acknowledged.add(e.id);
            publishedIn[during] += batch.length;
          } catch (error) {
            publishErrors++;
            expect(error).toBeInstanceOf(PublishError);
            expect((error as PublishError).retryable).toBe(true);
            const failedIds = new Set((error as PublishError).failedIds);
            for (const e of batch) (failedIds.has(e.id) ? failed : acknowledged).add(e.id);
          }
          await sleep(20);
        }
      })();

      await sleep(1_000);
      phase = "down";
      await stopServer();
      await sleep(1_500);
      await startServer();
      phase = "after";
      // Keep publishing until publishes succeed again, then a little longer.
      const deadline = performance.now() + 20_000;
      while (publishedIn.after < 200 && performance.now() < deadline) await sleep(100);
      publishing = false;
      await producer;

      expect(publishedIn.before).toBeGreaterThan(0);
      expect(publishedIn.after, "publishing did not resume after the restart").toBeGreaterThanOrEqual(200);
      expect(publishErrors, "no publish failed while the server was down").toBeGreaterThan(0);

      const waitUntil = performance.now() + 30_000;
      while ([...acknowledged].some((id) => !delivered.has(id)) && performance.now() < waitUntil)
        await sleep(100);
      const missing = [...acknowledged].filter((id) => !delivered.has(id));
      expect(missing, `${missing.length} acknowledged events were not delivered`).toEqual([]);
      // Nothing arrives that was never published.
      for (const id of delivered.keys()) expect(acknowledged.has(id) || failed.has(id)).toBe(true);
      expect((await transport.health()).status).toBe("healthy");
      await sub.close();
      await consuming;
    } finally {
      await transport.close();
      await startServer();
      const admin = await adminConnection();
      await deleteStream(admin, prefix);
      await admin.close();
    }
  }, 90_000);
});
