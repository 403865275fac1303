import { randomBytes } from "node:crypto";
import { type EncodedEvent, encodeEvent, type Subscription } from "@eventferry/core";
import { createNatsTransport, type NatsTransport } from "@eventferry/transport-nats";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { chunks, makeEvents } from "../workload.js";
import { BATCH, type Run, type System, WARMUP } from "./scenario.js";

/** The server every NATS scenario uses; each run makes and deletes its own stream there. */
export const NATS_URL = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
/** PubAcks awaited at once, both sides (the transport's default `maxPendingPublishes`). */
export const PUBLISH_WINDOW = 1_000;
/** Messages per pull: `subscribe({ batchSize })` on the Eventferry side, `consume({ max_messages })` raw. */
export const CONSUME_BATCH = 500;
/** `max_ack_pending` of the durable consumer, both sides. */
export const MAX_ACK_PENDING = 20_000;
const TOPIC = "orders";
const GROUP = "bench";

/** The encoded events of a run (JSON wire documents, as `encodeEvent` writes them), made before timing. */
function encoded(n: number): EncodedEvent[] {
  return makeEvents(n).map((envelope) => encodeEvent(envelope));
}

/** A stream name (and subject prefix) unique to this run. */
function streamName(): string {
  return `bench-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** The stream the transport provisions (file storage, limits retention, 2 min duplicate window), made by hand for the raw side. */
async function addRawStream(jsm: JetStreamManager, name: string): Promise<void> {
  await jsm.streams.add({
    name,
    subjects: [`${name}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(7 * 24 * 3_600_000),
    duplicate_window: nanos(120_000),
  });
}

/** js.publish of every event with `msgID` (dedupe on), keeping at most `window` PubAcks in flight (a sliding window). */
async function rawPublish(
  js: JetStreamClient,
  subject: string,
  events: readonly EncodedEvent[],
  window: number,
): Promise<void> {
  const encoder = new TextEncoder();
  let inFlight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const done = (): void => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };
  for (const event of events) {
    while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
    inFlight++;
    js.publish(subject, encoder.encode(event.payload as string), { msgID: event.id }).then(
      done,
      (error: unknown) => {
        failure ??= error;
        done();
      },
    );
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  if (failure !== undefined) throw failure;
}

interface NatsContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  transport?: NatsTransport;
}

async function openContext(system: System): Promise<NatsContext> {
  // noAsyncTraces: the client setting the transport uses (no Error objects built per request).
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = streamName();
  const ctx: NatsContext = { nc, js, jsm, stream };
  if (system === "eventferry") {
    ctx.transport = createNatsTransport({
      servers: NATS_URL,
      streamPrefix: stream,
      storage: "file",
      maxPendingPublishes: PUBLISH_WINDOW,
      maxAckPending: MAX_ACK_PENDING,
    });
    await ctx.transport.ready();
  } else {
    await addRawStream(jsm, stream);
  }
  return ctx;
}

async function closeContext(ctx: NatsContext): Promise<void> {
  await ctx.transport?.close();
  await ctx.jsm.streams.delete(ctx.stream).catch(() => false);
  await ctx.nc.close();
}

/**
 * `nats.publish`: `transport.publish` of N encoded events in calls of 1,000 (two calls in flight;
 * at most 1,000 PubAcks awaited, the transport's shared window) vs `js.publish` with `msgID` and
 * a sliding window of 1,000 PubAcks, same client, same stream settings.
 */
