import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { createEventferry, defineEvent, type Eventferry, silentLogger } from "eventferry";
import pg from "pg";
import { z } from "zod";

export const POSTGRES_URL =
  process.env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const REDIS_URL = process.env.EVENTFERRY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const NATS_URL = process.env.EVENTFERRY_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/** The event every scenario publishes; the worker fixture defines the same one. */
export const OrderPlaced = defineEvent("order.placed", z.object({ orderId: z.string(), n: z.number() }));

const WORKER = fileURLToPath(new URL("../fixtures/worker.mjs", import.meta.url));

export interface EffectRow {
  event_id: string;
  order_id: string;
  attempt: number;
  /** Size of the batch the effect was written in (1 for one-event handlers). */
  batch: number;
}

/** One store + transport configuration, with its own schema/file/prefix, and its effects table. */
export interface Config {
  readonly name: string;
  /** PostgreSQL configurations: the schema, also the workers' application_name. */
  readonly schema?: string;
  /** Config strings for the worker and the producer. */
  readonly store: string;
  readonly transport: string;
  readonly kind: "pg" | "sqlite";
  /** The effects table as the worker names it. */
  readonly effectsTable: string;
  effects(): Promise<EffectRow[]>;
  /** Entries of the worker group's inbox not finished (pending or in flight). */
  unfinished(): Promise<number>;
  /**
   * Leases still held (inbox entries and outbox rows with a lease token, and unpublished outbox
   * rows: an event the relay has not handed to the transport yet).
   */
  leftovers(): Promise<{ inboxLeases: number; outboxLeases: number; outboxUnpublished: number }>;
  close(): Promise<void>;
}

export type ConfigFactory = (id: string) => Promise<Config>;

