// Bad input fed to each transport directly (the reliability issue, part 3), between good events
// published through the front door: raw XADDs into the group's stream for Redis (the document
// style `data <json>` and the field-map style `ef-id … ef-fields 1 …`), raw JetStream publishes on
// the subject for NATS, raw rows in the queue table for `store:` on SQLite and PostgreSQL.
// Each bad message is dead-lettered with a reason (unknown event types are skipped: no handler of
// the group takes them), the worker stays alive, every good event has exactly one effect, and
// Object.prototype stays clean in the worker and here.
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import Database from "better-sqlite3";
import { type Eventferry, isEventferryError } from "eventferry";
import { Redis } from "ioredis";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Config,
  type ConfigFactory,
  Fleet,
  NATS_URL,
  OrderPlaced,
  POSTGRES_URL,
  postgresStoreConfig,
  producer,
  REDIS_URL,
  scenarioId,
  settled,
  sqliteStoreConfig,
  waitFor,
} from "./harness.js";
import { transportConfigs } from "./transport-configs.js";

const TOPIC = "events";
const GROUP = "reliability";
const MiB = 1024 * 1024;

/** One bad message: what it is, its bytes, and whether the group must dead-letter it. */
interface Bad {
  readonly label: string;
  readonly payload: string | Buffer;
  /** "dead": dead-lettered; "skip": acknowledged without a trace (no handler for its type). */
  readonly outcome: "dead" | "skip";
  /** The event id a dead letter carries when the envelope decoded but its data did not validate. */
  readonly eventId?: string;
}

const occurredAt = new Date().toISOString();
function doc(id: string, type: string, data: unknown): string {
  return JSON.stringify({ id, type, occurredAt, data });
}

/** A document with `inner` spliced in as the value of data.deep (raw text: JSON.stringify would refuse or drop it). */
function docWithRaw(id: string, inner: string): string {
  return `{"id":"${id}","type":"order.placed","occurredAt":"${occurredAt}","data":{"orderId":"${id}","n":1,"deep":${inner}}}`;
}

/** The corpus of string/bytes payloads; `big` false leaves out what a transport cannot carry. */
function corpus(tag: string, options: { big: boolean; binary: "bytes" | "text"; nul: boolean }): Bad[] {
  const good = doc(`${tag}-trunc`, "order.placed", { orderId: `${tag}-trunc`, n: 1 });
  const garbage = randomBytes(512);
  const out: Bad[] = [
    { label: "invalid JSON", payload: `{"id": "${tag}-inv", "type": order.placed, }`, outcome: "dead" },
    { label: "truncated JSON", payload: good.slice(0, Math.floor(good.length / 2)), outcome: "dead" },
    {
      label: "schema violation (data)",
      payload: doc(`${tag}-schema`, "order.placed", { orderId: 42, n: "seven" }),
      outcome: "dead",
      eventId: `${tag}-schema`,
    },
    {
      label: "envelope of wrong types",
      payload: JSON.stringify({ id: 7, type: ["order.placed"], occurredAt: "yesterday", data: null }),
      outcome: "dead",
    },
    { label: "not an object", payload: "[1,2,3]", outcome: "dead" },
    {
      label: "deeply nested (10k levels)",
      payload: docWithRaw(`${tag}-deep`, `${"[".repeat(10_000)}${"]".repeat(10_000)}`),
      outcome: "dead",
    },
    {
      label: "__proto__ key",
      payload: docWithRaw(`${tag}-proto`, '{"__proto__":{"polluted":"yes"}}'),
      outcome: "dead",
    },
    {
      label: "constructor.prototype keys",
      payload: docWithRaw(`${tag}-ctor`, '{"constructor":{"prototype":{"polluted":"yes"}}}'),
      outcome: "dead",
    },
    {
      label: "unknown event type",
      payload: doc(`${tag}-unknown`, "order.unknown", { orderId: `${tag}-unknown`, n: 1 }),
      outcome: "skip",
    },
    {
      label: "U+0000 inside a JSON string",
      payload: docWithRaw(`${tag}-nul`, '{"orderId":"a\\u0000b","n":1}'),
      outcome: "dead",
    },
    {
      label: "binary garbage",
      // With NUL bytes, except where the queue itself is a PostgreSQL text column (the store:
      // transport on PostgreSQL), which cannot hold one: no producer can put it there.
      payload: ((bytes: Buffer) => (options.binary === "bytes" ? bytes : bytes.toString("latin1")))(
        options.nul ? garbage : Buffer.from(garbage.map((b) => (b === 0 ? 1 : b))),
      ),
      outcome: "dead",
    },
    { label: "empty", payload: "", outcome: "dead" },
  ];
  if (options.big) {
    out.push({
      label: "huge (2 MiB)",
      payload: doc(`${tag}-huge`, "order.placed", { orderId: "x".repeat(2 * MiB), n: 1 }),
      outcome: "dead",
    });
  }
  return out;
}

