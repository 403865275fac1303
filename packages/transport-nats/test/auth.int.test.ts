import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionError, isEventferryError, PublishError } from "@eventferry/core";
import { nkeys } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNatsTransport, createTransportFromUrl } from "../src/index.js";

const NATS_SERVER_BIN = process.env.EVENTFERRY_TEST_NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
const SECRET = "s3cret-Pa55-9f1c";
const WRONG = "wr0ng-Pa55-7e2d";

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function canRun(bin: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(bin, ["--version"], { stdio: "ignore" });
    child.once("error", () => resolve(false));
    child.once("exit", (code) => resolve(code === 0));
  });
}

const runnable = await canRun(NATS_SERVER_BIN);
if (!runnable) {
  if (process.env.CI === "true") throw new Error(`nats-server not found at ${NATS_SERVER_BIN}`);
  console.warn(
    `[transport-nats] skipping auth tests: no nats-server at ${NATS_SERVER_BIN} (set EVENTFERRY_TEST_NATS_SERVER_BIN)`,
  );
}

/** Everything a caller could print of an error: message, stack, JSON, and its causes' messages and stacks. */
function printed(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    parts.push(current.message, current.stack ?? "", JSON.stringify(current));
    current = current.cause;
  }
  return parts.join("\n");
}

interface RunningServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Waits until something accepts TCP connections on `port`. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline)
      throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a nats-server with JetStream on a free port and its own store directory; `args` add the
 * authentication (command-line flags), or `config` is a configuration file body (`port`,
 * `listen` and `jetstream` are filled in).
 */