export const sqliteStoreConfig: ConfigFactory = async (id) => {
  const dir = mkdtempSync(join(tmpdir(), `ef-rel-${id}-`));
  const file = join(dir, "events.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 10000");
  db.exec(
    "CREATE TABLE effects (event_id TEXT NOT NULL, order_id TEXT NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL, batch INTEGER NOT NULL)",
  );
  return {
    name: "SQLite + store:",
    // A worker paused with SIGSTOP inside a write transaction holds SQLite's one write lock until
    // it resumes; every other writer waits on the busy timeout meanwhile (the default 5 s is not
    // enough for a 3 s pause followed by a scramble for the lock).
    store: `sqlite:${file}?busyTimeoutMs=30000`,
    transport: "store:",
    kind: "sqlite",
    effectsTable: "effects",
    async effects() {
      return db.prepare("SELECT event_id, order_id, attempt, batch FROM effects").all() as EffectRow[];
    },
    async unfinished() {
      const row = db
        .prepare("SELECT count(*) AS n FROM eventferry_inbox WHERE status IN ('pending', 'in-flight')")
        .get() as { n: number };
      return row.n;
    },
    async leftovers() {
      const n = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
      return {
        inboxLeases: n(
          "SELECT count(*) AS n FROM eventferry_inbox WHERE lease_token IS NOT NULL AND status NOT IN ('completed', 'dead')",
        ),
        outboxLeases: n(
          "SELECT count(*) AS n FROM eventferry_outbox WHERE lease_token IS NOT NULL AND status <> 'published'",
        ),
        outboxUnpublished: n("SELECT count(*) AS n FROM eventferry_outbox WHERE status <> 'published'"),
      };
    },
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

function postgresConfig(
  name: string,
  transport: (schema: string) => string,
  dropTransport: (schema: string) => Promise<void>,
): ConfigFactory {
  return async (id) => {
    const schema = `ef_rel_${id}`;
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    // Idle connections die when a scenario restarts the server: the pool replaces them.
    pool.on("error", () => {});
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(
      `CREATE TABLE "${schema}".effects (event_id text NOT NULL, order_id text NOT NULL, attempt int NOT NULL, pid int NOT NULL, batch int NOT NULL)`,
    );
    const url = new URL(POSTGRES_URL);
    url.searchParams.set("schema", schema);
    // Lets a scenario find (and terminate) exactly this configuration's connections.
    url.searchParams.set("application_name", schema);
    return {
      name,
      schema,
      store: url.toString(),
      transport: transport(schema),
      kind: "pg",
      effectsTable: `"${schema}".effects`,
      async effects() {
        return (
          await pool.query<EffectRow>(`SELECT event_id, order_id, attempt, batch FROM "${schema}".effects`)
        ).rows;
      },
      async unfinished() {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${schema}".ef_inbox WHERE status IN ('pending', 'in-flight')`,
        );
        return rows[0]?.n ?? 0;
      },
      async leftovers() {
        const { rows } = await pool.query<{
          inbox_leases: number;
          outbox_leases: number;
          outbox_unpublished: number;
        }>(
          `SELECT (SELECT count(*)::int FROM "${schema}".ef_inbox WHERE lease_token IS NOT NULL AND status NOT IN ('completed', 'dead')) AS inbox_leases,
                  (SELECT count(*)::int FROM "${schema}".ef_outbox WHERE lease_token IS NOT NULL AND published_at IS NULL) AS outbox_leases,
                  (SELECT count(*)::int FROM "${schema}".ef_outbox WHERE published_at IS NULL) AS outbox_unpublished`,
        );
        const r = rows[0];
        return {
          inboxLeases: r?.inbox_leases ?? -1,
          outboxLeases: r?.outbox_leases ?? -1,
          outboxUnpublished: r?.outbox_unpublished ?? -1,
        };
      },
      async close() {
        await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
        await pool.end();
        await dropTransport(schema);
      },
    };
  };
}

export const postgresStoreConfig = postgresConfig(
  "PostgreSQL + store:",
  () => "store:",
  async () => {},
);

/** A fresh id per scenario: lower-case, safe in SQL identifiers, stream names and key prefixes. */
export function scenarioId(): string {
  return randomBytes(4).toString("hex");
}

export { postgresConfig };

/** Worker processes of one scenario: spawn, kill, pause, and wait for them. */
export class Fleet {
  readonly #config: Config;
  readonly #env: Record<string, string>;
  readonly #children = new Set<ChildProcess>();
  readonly #nodeArgs: readonly string[];
  /** Exits seen, by signal or code. */
  readonly exits: string[] = [];
  /** The last 4 KB each worker wrote to stderr, in spawn order (also of workers that exited). */
  readonly #stderr: string[] = [];

  /** What the workers wrote to stderr lately (their logs with `EF_LOG` set), for a failure message. */
  logs(): string {
    return this.#stderr.map((tail, i) => `--- worker ${i + 1} stderr ---\n${tail || "(empty)"}`).join("\n");
  }

  /** `options.nodeArgs`: flags for node before the worker script (e.g. `--expose-gc`). */
  constructor(
    config: Config,
    env: Record<string, string> = {},
    options: { nodeArgs?: readonly string[] } = {},
  ) {
    this.#config = config;
    this.#env = env;
    this.#nodeArgs = options.nodeArgs ?? [];
  }

  get alive(): ChildProcess[] {
    return [...this.#children];
  }

  /** Starts a worker and resolves once it printed "ready" (rejects if it exits first or in 30 s). */
  spawn(extraEnv: Record<string, string> = {}): Promise<ChildProcess> {
    const child = spawn(process.execPath, [...this.#nodeArgs, WORKER], {
      env: {
        ...process.env,
        EF_STORE: this.#config.store,
        EF_TRANSPORT: this.#config.transport,
        EF_KIND: this.#config.kind,
        EF_EFFECTS: this.#config.effectsTable,
        ...this.#env,
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#children.add(child);
    let stderr = "";
    const slot = this.#stderr.push("") - 1;
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
      this.#stderr[slot] = stderr;
    });
    child.on("exit", (code, signal) => {
      this.#children.delete(child);
      this.exits.push(signal ?? `code ${code}`);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker not ready in 30 s\n${stderr}`)), 30_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker exited before ready (${signal ?? code})\n${stderr}`));
      });
    });
  }

  /** SIGKILL, and resolves once the process is gone. */
  kill(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }

  /** Stops every worker (SIGTERM, then SIGKILL after 10 s). */
  async stopAll(): Promise<void> {
    await Promise.all(
      this.alive.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => {
              child.kill("SIGCONT");
              child.kill("SIGKILL");
            }, 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill("SIGCONT");
            child.kill("SIGTERM");
          }),
      ),
    );
  }
}