export function natsPublish(system: System, n: number): Run {
  let ctx: NatsContext | undefined;
  let events: EncodedEvent[] = [];
  let publishAll: (batch: readonly EncodedEvent[]) => Promise<void> = async () => {};
  return {
    async setup() {
      events = encoded(n);
      const c = await openContext(system);
      ctx = c;
      const transport = c.transport;
      const subject = `${c.stream}.${TOPIC}`;
      if (transport) {
        publishAll = async (all) => {
          const batches = chunks(all, BATCH);
          let next = 0;
          const lane = async (): Promise<void> => {
            while (next < batches.length) await transport.publish(TOPIC, batches[next++] as EncodedEvent[]);
          };
          await Promise.all([lane(), lane()]);
        };
      } else {
        publishAll = (all) => rawPublish(c.js, subject, all, PUBLISH_WINDOW);
      }
      await publishAll(encoded(WARMUP));
    },
    async run() {
      await publishAll(events);
    },
    async teardown() {
      const c = ctx as NatsContext;
      const info = await c.jsm.streams.info(c.stream);
      if (info.state.messages !== n + WARMUP) {
        throw new Error(`stream ${c.stream} holds ${info.state.messages} messages, expected ${n + WARMUP}`);
      }
      await closeContext(c);
    },
  };
}

/**
 * `nats.consume`: N events pre-published (untimed), then consumed and acked from a durable pull
 * consumer: `subscription.batches()` + `ackMany` (batchSize 500) vs `consume({ max_messages: 500 })`
 * with `m.ack()` each. Timed until the N-th message is received and acked; teardown checks that
 * the consumer has nothing pending and nothing awaiting an ack.
 */
export function natsConsume(system: System, n: number): Run {
  let ctx: NatsContext | undefined;
  let consumeN: (count: number, topic: string) => Promise<void> = async () => {};
  let durable = "";
  let subscription: Subscription | undefined;
  return {
    async setup() {
      const c = await openContext(system);
      ctx = c;
      await rawPublish(c.js, `${c.stream}.warmup`, encoded(WARMUP), PUBLISH_WINDOW);
      await rawPublish(c.js, `${c.stream}.${TOPIC}`, encoded(n), PUBLISH_WINDOW);
      const transport = c.transport;
      if (transport) {
        consumeN = async (count, topic) => {
          const sub = await transport.subscribe(topic, {
            group: GROUP,
            batchSize: CONSUME_BATCH,
            ackTimeoutMs: 60_000,
          });
          if (topic === TOPIC) subscription = sub;
          let received = 0;
          for await (const batch of sub.batches()) {
            received += batch.length;
            await sub.ackMany(batch);
            if (received >= count) break;
          }
          if (topic !== TOPIC) await sub.close();
        };
      } else {
        consumeN = async (count, topic) => {
          const name = `${GROUP}-${topic}`;
          if (topic === TOPIC) durable = name;
          await c.jsm.consumers.add(c.stream, {
            durable_name: name,
            ack_policy: AckPolicy.Explicit,
            ack_wait: nanos(60_000),
            max_ack_pending: MAX_ACK_PENDING,
            deliver_policy: DeliverPolicy.All,
            filter_subject: `${c.stream}.${topic}`,
          });
          const consumer = await c.js.consumers.get(c.stream, name);
          const messages = await consumer.consume({ max_messages: CONSUME_BATCH });
          let received = 0;
          for await (const m of messages) {
            m.ack();
            if (++received >= count) break;
          }
          messages.stop();
        };
      }
      await consumeN(WARMUP, "warmup");
    },
    async run() {
      await consumeN(n, TOPIC);
    },
    async teardown() {
      const c = ctx as NatsContext;
      await c.nc.flush();
      const name =
        durable !== ""
          ? durable
          : ((await c.jsm.consumers.list(c.stream).next()).find(
              (i) => i.config.filter_subject === `${c.stream}.${TOPIC}`,
            )?.name ?? "");
      // Acks are fire-and-forget on both sides: give the server a moment to apply the last ones.
      const deadline = Date.now() + 5_000;
      for (;;) {
        const info = await c.jsm.consumers.info(c.stream, name);
        if (info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.consumer_seq >= n) break;
        if (Date.now() > deadline) {
          throw new Error(
            `consumer ${name}: ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await subscription?.close();
      await closeContext(c);
    },
  };
}
