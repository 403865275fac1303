// rediss:// against a TLS-only Redis this test starts itself (own port, own process, a self-signed
// certificate made with openssl), so the shared server is not touched.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { isEventferryError } from "@eventferry/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedisTransport, createTransportFromUrl } from "../src/index.js";

const tools = existsSync("/usr/bin/redis-server") && existsSync("/usr/bin/openssl");

function handshake(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

describe.runIf(tools)("TLS (rediss://)", () => {
  let dir = "";
  let port = 0;
  let server: ChildProcess | undefined;
  let ca = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ef-redis-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: "ignore" },
    );
    ca = readFileSync(join(dir, "cert.pem"), "utf8");
    port = await freePort();
    server = spawn(
      "redis-server",
      [
        "--port",
        "0",
        "--tls-port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        join(dir, "cert.pem"),
        "--tls-key-file",
        join(dir, "key.pem"),
        "--tls-ca-cert-file",
        join(dir, "cert.pem"),
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
      ],
      { stdio: "ignore" },
    );
    // Wait until the TLS port completes a handshake.
    const deadline = Date.now() + 10_000;
    while (!(await handshake(port, ca))) {
      if (Date.now() > deadline) throw new Error("the TLS Redis did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);

  afterAll(() => {
    server?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates a TLS connection from a rediss:// URL (fails here only on trust, as it must)", async () => {
    const transport = createTransportFromUrl(`rediss://localhost:${port}?prefix=tls`);
    const health = await transport.health();
    await transport.close();
    expect(health.status).toBe("unhealthy");
    expect(health.reasons.join(" ")).toMatch(/self[- ]signed|certificate/i);
  });

  it("publishes and consumes over TLS with the server's CA", async () => {
    const transport = createRedisTransport({
      url: `rediss://localhost:${port}`,
      redisOptions: { tls: { ca } },
      prefix: "tls",
    });
    try {
      const sub = await transport.subscribe("t", { group: "g" });
      await transport.publish("t", [{ id: "tls-1", type: "a.b", payload: "{}" }]);
      const first = await sub[Symbol.asyncIterator]().next();
      expect(first.value?.event.id).toBe("tls-1");
      await first.value?.ack();
      const health = await transport.health();
      expect(health.status).toBe("healthy");
    } finally {
      await transport.close();
    }
  });

  it("reports an untrusted certificate as a ConnectionError that says so, not a hang", async () => {
    const transport = createRedisTransport({
      url: `rediss://localhost:${port}`,
      redisOptions: { maxRetriesPerRequest: 1 },
      prefix: "tls",
    });
    try {
      const error = await transport.subscribe("t", { group: "g" }).catch((e: unknown) => e);
      expect(isEventferryError(error)).toBe(true);
      expect((error as Error).name).toBe("ConnectionError");
      expect((error as Error).message).toMatch(/certificate/i);
      const health = await transport.health();
      expect(health.status).toBe("unhealthy");
      expect(health.reasons[0]).toMatch(/certificate/i);
    } finally {
      await transport.close();
    }
  });
});