async function startServer(args: string[], config?: string): Promise<RunningServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "eft-auth-"));
  let argv: string[];
  if (config === undefined) {
    argv = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir, ...args];
  } else {
    const file = join(dir, "server.conf");
    await writeFile(file, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${dir}" }\n${config}\n`);
    argv = ["-c", file];
  }
  const child = spawn(NATS_SERVER_BIN, argv, { stdio: "ignore" });
  await listening(port, 10_000);
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe.runIf(runnable)("credentials (a real nats-server with user/password auth on its own port)", () => {
  let server: RunningServer;
  let port: number;

  beforeAll(async () => {
    server = await startServer(["--user", "app", "--pass", SECRET]);
    port = server.port;
  });

  afterAll(() => server.stop());

  it("a wrong user:password in the URL is a ConnectionError that never shows the password", async () => {
    const transport = createTransportFromUrl(
      `nats://app:${WRONG}@127.0.0.1:${port}?streamPrefix=eft-auth&connectTimeout=2s`,
    );
    const subscribeError = await transport.subscribe("orders", { group: "g" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(subscribeError).toBeInstanceOf(ConnectionError);
    expect((subscribeError as ConnectionError).code).toBe("CONNECTION_FAILED");
    expect((subscribeError as ConnectionError).retryable).toBe(false);
    expect((subscribeError as Error).message).toMatch(
      /\[eventferry:transport-nats\] connect to nats:\/\/127\.0\.0\.1:\d+ failed: .*authorization/i,
    );

    const publishError = await transport.publish("orders", [{ id: "e-1", type: "t", payload: "{}" }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(publishError).toBeInstanceOf(PublishError);
    expect((publishError as PublishError).failedIds).toEqual(["e-1"]);
    expect((publishError as PublishError).cause).toBeInstanceOf(ConnectionError);

    const report = await transport.health();
    expect(report.status).toBe("unhealthy");

    for (const text of [printed(subscribeError), printed(publishError), JSON.stringify(report)]) {
      expect(text).not.toContain(WRONG);
      expect(text).not.toContain(SECRET);
    }
    await transport.close();
  });

  it("an invalid URL is a ConfigError that hides the password", () => {
    let error: unknown;
    try {
      createTransportFromUrl(`nats://app:${SECRET}@127.0.0.1:${port}?streamPrefx=x`);
    } catch (e) {
      error = e;
    }
    expect(isEventferryError(error)).toBe(true);
    expect(printed(error)).not.toContain(SECRET);
    expect((error as Error).message).toContain("app:***@");
  });

  it("the right user:password in the URL connects, publishes and consumes", async () => {
    const transport = createTransportFromUrl(
      `nats://app:${encodeURIComponent(SECRET)}@127.0.0.1:${port}?streamPrefix=eft-auth-ok&storage=memory`,
    );
    const sub = await transport.subscribe("orders", { group: "g" });
    await transport.publish("orders", [{ id: "ok-1", type: "t", payload: "{}" }]);
    const iterator = sub[Symbol.asyncIterator]();
    const result = await iterator.next();
    expect(result.done).toBe(false);
    expect(result.value?.event.id).toBe("ok-1");
    await result.value?.ack();
    const report = await transport.health();
    expect(report.status).toBe("healthy");
    expect(JSON.stringify(report)).not.toContain(SECRET);
    await sub.close();
    await transport.close();
  });
});

describe.runIf(runnable)("token and NKey authentication (real nats-servers on their own ports)", () => {
  const TOKEN = "t0ken-5ecret-4b1d";
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  let tokenServer: RunningServer;
  let nkeyServer: RunningServer;
  const dirs: string[] = [];

  beforeAll(async () => {
    [tokenServer, nkeyServer] = await Promise.all([
      startServer(["--auth", TOKEN]),
      startServer([], `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }`),
    ]);
  });

  afterAll(async () => {
    await Promise.all([tokenServer.stop(), nkeyServer.stop()]);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function roundTrip(transport: ReturnType<typeof createNatsTransport>): Promise<void> {
    const sub = await transport.subscribe("orders", { group: "g" });
    await transport.publish("orders", [{ id: "a-1", type: "t", payload: "{}" }]);
    const result = await sub[Symbol.asyncIterator]().next();
    expect(result.value?.event.id).toBe("a-1");
    await result.value?.ack();
    expect((await transport.health()).status).toBe("healthy");
    await sub.close();
    await transport.close();
  }

  it("a token in the URL connects; a wrong one is a ConnectionError that hides it", async () => {
    await roundTrip(
      createTransportFromUrl(
        `nats://${TOKEN}@127.0.0.1:${tokenServer.port}?streamPrefix=eft-token&storage=memory`,
      ),
    );
    const wrong = createTransportFromUrl(
      `nats://127.0.0.1:${tokenServer.port}?token=nope-${TOKEN.slice(0, 4)}x&streamPrefix=eft-token`,
    );
    const error = await wrong.subscribe("orders", { group: "g" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(printed(error)).not.toContain(`nope-${TOKEN.slice(0, 4)}x`);
    await wrong.close();
  });

  it("an NKey seed (inline and from a file) connects; another key is refused", async () => {
    await roundTrip(
      createNatsTransport({
        servers: `nats://127.0.0.1:${nkeyServer.port}`,
        nkeySeed: seed,
        streamPrefix: "eft-nkey",
        storage: "memory",
      }),
    );
    const dir = await mkdtemp(join(tmpdir(), "eft-seed-"));
    dirs.push(dir);
    const seedFile = join(dir, "user.nk");
    await writeFile(seedFile, `${seed}\n`, { mode: 0o600 });
    await roundTrip(
      createTransportFromUrl(
        `nats://127.0.0.1:${nkeyServer.port}?nkeySeedFile=${encodeURIComponent(seedFile)}&streamPrefix=eft-nkey2&storage=memory`,
      ),
    );
    const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
    const refused = createNatsTransport({
      servers: `nats://127.0.0.1:${nkeyServer.port}`,
      nkeySeed: stranger,
      streamPrefix: "eft-nkey3",
    });
    const error = await refused.subscribe("orders", { group: "g" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(printed(error)).not.toContain(stranger);
    await refused.close();
  });
});
