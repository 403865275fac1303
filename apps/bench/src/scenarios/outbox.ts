/**
 * The outbox (issue 8): N events added to the outbox in transactions of 1,000 on PostgreSQL while
 * a relay publishes them to the transport, timed until every row is published; beside a direct
 * `transport.publish` of the same batches ("raw" here means "without the outbox", the upper bound
 * a transactional publish is measured against).
 *
 * - `outbox.redis`  PostgreSQL outbox → Redis Streams
 * - `outbox.nats`   PostgreSQL outbox → NATS JetStream
 */
import { randomBytes } from "node:crypto";
import { type EventEnvelope, encodeEvent, silentLogger, type Transport } from "@eventferry/core";
import { createOutboxRelay, type OutboxRelay } from "@eventferry/outbox";
import { createPostgresStore, type PostgresStore } from "@eventferry/store-postgres";
import { createNatsTransport } from "@eventferry/transport-nats";
import { createRedisTransport } from "@eventferry/transport-redis";
import { chunks, makeEvents } from "../workload.js";
import { dropNatsStreams, dropRedisKeys, dropSchema, NATS_URL, REDIS_URL } from "./cleanup.js";
import { POSTGRES_URL } from "./postgres.js";
import { BATCH, type Run, type System, WARMUP } from "./scenario.js";

const TOPIC = "orders";
/** Rows the relay claims and publishes per round. */
const RELAY_BATCH = 1_000;

interface Target {
  transport: Transport;
  drop(): Promise<void>;
}

function redisTarget(): Target {
  const prefix = `bench-outbox-${randomBytes(3).toString("hex")}`;
  const transport = createRedisTransport({ url: REDIS_URL, prefix });
  return {
    transport,
    drop: () => dropRedisKeys(`${prefix}:*`),
  };
}

function natsTarget(): Target {
  const streamPrefix = `bench_outbox_${randomBytes(3).toString("hex")}`;
  const transport = createNatsTransport({ servers: NATS_URL, streamPrefix });
  return {
    transport,
    drop: () => dropNatsStreams(streamPrefix),
  };
}

function outboxRun(system: System, n: number, target: () => Target): Run {
  let t: Target | undefined;
  let store: PostgresStore | undefined;
  let relay: OutboxRelay | undefined;
  let schema = "";
  let events: EventEnvelope[] = [];
  const viaOutbox = async (list: readonly EventEnvelope[]) => {
    const s = store as PostgresStore;
    // Two writers, as two request handlers committing business transactions would.
    const batches = chunks(list, BATCH);
    const writer = async () => {
      for (let b = batches.shift(); b; b = batches.shift()) {
        const batch = b;
        await s.transaction((tx) => tx.outbox.add({ topic: TOPIC, events: batch }));
        relay?.wake();
      }
    };
    await Promise.all([writer(), writer()]);
    while ((await s.outbox.pending()) > 0) await new Promise((r) => setTimeout(r, 2));
  };
  const direct = async (list: readonly EventEnvelope[]) => {
    const transport = (t as Target).transport;
    for (const batch of chunks(list, BATCH))
      await transport.publish(
        TOPIC,
        batch.map((e) => encodeEvent(e)),
      );
  };
  return {
    async setup() {
      t = target();
      if (system === "eventferry") {
        schema = `bench_outbox_${process.pid}_${randomBytes(3).toString("hex")}`;
        store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 6, listen: true });
        await store.migrate();
        relay = createOutboxRelay({
          store,
          transport: t.transport,
          batchSize: RELAY_BATCH,
          // Two rounds in flight (the relay's default is 1, which keeps keyless rows in order);
          // BENCH_RELAY_CONCURRENCY overrides.
          concurrency: Number(process.env.BENCH_RELAY_CONCURRENCY ?? 2),
          // Published rows kept an hour (the default); BENCH_OUTBOX_RETENTION=0 deletes them as
          // they are published.
          ...(process.env.BENCH_OUTBOX_RETENTION === undefined
            ? {}
            : { retention: Number(process.env.BENCH_OUTBOX_RETENTION) }),
          pollInterval: 100,
          logger: silentLogger,
        });
        relay.start();
        await viaOutbox(makeEvents(WARMUP));
      } else {
        await direct(makeEvents(WARMUP));
      }
      events = makeEvents(n);
    },
    async run() {
      if (system === "eventferry") await viaOutbox(events);
      else await direct(events);
    },
    async teardown() {
      await relay?.stop();
      await t?.transport.close();
      await t?.drop();
      if (store) {
        await store.close();
        await dropSchema(schema);
      }
    },
  };
}

export function outboxRedis(system: System, n: number): Run {
  return outboxRun(system, n, redisTarget);
}

export function outboxNats(system: System, n: number): Run {
  return outboxRun(system, n, natsTarget);
}