/** A producer ferry (no handlers: it publishes, it does not join the group). */
export async function producer(config: Config): Promise<Eventferry> {
  return createEventferry({
    store: config.store,
    transport: config.transport,
    group: "reliability",
    logger: silentLogger,
  });
}

/**
 * Publishes `n` events (orderIds `o-0`…) in chunks, optionally pausing between chunks. Events are
 * keyed `customer-<i % keys>` (default 50 keys; `keys: 0` publishes them without a key).
 */
export async function publishOrders(
  ferry: Eventferry,
  n: number,
  options: { chunk?: number; pauseMs?: number; prefix?: string; keys?: number } = {},
): Promise<void> {
  const chunk = options.chunk ?? 500;
  for (let start = 0; start < n; start += chunk) {
    const items = [];
    for (let i = start; i < Math.min(n, start + chunk); i++) {
      items.push({
        event: OrderPlaced,
        data: { orderId: `${options.prefix ?? "o"}-${i}`, n: i },
        options: options.keys === 0 ? {} : { key: `customer-${i % (options.keys ?? 50)}` },
      });
    }
    await ferry.publishMany(items);
    if (options.pauseMs) await sleep(options.pauseMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 100 ms until it returns true; throws with `describe()` after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  describe: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
}

/** Counts per event id: how many events have exactly one effect, none are doubled. */
export function tally(rows: readonly EffectRow[]): { distinct: number; doubled: string[] } {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.event_id, (counts.get(r.event_id) ?? 0) + 1);
  const doubled = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  return { distinct: counts.size, doubled };
}

/**
 * The after-every-scenario check: exactly one effect per expected orderId (and no other effect),
 * no inbox entry pending or in flight, no lease held, nothing left in the outbox. Waits up to
 * `timeoutMs` for it, then asserts (the caller's `expect`).
 */
export async function settled(
  config: Config,
  expectedOrderIds: ReadonlySet<string>,
  timeoutMs: number,
): Promise<{ rows: EffectRow[]; byOrder: Map<string, number> }> {
  const count = (rows: readonly EffectRow[]): Map<string, number> => {
    const byOrder = new Map<string, number>();
    for (const r of rows) byOrder.set(r.order_id, (byOrder.get(r.order_id) ?? 0) + 1);
    return byOrder;
  };
  const done = async (): Promise<boolean> => {
    try {
      const byOrder = count(await config.effects());
      let have = 0;
      for (const id of expectedOrderIds) if (byOrder.has(id)) have++;
      if (have < expectedOrderIds.size) return false;
      const left = await config.leftovers();
      return (
        (await config.unfinished()) === 0 &&
        left.inboxLeases === 0 &&
        left.outboxLeases === 0 &&
        left.outboxUnpublished === 0
      );
    } catch {
      return false; // the test's own connection may be reconnecting
    }
  };
  await waitFor(done, timeoutMs, async () => {
    const byOrder = count(await config.effects());
    const missing = [...expectedOrderIds].filter((id) => !byOrder.has(id));
    return `${expectedOrderIds.size - missing.length}/${expectedOrderIds.size} events have an effect (missing e.g. ${missing
      .slice(0, 5)
      .join(
        ", ",
      )}), ${await config.unfinished()} unfinished, leftovers ${JSON.stringify(await config.leftovers())}`;
  });
  // Whatever is still in flight somewhere would show up now.
  await sleep(500);
  const rows = await config.effects();
  return { rows, byOrder: count(rows) };
}
