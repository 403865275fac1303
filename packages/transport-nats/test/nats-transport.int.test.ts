import {
  ConfigError,
  type Delivery,
  type EncodedEvent,
  isEventferryError,
  PublishError,
} from "@eventferry/core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createNatsTransport, type NatsTransport, type NatsTransportOptions } from "../src/index.js";
import {
  adminConnection,
  available,
  deleteStream,
  NATS_SERVERS,
  streamExists,
  uniquePrefix,
} from "./setup.js";

let admin: NatsConnection;
const cleanups: Array<() => Promise<unknown>> = [];

function transport(label: string, options: NatsTransportOptions = {}): NatsTransport {
  const t = createNatsTransport({ servers: NATS_SERVERS, streamPrefix: uniquePrefix(label), ...options });
  cleanups.push(async () => {
    await t.close();
    await deleteStream(admin, t.stream);
  });
  return t;
}

function events(count: number, prefix: string): EncodedEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i}`,
    type: "test.happened",
    payload: `{"i":${i}}`,
  }));
}

/**
 * Reads deliveries one by one with timeouts; a read that timed out stays pending and serves the
 * next call, so no delivery is lost between reads.
 */
class Reader {
  readonly #iterator: AsyncIterator<Delivery>;
  #pending: Promise<IteratorResult<Delivery>> | undefined;

  constructor(source: AsyncIterable<Delivery>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  async #read(ms: number): Promise<Delivery | undefined> {
    this.#pending ??= this.#iterator.next();
    const pending = this.#pending;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([
      pending,
      new Promise<"quiet">((resolve) => {
        timer = setTimeout(() => resolve("quiet"), ms);
      }),
    ]).finally(() => clearTimeout(timer));
    if (result === "quiet") return undefined;
    this.#pending = undefined;
    if (result.done) throw new Error("iteration ended");
    return result.value;
  }

  /** The next delivery; rejects when none arrives within `ms`. */
  async next(ms = 10_000): Promise<Delivery> {
    const delivery = await this.#read(ms);
    if (delivery === undefined) throw new Error(`no delivery within ${ms} ms`);
    return delivery;
  }

  /** `undefined` when nothing arrives within `ms`, else what arrived. */
  nothingWithin(ms: number): Promise<Delivery | undefined> {
    return this.#read(ms);
  }
}

describe.runIf(available)("nats transport", () => {
  beforeAll(async () => {
    admin = await adminConnection();
  });
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });
  afterAll(() => admin.close());

  it("drops a re-published event id within the duplicate window (Nats-Msg-Id)", async () => {
    const t = transport("dedupe");
    const sub = await t.subscribe("orders", { group: "g" });
    const [event] = events(1, "dup");
    await t.publish("orders", [event!]);
    await t.publish("orders", [event!]);
    await t.publish("orders", [{ ...event!, payload: '{"i":"changed"}' }]);
    const iterator = new Reader(sub);
    const first = await iterator.next();
    expect(first.event.id).toBe(event!.id);
    expect(first.event.payload).toBe(event!.payload);
    await first.ack();
    expect(await iterator.nothingWithin(700), "the duplicate was delivered").toBeUndefined();
    const info = await (await jetstreamManager(admin)).streams.info(t.stream);
    expect(info.state.messages).toBe(1);
    await sub.close();
  });

  it("honours the nak delay: not before, soon after", async () => {
    const t = transport("nakdelay");
    const sub = await t.subscribe("orders", { group: "g", ackTimeoutMs: 60_000 });
    await t.publish("orders", events(1, "nak"));
    const iterator = new Reader(sub);
    const first = await iterator.next();
    const nackedAt = performance.now();
    await first.nack({ delayMs: 1_500 });
    expect(await iterator.nothingWithin(1_300), "redelivered before the delay").toBeUndefined();
    const again = await iterator.next(5_000);
    const elapsed = performance.now() - nackedAt;
    expect(again.event.id).toBe(first.event.id);
    expect(again.attempt).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(1_450);
    expect(elapsed).toBeLessThan(4_000);
    await again.ack();
    await sub.close();
  });

  it("redelivers an un-acked message after the ack wait with attempt 2, to the same live subscriber", async () => {
    const t = transport("ackwait");
    const sub = await t.subscribe("orders", { group: "g", ackTimeoutMs: 1_000 });
    await t.publish("orders", events(1, "aw"));
    const iterator = new Reader(sub);
    const first = await iterator.next();
    expect(first.attempt).toBe(1);
    const takenAt = performance.now();
    const again = await iterator.next(5_000);
    expect(performance.now() - takenAt).toBeGreaterThanOrEqual(900);
    expect(again.event.id).toBe(first.event.id);
    expect(again.attempt).toBe(2);
    expect(again.transportId).toBe(first.transportId);
    await again.ack();
    expect(await iterator.nothingWithin(1_500), "acked message came back").toBeUndefined();
    await sub.close();
  });

  it("term() stops redelivery of a poison message", async () => {
    const t = transport("term");
    const sub = await t.subscribe("orders", { group: "g", ackTimeoutMs: 1_000 });
    await t.publish("orders", events(2, "tm"));
    const iterator = new Reader(sub);
    const poison = (await iterator.next()) as Delivery & { term(reason?: string): Promise<void> };
    await poison.term("poison");
    const good = await iterator.next();
    expect(good.event.id).toBe("tm-1");
    await good.ack();
    const back = await iterator.nothingWithin(1_800);
    expect(back && `${back.event.id}@${back.attempt}`, "a termed message came back").toBeUndefined();
    await sub.close();
  });

  it("subscribes on topic patterns: * is one segment", async () => {
    const t = transport("pattern");
    const sub = await t.subscribe("orders.*", { group: "audit" });
    await t.publish("orders.created", events(1, "created"));
    await t.publish("orders.item.added", events(1, "deep"));
    await t.publish("payments.settled", events(1, "other"));
    await t.publish("orders.paid", events(1, "paid"));
    const iterator = new Reader(sub);
    const got = [(await iterator.next()).event.id, (await iterator.next()).event.id];
    expect(got).toEqual(["created-0", "paid-0"]);
    expect(await iterator.nothingWithin(500)).toBeUndefined();
    await sub.close();
  });

  it("gates a trailing ** pattern on the server version (needs 2.10 for several filter subjects)", async () => {
    const t = transport("globstar");
    const features = await t.serverFeatures();
    if (!features.multiFilterConsumers) {
      const error = await t.subscribe("orders.**", { group: "audit" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/2\.10\.0/);
      // `**` alone maps to one subject (`<prefix>.>`) and works on any server.
      const all = await t.subscribe("**", { group: "everything" });
      await t.publish("a.b.c", events(1, "deep"));
      expect((await new Reader(all).next()).event.id).toBe("deep-0");
      await all.close();
    } else {
      const sub = await t.subscribe("orders.**", { group: "audit" });
      await t.publish("orders", events(1, "root"));
      await t.publish("orders.item.added", events(1, "deep"));
      const iterator = new Reader(sub);
      expect([(await iterator.next()).event.id, (await iterator.next()).event.id]).toEqual([
        "root-0",
        "deep-0",
      ]);
      await sub.close();
    }
  });

  it("rejects stream compression on a server older than 2.10 with a ConfigError", async () => {
    const t = transport("compress", { compression: "s2" });
    if ((await t.serverFeatures()).streamCompression) {
      await t.publish("x", events(1, "c"));
      const info = await (await jetstreamManager(admin)).streams.info(t.stream);
      expect(info.config.compression).toBe("s2");
      return;
    }
    const error = await t.publish("x", events(1, "c")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).cause).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/compression.*2\.10\.0.*2\.9/);
    expect(await streamExists(admin, t.stream)).toBe(false);
  });

  it("reports a failed publish per event: only the oversize one fails, the others are delivered", async () => {
    const t = transport("perevent");
    const sub = await t.subscribe("orders", { group: "g" });
    const batch = events(3, "pe");
    const big: EncodedEvent = { id: "pe-big", type: "test.happened", payload: "x".repeat(2 * 1024 * 1024) };
    const error = await t.publish("orders", [batch[0]!, big, batch[1]!, batch[2]!]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).failedIds).toEqual(["pe-big"]);
    const iterator = new Reader(sub);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await iterator.next();
      got.push(d.event.id);
      await d.ack();
    }
    expect(got).toEqual(["pe-0", "pe-1", "pe-2"]);
    await sub.close();
  });

  it("round-trips ids, types and keys a header cannot hold as is (line breaks, surrounding spaces)", async () => {
    const t = transport("oddheaders");
    const sub = await t.subscribe("orders", { group: "g" });
    const odd: EncodedEvent[] = [
      { id: " spaced id ", type: "line\nbreak", key: "\r\nkey with CRLF ", payload: "{}" },
      { id: "id%20literal", type: "t", key: "ünïcødé 🔑", payload: "{}" },
    ];
    await t.publish("orders", odd);
    await t.publish("orders", [odd[0]!]); // still de-duplicated by its (encoded) id
    const iterator = new Reader(sub);
    const got = [await iterator.next(), await iterator.next()];
    expect(got.map((d) => d.event)).toEqual(odd);
    for (const d of got) await d.ack();
    expect(await iterator.nothingWithin(500)).toBeUndefined();
    await sub.close();
  });

  it("hands out what arrived together as one batch (not one delivery at a time)", async () => {
    const t = transport("batching", { storage: "memory" });
    const sub = await t.subscribe("orders", { group: "g", batchSize: 500 });
    await t.publish("orders", events(3_000, "b"));
    const sizes: number[] = [];
    let got = 0;
    for await (const batch of sub.batches()) {
      sizes.push(batch.length);
      got += batch.length;
      await sub.ackMany(batch);
      if (got >= 3_000) break;
    }
    expect(got).toBe(3_000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(500);
    expect(got / sizes.length, `batch sizes ${sizes.join(",")}`).toBeGreaterThan(50);
    await sub.close();
  });

  it("round-trips a field-map payload and keeps an absent key absent", async () => {
    const t = transport("fields");
    const sub = await t.subscribe("orders", { group: "g" });
    const fields = { event_id: "f-1", event_type: "order.created", payload: '{"a":1}' };
    await t.publish("orders", [{ id: "f-1", type: "order.created", key: "k-1", payload: fields }]);
    await t.publish("orders", [{ id: "f-2", type: "order.created", payload: "{}" }]);
    const iterator = new Reader(sub);
    const first = await iterator.next();
    expect(first.event).toEqual({ id: "f-1", type: "order.created", key: "k-1", payload: fields });
    const second = await iterator.next();
    expect("key" in second.event).toBe(false);
    await sub.close();
  });

  it("provisions idempotently: a second transport on the prefix updates limits, a storage mismatch is a ConfigError", async () => {
    const prefix = uniquePrefix("prov");
    const a = createNatsTransport({
      servers: NATS_SERVERS,
      streamPrefix: prefix,
      maxAge: "1h",
      maxMsgs: 1000,
    });
    const b = createNatsTransport({
      servers: NATS_SERVERS,
      streamPrefix: prefix,
      maxAge: "2h",
      maxMsgs: 1000,
    });
    const c = createNatsTransport({ servers: NATS_SERVERS, streamPrefix: prefix, storage: "memory" });
    cleanups.push(async () => {
      await Promise.all([a.close(), b.close(), c.close()]);
      await deleteStream(admin, prefix);
    });
    const [infoA, infoA2] = await Promise.all([a.ready(), a.ready()]);
    expect(infoA.config.storage).toBe("file");
    expect(infoA2.config.name).toBe(prefix);
    expect(infoA.config.max_age).toBe(3_600 * 1e9);
    expect(infoA.config.subjects).toEqual([`${prefix}.>`]);
    expect(infoA.config.duplicate_window).toBe(120 * 1e9);
    const infoB = await b.ready();
    expect(infoB.config.max_age).toBe(7_200 * 1e9);
    const error = await c.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/storage cannot change/);
  });

  it("never closes a connection it was given", async () => {
    const own = await adminConnection();
    const prefix = uniquePrefix("own");
    const t = createNatsTransport({ connection: own, streamPrefix: prefix });
    const sub = await t.subscribe("orders", { group: "g" });
    await t.publish("orders", events(2, "own"));
    const iterator = new Reader(sub);
    await (await iterator.next()).ack();
    await t.close();
    expect(own.isClosed()).toBe(false);
    await own.flush();
    await deleteStream(own, prefix);
    await own.close();
  });

  it("health(): connection, RTT, server version, account info and the stream's storage", async () => {
    const t = transport("health");
    const before = await t.health();
    expect(before.status).toBe("healthy");
    expect(before.details?.streams).toEqual([]);
    await t.publish("orders", events(3, "h"));
    const report = await t.health();
    expect(report.status).toBe("healthy");
    expect(report.component).toBe("transport-nats");
    const details = report.details as {
      connected: boolean;
      rttMs: number;
      server: { version: string; jetstream: boolean };
      account: { streams: number };
      streams: Array<Record<string, unknown>>;
      gatedFeatures: Record<string, boolean>;
    };
    expect(details.connected).toBe(true);
    expect(typeof details.rttMs).toBe("number");
    expect(details.server.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(details.server.jetstream).toBe(true);
    expect(details.account.streams).toBeGreaterThanOrEqual(1);
    expect(details.streams[0]).toMatchObject({ name: t.stream, storage: "file", messages: 3 });
    expect(typeof details.gatedFeatures.multiFilterConsumers).toBe("boolean");
    await t.close();
    expect((await t.health()).status).toBe("unhealthy");
  });

  it("health() of an unreachable server is unhealthy, not a rejection", async () => {
    const t = createNatsTransport({
      servers: "nats://127.0.0.1:1",
      streamPrefix: uniquePrefix("down"),
      connectTimeout: 500,
    });
    const report = await t.health();
    expect(report.status).toBe("unhealthy");
    expect(report.reasons.join(" ")).toMatch(/connect/);
    const error = await t.publish("x", events(1, "d")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).retryable).toBe(true);
    expect(isEventferryError((error as PublishError).cause)).toBe(true);
    expect(((error as PublishError).cause as { code: string }).code).toBe("CONNECTION_FAILED");
    await t.close();
  });

  it("publishes with a bounded window: 5,000 events with maxPendingPublishes 50 all arrive in order", async () => {
    const t = transport("window", { maxPendingPublishes: 50 });
    const sub = await t.subscribe("orders", { group: "g", batchSize: 500 });
    const sent = events(5_000, "w");
    await t.publish("orders", sent);
    const got: string[] = [];
    for await (const batch of sub.batches()) {
      for (const d of batch) got.push(d.event.id);
      await sub.ackMany(batch);
      if (got.length >= sent.length) break;
    }
    expect(got).toEqual(sent.map((e) => e.id));
    const js = jetstream(admin);
    const info = await (
      await js.consumers.get(
        t.stream,
        (
          await (await jetstreamManager(admin)).consumers.list(t.stream).next()
        )[0]!.name,
      )
    ).info();
    await new Promise((r) => setTimeout(r, 200));
    expect(info.num_pending).toBe(0);
    await sub.close();
  });
});