interface Injector {
  /** Feeds one bad message into the group's queue, as a foreign producer would. */
  inject(bad: Bad): Promise<void>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Asks a worker whether Object.prototype gained properties (fixtures/worker.mjs, SIGUSR2). */
function probePrototype(child: ChildProcess): Promise<{ extra: string[]; polluted: unknown }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the worker did not answer SIGUSR2 in 10 s")), 10_000);
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n").find((l) => l.startsWith("proto "));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      resolve(JSON.parse(line.slice("proto ".length)));
    };
    child.stdout?.on("data", onData);
    child.kill("SIGUSR2");
  });
}

async function publishGood(ferry: Eventferry, tag: string, from: number, n: number): Promise<string[]> {
  const items = [];
  for (let i = from; i < from + n; i++) {
    items.push({
      event: OrderPlaced,
      data: { orderId: `${tag}-good-${i}`, n: i },
      options: { key: `customer-${i % 7}` },
    });
  }
  await ferry.publishMany(items);
  return items.map((item) => item.data.orderId);
}

/**
 * Runs one transport's scenario: a worker, 200 good events in ten chunks with the bad messages
 * between them, then the checks.
 */
async function run(factory: ConfigFactory, bads: Bad[], makeInjector: (config: Config) => Promise<Injector>) {
  const config = await factory(scenarioId());
  const fleet = new Fleet(config, { EF_LEASE: "3000" });
  const ferry = await producer(config);
  cleanups.push(async () => {
    await fleet.stopAll();
    await ferry.stop({ timeout: 2_000 });
    await config.close();
  });
  const worker = await fleet.spawn();
  const injector = await makeInjector(config);
  cleanups.push(() => injector.close());
  const tag = scenarioId();
  const good: string[] = [];
  const chunks = 10;
  for (let c = 0; c < chunks; c++) {
    good.push(...(await publishGood(ferry, tag, c * 20, 20)));
    for (let b = c; b < bads.length; b += chunks) await injector.inject(bads[b] as Bad);
  }
  // A last chunk of good events behind the last bad message.
  good.push(...(await publishGood(ferry, tag, chunks * 20, 20)));
  const expected = new Set(good);
  const { rows, byOrder } = await settled(config, expected, 60_000);
  const mustDie = bads.filter((b) => b.outcome === "dead");
  const deadLetters = async () =>
    (await ferry.deadLetters.list({ limit: 500 })).filter((d) => d.consumer === GROUP);
  await waitFor(
    async () => (await deadLetters()).length >= mustDie.length,
    20_000,
    async () => `${(await deadLetters()).length}/${mustDie.length} dead letters`,
  ).catch(() => {}); // the count is asserted below, with the list
  const dead = await deadLetters();
  const summary = dead.map((d) => ({
    reason: d.reason,
    event: d.event?.id,
    raw: d.raw === undefined ? undefined : d.raw.slice(0, 60),
  }));
  // Every good event exactly once, and nothing else had an effect.
  expect([...byOrder].filter(([, n]) => n > 1)).toEqual([]);
  expect(rows).toHaveLength(good.length);
  expect(rows.every((r) => expected.has(r.order_id))).toBe(true);
  // Each bad message is one dead letter with a reason; the schema violation keeps its event.
  expect(dead.length, JSON.stringify(summary, null, 1)).toBe(mustDie.length);
  for (const d of dead) expect(typeof d.reason === "string" && d.reason.length > 0).toBe(true);
  const withEvent = mustDie.filter((b) => b.eventId !== undefined).map((b) => b.eventId);
  expect(
    dead
      .map((d) => d.event?.id)
      .filter((id) => withEvent.includes(id))
      .sort(),
  ).toEqual(withEvent.sort());
  // The worker lived through all of it, and neither it nor this process was polluted.
  expect(fleet.exits).toEqual([]);
  expect(await probePrototype(worker)).toEqual({ extra: [], polluted: null });
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(await config.unfinished()).toBe(0);
  expect(await config.leftovers()).toEqual({ inboxLeases: 0, outboxLeases: 0, outboxUnpublished: 0 });
  return { dead, summary };
}

