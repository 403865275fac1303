// Half-open connections: a TCP proxy between the store and PostgreSQL stops forwarding on every
// open socket — both ends stay open, no byte moves, nothing is ever closed (as after a NAT or
// firewall lost its state, or a proxy that hangs) — and never resumes. Connections opened after
// the stall are forwarded normally. The store must not hang: its own statements fail with a
// retryable error after `queryTimeoutMs` and their connections are dropped, never reused; the
// LISTEN connection's health check notices within `listenerCheckMs` and re-LISTENs on a new one.
import { randomBytes } from "node:crypto";
import net from "node:net";
import { type EventEnvelope, type EventferryError, isEventferryError, uuidv7 } from "@eventferry/core";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createPostgresStore, createStoreFromUrl, type PostgresStore } from "../src/index.js";
import { tableNames } from "../src/internal/names.js";
import { available, dropSchema, POSTGRES_URL } from "./setup.js";

/** A TCP proxy whose open connections can go silent for good (see tests/reliability/test/tcp-proxy.ts). */
class SilentProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<{ client: net.Socket; server: net.Socket; stalled: boolean }>();
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes swallowed by stalled connections. */
  heldBytes = 0;

  constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      this.accepted++;
      const server = net.connect(target.port, target.host);
      const pair = { client, server, stalled: false };
      this.#pairs.add(pair);
      const forward = (to: net.Socket) => (chunk: Buffer) => {
        if (pair.stalled) this.heldBytes += chunk.length;
        else if (!to.destroyed) to.write(chunk);
      };
      client.on("data", forward(server));
      server.on("data", forward(client));
      // A stalled pair hides the far end's close too.
      const onClose = (): void => {
        if (pair.stalled) return;
        this.#pairs.delete(pair);
        client.destroy();
        server.destroy();
      };
      client.on("close", onClose);
      server.on("close", onClose);
      client.on("error", () => {});
      server.on("error", () => {});
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Every open connection stops forwarding, for good; returns how many. */
  stall(): number {
    for (const pair of this.#pairs) pair.stalled = true;
    return this.#pairs.size;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const target = new URL(POSTGRES_URL);
const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
const schemas: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

function schemaName(): string {
  const s = `efh_${randomBytes(6).toString("hex")}`;
  schemas.push(s);
  return s;
}

function event(): EventEnvelope {
  return {
    id: uuidv7(),
    type: "test.happened",
    data: {},
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
  };
}

/** A proxy in front of the test server, and the server URL with the proxy's port; closed after the test. */
async function proxied(): Promise<{ proxy: SilentProxy; url: string }> {
  const proxy = new SilentProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const url = new URL(POSTGRES_URL);
  url.hostname = "127.0.0.1";
  url.port = String(await proxy.listen());
  return { proxy, url: url.toString() };
}

/** Closes the proxy first (the stalled sockets close), then the store. */
function cleanup(proxy: SilentProxy, ...stores: PostgresStore[]): void {
  cleanups.push(async () => {
    await proxy.close();
    for (const s of stores) await s.close();
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Runs `op`, which must reject; returns the error and how long it took. */
async function rejection(op: () => Promise<unknown>): Promise<{ error: EventferryError; ms: number }> {
  const started = Date.now();
  try {
    await op();
  } catch (error) {
    if (!isEventferryError(error)) throw error;
    return { error, ms: Date.now() - started };
  }
  throw new Error("expected the operation to reject");
}

async function count(schema: string, ids: readonly string[]): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM "${schema}".ef_events WHERE id = ANY($1::text[])`,
    [ids],
  );
  return rows[0]?.n ?? -1;
}

const QUERY_TIMEOUT_MS = 1_500;
/** Slack for a loaded 2-core machine on top of the timeout. */
const SLACK_MS = 8_000;

describe.runIf(available)("store-postgres behind a connection that goes silent for good", () => {
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });
  afterAll(async () => {
    for (const s of schemas) await dropSchema(admin, s);
    await admin.end();
  });

  it("queryTimeoutMs and listenerCheckMs take a number > 0 or false (options and config string)", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, "5" as unknown as number]) {
      expect(() => createPostgresStore({ url: POSTGRES_URL, queryTimeoutMs: bad })).toThrow(
        /queryTimeoutMs must be/,
      );
      expect(() => createPostgresStore({ url: POSTGRES_URL, listenerCheckMs: bad })).toThrow(
        /listenerCheckMs must be/,
      );
    }
    expect(() => createStoreFromUrl(`${POSTGRES_URL}?queryTimeoutMs=abc`)).toThrow(/queryTimeoutMs must be/);
    expect(() => createStoreFromUrl(`${POSTGRES_URL}?listenerCheckMs=`)).toThrow(/listenerCheckMs must be/);
    const store = createStoreFromUrl(
      `${POSTGRES_URL}?queryTimeoutMs=false&listenerCheckMs=false&schema=efh_unused`,
    );
    cleanups.push(() => store.close());
    expect(store.schema).toBe("efh_unused");
  });

  it("a statement on a silent connection rejects with a retryable ConnectionError after queryTimeoutMs; the connection is dropped and the store works on new ones", async () => {
    const { proxy, url } = await proxied();
    const schema = schemaName();
    const store = createPostgresStore({
      url,
      schema,
      poolSize: 2,
      listen: false,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    });
    cleanup(proxy, store);
    await store.migrate();
    // Both pool connections open and idle.
    await Promise.all([store.now(), store.now(), store.now(), store.now()]);
    expect(store.pool.totalCount).toBe(2);
    expect(store.pool.idleCount).toBe(2);
    expect(proxy.stall()).toBe(2);

    // 1. A statement through pool.query (append): the pool is full, so it gets a silent connection.
    const lost = event();
    const first = await rejection(() => store.append([lost]));
    console.log(`append on a silent connection rejected after ${first.ms} ms: ${first.error.message}`);
    expect(first.error.code).toBe("CONNECTION_FAILED");
    expect(first.error.retryable).toBe(true);
    expect(first.ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(first.ms).toBeLessThan(QUERY_TIMEOUT_MS + SLACK_MS);
    expect(store.pool.totalCount).toBe(1);

    // 2. A transaction: its BEGIN goes to the other silent connection.
    let fnRan = false;
    const second = await rejection(() =>
      store.transaction(async (tx) => {
        fnRan = true;
        await tx.append([event()]);
      }),
    );
    console.log(`transaction on a silent connection rejected after ${second.ms} ms: ${second.error.message}`);
    expect(second.error.code).toBe("CONNECTION_FAILED");
    expect(second.error.retryable).toBe(true);
    expect(second.ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(second.ms).toBeLessThan(QUERY_TIMEOUT_MS + SLACK_MS);
    expect(fnRan).toBe(false);
    // Neither silent connection went back to the pool.
    expect(store.pool.totalCount).toBe(0);

    // 3. New connections pass: every kind of statement works again, none waits behind a silent one.
    const acceptedBefore = proxy.accepted;
    const kept = [event(), event(), event()];
    const started = Date.now();
    expect(await store.append([kept[0] as EventEnvelope])).toEqual({
      inserted: [kept[0]?.id],
      duplicates: [],
    });
    await store.transaction(async (tx) => {
      await tx.append([kept[1] as EventEnvelope]);
    });
    await store.inbox.record({
      entries: [{ consumer: "c", event: kept[2] as EventEnvelope, maxAttempts: 3 }],
    });
    const claimed = await store.inbox.claim({ consumers: ["c"], limit: 5, leaseMs: 30_000 });
    expect(claimed.map((e) => e.event.id)).toEqual([kept[2]?.id]);
    const [done] = await store.inbox.complete({
      entries: [{ id: claimed[0]?.id as string, leaseToken: claimed[0]?.leaseToken as string }],
    });
    expect(done).toBe("completed");
    for (let i = 0; i < 10; i++) await store.now();
    expect((await store.health()).status).toBe("healthy");
    console.log(
      `after the stall: 15 operations on new connections in ${Date.now() - started} ms; ${proxy.accepted - acceptedBefore} new connections, ${proxy.heldBytes} bytes swallowed`,
    );
    expect(proxy.accepted - acceptedBefore).toBeGreaterThanOrEqual(1);
    expect(proxy.accepted - acceptedBefore).toBeLessThanOrEqual(2);
    // The lost append never reached the server; the kept appends did (kept[2] is in the inbox only).
    expect(await count(schema, [lost.id])).toBe(0);
    expect(await count(schema, [kept[0]?.id as string, kept[1]?.id as string])).toBe(2);
  });

  it("a timed-out statement on a checked-out client (joinTransaction) ends that client: later statements fail at once, release() removes it", async () => {
    const { proxy, url } = await proxied();
    const schema = schemaName();
    const store = createPostgresStore({
      url,
      schema,
      poolSize: 2,
      listen: false,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    });
    cleanup(proxy, store);
    await store.migrate();
    const client = await store.pool.connect();
    let released = false;
    try {
      await client.query("BEGIN");
      expect(proxy.stall()).toBeGreaterThanOrEqual(1);
      const joined = store.joinTransaction?.(client);
      if (!joined) throw new Error("the store has no joinTransaction");
      const timedOut = await rejection(() => joined.append([event()]));
      expect(timedOut.error.code).toBe("CONNECTION_FAILED");
      expect(timedOut.error.retryable).toBe(true);
      expect(timedOut.ms).toBeLessThan(QUERY_TIMEOUT_MS + SLACK_MS);
      // pg keeps a timed-out statement as the client's active query and queues later ones behind
      // it, forever on a silent socket: the store ended the client, so this fails instead of hanging.
      const started = Date.now();
      await expect(client.query("ROLLBACK")).rejects.toThrow(/not queryable|terminated/i);
      expect(Date.now() - started).toBeLessThan(1_000);
      client.release();
      released = true;
      expect(store.pool.totalCount).toBe(0);
    } finally {
      if (!released) client.release(new Error("test failed"));
    }
    expect(await store.append([event()])).toMatchObject({ duplicates: [] });
  });

  it("your own statements on tx.client get no timeout (a 2.5 s query with queryTimeoutMs 1.5 s commits)", async () => {
    const schema = schemaName();
    const store = createPostgresStore({
      url: POSTGRES_URL,
      schema,
      poolSize: 2,
      listen: false,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
    });
    cleanups.push(() => store.close());
    await store.migrate();
    const e = event();
    const started = Date.now();
    await store.transaction(async (tx) => {
      await tx.client.query("SELECT pg_sleep(2.5)");
      await tx.append([e]);
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    expect(await count(schema, [e.id])).toBe(1);
    // A store statement longer than the timeout is cut (on a live connection too), retryable.
    const { rows } = await store.pool.query<{ ok: number }>({ text: "SELECT 1 AS ok, pg_sleep(0.1)" });
    expect(rows[0]?.ok).toBe(1);
    const slow = await rejection(() => store.pool.query("SELECT pg_sleep(3)"));
    expect(slow.error.code).toBe("CONNECTION_FAILED");
    expect(slow.ms).toBeLessThan(2_900);
    // A caller's own per-query timeout wins over the store's default.
    await store.pool.query({ text: "SELECT pg_sleep(2)", query_timeout: 10_000 } as pg.QueryConfig);
  });

  it("the LISTEN connection gone silent is noticed within its check and replaced: a write from another process wakes waitForChange again", async () => {
    const { proxy, url } = await proxied();
    const schema = schemaName();
    const listenerName = `eventferry-listener-${tableNames(schema, "ef_").hash}`;
    const CHECK_MS = 1_000;
    // The URL options, as the front door passes them.
    const waiter = createStoreFromUrl(
      `${url}${url.includes("?") ? "&" : "?"}schema=${schema}&queryTimeoutMs=${QUERY_TIMEOUT_MS}&listenerCheckMs=${CHECK_MS}`,
    );
    const writer = createPostgresStore({ url: POSTGRES_URL, schema, listen: false, poolSize: 1 });
    cleanup(proxy, waiter, writer);
    await waiter.migrate();
    const listenerPids = async (): Promise<number[]> => {
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY backend_start",
        [listenerName],
      );
      return rows.map((r) => r.pid);
    };
    await waiter.waitForChange({ timeoutMs: 1 });
    await until("the listener to connect", async () => (await listenerPids()).length === 1, 10_000);
    const [first] = await listenerPids();

    const wokenBy = async (write: () => Promise<unknown>): Promise<number> => {
      const started = Date.now();
      const waiting = waiter.waitForChange({ timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 50));
      await write();
      await waiting;
      return Date.now() - started;
    };
    expect(await wokenBy(() => writer.outbox.add({ topic: "t", events: [event()] }))).toBeLessThan(3_000);

    const stalledAt = Date.now();
    expect(proxy.stall()).toBeGreaterThanOrEqual(2); // the listener and the pool's connection
    await until(
      "a new listener connection",
      async () => (await listenerPids()).some((pid) => pid !== first),
      2 * CHECK_MS + SLACK_MS,
    );
    const replacedMs = Date.now() - stalledAt;
    // The silent one is still open (the proxy never closes it); the new one must be LISTENing.
    await until(
      "the new listener to LISTEN",
      async () => waiter.health().then((h) => h.details?.listening === true),
      10_000,
    );
    const wokenMs = await wokenBy(() => writer.outbox.add({ topic: "t", events: [event()] }));
    console.log(
      `listener: silent for good, replaced after ${replacedMs} ms (check every ${CHECK_MS} ms); a later write woke waitForChange in ${wokenMs} ms`,
    );
    expect(replacedMs).toBeLessThan(2 * CHECK_MS + SLACK_MS);
    expect(wokenMs).toBeLessThan(3_000);
    // The pool's silent connection was dropped by the health() query's timeout or is unused; the
    // store still answers.
    expect(await waiter.now()).toBeInstanceOf(Date);
  });
});