/** Rows in the `store:` queue table, for every group of the topic, as the store transport writes them. */
function storeInjector(kind: "sqlite" | "pg") {
  return async (config: Config): Promise<Injector> => {
    let n = 0;
    const nextId = () => `raw-${Date.now()}-${n++}`;
    if (kind === "sqlite") {
      const file = config.store.replace(/^sqlite:/, "").replace(/\?.*$/, "");
      const db = new Database(file);
      db.pragma("busy_timeout = 10000");
      const insert = db.prepare(
        "INSERT INTO eventferry_transport_messages (topic, grp, event_id, type, key, payload, payload_is_map, due_ms) VALUES (?, ?, ?, '', NULL, ?, 0, ?)",
      );
      return {
        async inject(bad) {
          const text = typeof bad.payload === "string" ? bad.payload : bad.payload.toString("latin1");
          insert.run(TOPIC, GROUP, nextId(), text, Date.now());
        },
        async close() {
          db.close();
        },
      };
    }
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    const table = `"${config.schema}".ef_transport_messages`;
    // The store's NOTIFY channel: eventferry_ + sha1(schema NUL tablePrefix), 12 hex digits.
    const channel = `eventferry_${createHash("sha1").update(`${config.schema}\u0000ef_`).digest("hex").slice(0, 12)}`;
    return {
      async inject(bad) {
        const text = typeof bad.payload === "string" ? bad.payload : bad.payload.toString("latin1");
        await pool.query(
          `INSERT INTO ${table} (topic, grp, event_id, type, key, payload, fields) VALUES ($1, $2, $3, '', NULL, $4, false)`,
          [TOPIC, GROUP, nextId(), text],
        );
        // Wakes LISTENing subscribers, as the store transport's publish does (else they poll).
        await pool.query(`NOTIFY "${channel}"`);
      },
      async close() {
        await pool.end();
      },
    };
  };
}

describe("bad input through each transport: dead-lettered with a reason, good events once each", () => {
  it("SQLite + store: raw queue rows", async () => {
    const bads = corpus("sq", { big: true, binary: "text", nul: true });
    await run(sqliteStoreConfig, bads, storeInjector("sqlite"));
  });

  it("PostgreSQL + store: raw queue rows", async () => {
    const bads = corpus("pq", { big: true, binary: "text", nul: false });
    await run(postgresStoreConfig, bads, storeInjector("pg"));
  });

  it("PostgreSQL + Redis: raw XADDs in both payload styles and foreign entries", async () => {
    const documentStyle = corpus("rd", { big: true, binary: "bytes", nul: true });
    const t = occurredAt;
    // Field-map style: our own markers (ef-id, ef-type, ef-fields) around a map of strings.
    const fieldStyle: Array<{ label: string; fields: string[]; outcome: "dead" | "skip"; eventId?: string }> =
      [
        {
          label: "fields: data is invalid JSON",
          fields: [
            "ef-id",
            "rf-inv",
            "ef-type",
            "order.placed",
            "ef-fields",
            "1",
            "id",
            "rf-inv",
            "type",
            "order.placed",
            "occurredAt",
            t,
            "data",
            "{nope",
          ],
          outcome: "dead",
        },
        {
          label: "fields: schema violation",
          fields: [
            "ef-id",
            "rf-schema",
            "ef-type",
            "order.placed",
            "ef-fields",
            "1",
            "id",
            "rf-schema",
            "type",
            "order.placed",
            "occurredAt",
            t,
            "data",
            '{"orderId":1}',
          ],
          outcome: "dead",
          eventId: "rf-schema",
        },
        {
          label: "fields: a field named __proto__",
          fields: [
            "ef-id",
            "rf-proto",
            "ef-type",
            "order.placed",
            "ef-fields",
            "1",
            "__proto__",
            '{"polluted":"yes"}',
            "id",
            "rf-proto",
            "type",
            "order.placed",
            "occurredAt",
            t,
            "data",
            '{"orderId":"rf-proto","n":1}',
          ],
          outcome: "dead",
        },
        {
          label: "fields: data deeply nested",
          fields: [
            "ef-id",
            "rf-deep",
            "ef-type",
            "order.placed",
            "ef-fields",
            "1",
            "id",
            "rf-deep",
            "type",
            "order.placed",
            "occurredAt",
            t,
            "data",
            `{"orderId":"rf-deep","n":1,"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
          ],
          outcome: "dead",
        },
        {
          label: "fields: empty map",
          fields: ["ef-id", "rf-empty", "ef-type", "order.placed", "ef-fields", "1"],
          outcome: "dead",
        },
        {
          label: "foreign entry without event fields",
          fields: ["foo", "bar"],
          outcome: "dead",
        },
        {
          label: "foreign flat fields of wrong types",
          fields: ["event_id", "", "event_type", "order.placed", "payload", "not json"],
          outcome: "dead",
        },
      ];
    const bads: Bad[] = [
      ...documentStyle,
      ...fieldStyle.map((f, i) => ({
        label: f.label,
        payload: `#fields:${i}`,
        outcome: f.outcome,
        ...(f.eventId ? { eventId: f.eventId } : {}),
      })),
    ];
    const factory = transportConfigs[0]?.[1] as ConfigFactory;
    await run(factory, bads, async (config) => {
      const redis = new Redis(REDIS_URL);
      const prefix = new URL(config.transport).searchParams.get("prefix");
      const stream = `${prefix}:{${TOPIC}}`;
      return {
        async inject(bad) {
          const m = typeof bad.payload === "string" ? /^#fields:(\d+)$/.exec(bad.payload) : null;
          if (m) await redis.call("XADD", stream, "*", ...(fieldStyle[Number(m[1])]?.fields ?? []));
          else await redis.xadd(stream, "*", "data", bad.payload);
        },
        async close() {
          redis.disconnect();
        },
      };
    });
  });

  it("PostgreSQL + NATS: raw JetStream publishes on the subject", async () => {
    // nats-server's max_payload is 1 MiB: a 2 MiB message cannot reach the stream.
    const bads = corpus("nt", { big: false, binary: "bytes", nul: true });
    // With our type header and the field-map format header, but a body that is no map.
    bads.push({ label: "fields header, body not JSON", payload: "#fields-header", outcome: "dead" });
    const factory = transportConfigs[1]?.[1] as ConfigFactory;
    await run(factory, bads, async (config) => {
      const nc = await connect({ servers: NATS_URL });
      const js = jetstream(nc);
      const prefix = new URL(config.transport.replace(/^nats:/, "http:")).searchParams.get("streamPrefix");
      const subject = `${prefix}.${TOPIC}`;
      return {
        async inject(bad) {
          if (bad.payload === "#fields-header") {
            const h = natsHeaders();
            h.set("Eventferry-Type", "order.placed");
            h.set("Eventferry-Payload-Format", "fields");
            await js.publish(subject, new TextEncoder().encode("{not a map"), { headers: h });
            return;
          }
          const data = typeof bad.payload === "string" ? new TextEncoder().encode(bad.payload) : bad.payload;
          await js.publish(subject, data);
        },
        async close() {
          await nc.close();
        },
      };
    });
  });

  it("the producer's own API refuses bad payloads with a ValidationError (nothing reaches the store)", async () => {
    const config = await postgresStoreConfig(scenarioId());
    const ferry = await producer(config);
    cleanups.push(async () => {
      await ferry.stop({ timeout: 2_000 });
      await config.close();
    });
    const attempts: Array<[string, unknown]> = [
      ["wrong types", { orderId: 42, n: "seven" }],
      ["missing field", { orderId: "x" }],
    ];
    const codes: string[] = [];
    for (const [label, data] of attempts) {
      try {
        await ferry.publish(OrderPlaced, data as { orderId: string; n: number });
        codes.push(`${label}: accepted`);
      } catch (error) {
        codes.push(`${label}: ${isEventferryError(error) ? error.code : String(error)}`);
      }
    }
    expect(
      codes.every((c) => !c.endsWith("accepted")),
      codes.join("; "),
    ).toBe(true);
    const { rows } = await (async () => {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
      try {
        return await pool.query(`SELECT count(*)::int AS n FROM "${config.schema}".ef_events`);
      } finally {
        await pool.end();
      }
    })();
    expect(rows[0]?.n).toBe(0);
  });
});
