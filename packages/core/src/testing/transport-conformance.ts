import { describe, expect, it } from "vitest";
import type { Delivery, SubscribeOptions, Subscription, Transport } from "../contracts/transport.js";
import { isEventferryError } from "../errors.js";
import type { EncodedEvent } from "../event.js";
import {
  ConformanceReceiver,
  conformanceSleep,
  conformanceWaitUntil,
  conformanceWithTimeout,
} from "../internal/conformance-helpers.js";

/**
 * The stable ids of the transport conformance cases, in the order they run (see
 * {@link describeTransportConformance} for what each checks).
 *
 * @example
 * describeTransportConformance("nats", { create, skip: { "order.per-topic": "…reason…" } });
 */
export const transportConformanceCases = Object.freeze([
  "publish.roundtrip",
  "publish.batch",
  "subscribe.batches",
  "group.competing",
  "group.fanout",
  "ack.removes",
  "ack.many",
  "nack.redelivers",
  "nack.delay",
  "attempt.counts",
  "unacked.redelivered-after-subscriber-dies",
  "order.per-topic",
  "close.idempotent",
  "close.while-blocked",
  "publish.after-close-rejects",
  "smoke.10k",
] as const);

/** One case id of {@link transportConformanceCases}. */
export type TransportConformanceCase = (typeof transportConformanceCases)[number];

/** How a transport adapter runs {@link describeTransportConformance}. */
export interface TransportConformanceOptions {
  /**
   * Creates a fresh transport; called once per case. `ctx.id` is unique per case: derive any
   * prefix, stream or consumer name from it, so cases can run concurrently and leave nothing
   * behind. (The suite itself derives its topics and groups from `ctx.id` too.)
   */
  create(ctx: { id: string }): Promise<Transport> | Transport;
  /**
   * Removes what a case created (streams, consumers). Optional. Called after the case's
   * subscriptions are closed and before the suite closes the transport — which some cases have
   * already closed (`close.*`, `publish.after-close-rejects`), so do not rely on it being open.
   */
  cleanup?(ctx: { id: string; transport: Transport }): Promise<void>;
  /** Cases to skip, each with a written reason: `{ "nack.delay": "server too old" }`. */
  skip?: Partial<Record<TransportConformanceCase, string>>;
  /**
   * The `ackTimeoutMs` of the redelivery cases; the suite's waits scale with it. Raise it for
   * transports whose redelivery is coarse (e.g. a claim loop that runs every second).
   * @default 300
   */
  ackTimeoutMs?: number;
  /** Messages in the `smoke.10k` case. @default 10_000 */
  smokeCount?: number;
}

/** The ack timeout of cases that must not see a redelivery. */
const LONG_ACK_TIMEOUT_MS = 60_000;

interface CaseContext {
  readonly id: string;
  readonly transport: Transport;
  readonly ackTimeoutMs: number;
  /** How long to wait for a message that should arrive. */
  readonly waitMs: number;
  /** A topic unique to this case (`suffix` tells several apart). */
  topic(suffix?: string): string;
  /** A group name unique to this case. */
  group(suffix?: string): string;
  /** Subscribes and closes the subscription when the case ends. */
  subscribe(topic: string, options: SubscribeOptions): Promise<Subscription>;
  /** Starts a background consumer that records deliveries. */
  receive(subscription: Subscription, ack?: "each" | "batch" | "none", pauseMs?: number): ConformanceReceiver;
  /** `count` events with ids `${id}-${prefix}-${i}` and payload `{"i":i}`. */
  events(count: number, prefix?: string): EncodedEvent[];
}

interface CaseDefinition {
  readonly id: TransportConformanceCase;
  readonly title: string;
  readonly requires?: "delayedNack" | "redeliversUnacked" | "orderedPerTopic";
  /** Test timeout in ms, from the scaled ack timeout. */
  readonly timeoutMs: (ackTimeoutMs: number, options: TransportConformanceOptions) => number;
  readonly run: (ctx: CaseContext, options: TransportConformanceOptions) => Promise<void>;
}

const standardTimeout = (ackTimeoutMs: number): number => 30_000 + ackTimeoutMs * 10;

/**
 * Registers the universal transport test suite (Watermill-style) with vitest: every transport
 * adapter must pass it against its real server, and the memory transport passes it in unit
 * tests. Each case is one `it` whose name starts with its stable id.
 *
 * Cases:
 * - `publish.roundtrip` — payloads come back byte-exact (unicode, emoji, astral characters,
 *   escapes, 64 KiB); id, type and key preserved; an absent key stays absent; attempt 1.
 * - `publish.batch` — a batch of 500 in one call arrives complete, no duplicates.
 * - `subscribe.batches` — `batches()` yields non-empty arrays no larger than `batchSize`.
 * - `group.competing` — two subscribers of one group share 1 000 messages: each message to exactly
 *   one of them, both get some.
 * - `group.fanout` — two groups each get every message.
 * - `ack.removes` — an acked message never comes back (checked after more than the ack timeout).
 * - `ack.many` — `ackMany` acks all: nothing comes back, neither to the same subscriber after the
 *   ack timeout nor to a new subscriber of the group.
 * - `nack.redelivers` — `nack()` redelivers the same message with attempt 2.
 * - `nack.delay` — (when `features.delayedNack`) `nack({ delayMs })` is not redelivered before the
 *   delay (50 ms tolerance) but is after it, and does not hold back later messages.
 * - `attempt.counts` — attempt goes 1, 2, 3 over redeliveries.
 * - `unacked.redelivered-after-subscriber-dies` — (when `features.redeliversUnacked`) what a
 *   closed subscriber took without acking reaches another subscriber of the group, attempt >= 2.
 * - `order.per-topic` — (when `features.orderedPerTopic`) 1 000 messages reach a single subscriber
 *   in publish order.
 * - `close.idempotent` — `subscription.close()` and `transport.close()` twice do not throw.
 * - `close.while-blocked` — an iteration blocked on an empty topic ends within 2 s of
 *   `subscription.close()`, of `signal` abort and of `transport.close()`.
 * - `publish.after-close-rejects` — after `transport.close()`, `publish` rejects with an
 *   `EventferryError` of code `CLOSED`.
 * - `smoke.10k` — `smokeCount` messages published in batches of 500, consumed and acked: count
 *   exact, no duplicates.
 *
 * The suite subscribes before it publishes (a group MUST receive everything published after
 * `subscribe()` resolved). Every wait has a timeout, so a hung transport fails its case and never
 * hangs the run. Cases whose feature flag is off are reported as skipped with the reason.
 *
 * @example
 * // packages/transport-redis/test/conformance.int.test.ts
 * describeTransportConformance("redis", {
 *   create: ({ id }) => createRedisTransport({ url, prefix: `test-${id}` }),
 *   cleanup: ({ id }) => deleteKeys(`test-${id}:*`),
 *   ackTimeoutMs: 500,
 * });
 */
export function describeTransportConformance(name: string, options: TransportConformanceOptions): void {
  const skip: Readonly<Record<string, string | undefined>> = options.skip ?? {};
  const unknown = Object.keys(skip).filter(
    (id) => !(transportConformanceCases as readonly string[]).includes(id),
  );
  if (unknown.length > 0) {
    throw new Error(
      `describeTransportConformance("${name}"): unknown case ids in skip: ${unknown.join(", ")}; known: ${transportConformanceCases.join(", ")}`,
    );
  }
  for (const [id, reason] of Object.entries(skip)) {
    if (typeof reason !== "string" || reason.trim() === "") {
      throw new Error(`describeTransportConformance("${name}"): skipping "${id}" needs a written reason`);
    }
  }
  const ackTimeoutMs = options.ackTimeoutMs ?? 300;

  describe(`transport conformance: ${name}`, () => {
    for (const definition of caseDefinitions) {
      const title = `${definition.id} — ${definition.title}`;
      const reason = skip[definition.id];
      if (reason !== undefined) {
        it.skip(`${title} (skipped: ${reason})`, () => {});
        continue;
      }
      it(
        title,
        async (testContext) => {
          await runCase(name, definition, options, ackTimeoutMs, (note) => testContext.skip(note));
        },
        definition.timeoutMs(ackTimeoutMs, options),
      );
    }
  });
}

let caseCounter = 0;

async function runCase(
  name: string,
  definition: CaseDefinition,
  options: TransportConformanceOptions,
  ackTimeoutMs: number,
  skipCase: (note: string) => never,
): Promise<void> {
  const slug = definition.id.replace(/[^A-Za-z0-9]+/g, "-");
  const id = `efc-${slug}-${Date.now().toString(36)}${(caseCounter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const transport = await conformanceWithTimeout(
    Promise.resolve(options.create({ id })),
    30_000,
    `${name}: create() did not resolve`,
  );
  const subscriptions: Subscription[] = [];
  const receivers: ConformanceReceiver[] = [];
  const ctx: CaseContext = {
    id,
    transport,
    ackTimeoutMs,
    waitMs: 10_000 + ackTimeoutMs * 5,
    topic: (suffix) => (suffix === undefined ? `efc.${id}` : `efc.${id}.${suffix}`),
    group: (suffix = "g") => `${id}-${suffix}`,
    async subscribe(topic, subscribeOptions) {
      const subscription = await conformanceWithTimeout(
        transport.subscribe(topic, subscribeOptions),
        30_000,
        `${name}: subscribe("${topic}") did not resolve`,
      );
      subscriptions.push(subscription);
      return subscription;
    },
    receive(subscription, ack = "batch", pauseMs = 0) {
      const receiver = new ConformanceReceiver(subscription, ack, pauseMs);
      receivers.push(receiver);
      return receiver;
    },
    events(count, prefix = "m") {
      return Array.from({ length: count }, (_, i) => ({
        id: `${id}-${prefix}-${i}`,
        type: "conformance.tested",
        payload: JSON.stringify({ i }),
      }));
    },
  };

  let failure: unknown;
  try {
    const required = definition.requires;
    if (required !== undefined && !transport.features[required]) {
      skipCase(`${name} does not support features.${required}`);
    }
    await definition.run(ctx, options);
  } catch (error) {
    failure = error;
  }
  // Tear down: subscriptions, the adapter's cleanup, the transport. Each step has a timeout.
  const teardown: unknown[] = [];
  for (const subscription of subscriptions) {
    try {
      await conformanceWithTimeout(subscription.close(), 10_000, `${name}: subscription.close() hung`);
    } catch (error) {
      teardown.push(error);
    }
  }
  try {
    await conformanceWithTimeout(
      Promise.all(receivers.map((receiver) => receiver.stopped)),
      10_000,
      `${name}: a subscription's iteration did not end after close()`,
    );
  } catch (error) {
    teardown.push(error);
  }
  if (options.cleanup !== undefined) {
    try {
      await conformanceWithTimeout(options.cleanup({ id, transport }), 30_000, `${name}: cleanup() hung`);
    } catch (error) {
      teardown.push(error);
    }
  }
  try {
    await conformanceWithTimeout(transport.close(), 10_000, `${name}: transport.close() hung`);
  } catch (error) {
    teardown.push(error);
  }
  if (failure !== undefined) throw failure;
  if (teardown.length > 0) throw teardown[0];
  const broken = receivers.find((receiver) => receiver.error !== undefined);
  if (broken !== undefined)
    throw new Error(`${name}: a subscription's iteration threw`, { cause: broken.error });
}

function ids(deliveries: readonly Delivery[]): string[] {
  return deliveries.map((delivery) => delivery.event.id);
}

/** Waits `ms` and a little more for anything that should not arrive. */
function quietWindow(ctx: CaseContext): number {
  return ctx.ackTimeoutMs * 2 + 200;
}

async function nextDelivery(iterator: AsyncIterator<Delivery>, ms: number, what: string): Promise<Delivery> {
  const result = await conformanceWithTimeout(iterator.next(), ms, `${what}: no delivery within ${ms} ms`);
  if (result.done === true) throw new Error(`${what}: the iteration ended instead of delivering`);
  return result.value;
}

const caseDefinitions: readonly CaseDefinition[] = [
  {
    id: "publish.roundtrip",
    title: "payloads come back byte-exact, ids/types/keys preserved",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: LONG_ACK_TIMEOUT_MS });
      const sent: EncodedEvent[] = [
        {
          id: `${ctx.id}-unicode`,
          type: "conformance.unicode",
          key: "customer-7",
          payload: JSON.stringify({
            text: "héllo wörld — ñ ü ß ø — 日本語 — Ελληνικά — العربية — עברית",
            emoji: "🎉👩‍👩‍👧‍👦🏳️‍🌈👍🏽",
            astral: "𝄞 𠜎 𝟘 🀄",
            escapes: 'quote" backslash\\ newline\n tab\t cr\r',
          }),
        },
        {
          id: `${ctx.id}-plain`,
          type: "conformance.plain",
          payload: "  not json: {[ 🚀 e\u0301 (decomposed) \u00e9 (composed) \r\n  ",
        },
        {
          id: `${ctx.id}-big`,
          type: "conformance.big",
          key: "key:with:colons/and/slashes",
          payload: "λ".repeat(32 * 1024),
        },
        { id: `${ctx.id}-empty-object`, type: "conformance.empty", payload: "{}" },
      ];
      await ctx.transport.publish(topic, sent);
      const iterator = sub[Symbol.asyncIterator]();
      const got = new Map<string, Delivery>();
      while (got.size < sent.length) {
        const delivery = await nextDelivery(iterator, ctx.waitMs, "publish.roundtrip");
        got.set(delivery.event.id, delivery);
        await delivery.ack();
      }
      for (const event of sent) {
        const delivery = got.get(event.id);
        expect(delivery, `event ${event.id} was not delivered`).toBeDefined();
        expect(delivery!.event.type).toBe(event.type);
        expect(delivery!.event.key ?? undefined).toBe(event.key);
        expect(typeof delivery!.event.payload).toBe("string");
        expect(delivery!.event.payload).toBe(event.payload);
        expect(
          Buffer.from(delivery!.event.payload as string, "utf8").equals(
            Buffer.from(event.payload as string, "utf8"),
          ),
        ).toBe(true);
        expect(delivery!.attempt).toBe(1);
        expect(typeof delivery!.transportId).toBe("string");
        expect(delivery!.transportId.length).toBeGreaterThan(0);
      }
    },
  },
  {
    id: "publish.batch",
    title: "a batch of 500 in one call arrives complete",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: LONG_ACK_TIMEOUT_MS });
      const receiver = ctx.receive(sub);
      const sent = ctx.events(500);
      await ctx.transport.publish(topic, sent);
      await receiver.waitFor(500, ctx.waitMs, "publish.batch");
      await conformanceSleep(50);
      expect(receiver.received.length).toBe(500);
      expect(new Set(ids(receiver.received))).toEqual(new Set(sent.map((event) => event.id)));
    },
  },
  {
    id: "subscribe.batches",
    title: "batches() yields non-empty arrays no larger than batchSize",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, {
        group: ctx.group(),
        batchSize: 7,
        ackTimeoutMs: LONG_ACK_TIMEOUT_MS,
      });
      const receiver = ctx.receive(sub);
      await ctx.transport.publish(topic, ctx.events(60));
      await receiver.waitFor(60, ctx.waitMs, "subscribe.batches");
      expect(receiver.batchSizes.length).toBeGreaterThan(0);
      for (const size of receiver.batchSizes) {
        expect(size).toBeGreaterThanOrEqual(1);
        expect(size).toBeLessThanOrEqual(7);
      }
      expect(receiver.batchSizes.reduce((a, b) => a + b, 0)).toBe(receiver.received.length);
      expect(new Set(ids(receiver.received)).size).toBe(60);
    },
  },
  {
    id: "group.competing",
    title: "two subscribers of one group share 1,000 messages, each delivered to exactly one",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const group = ctx.group();
      const options = { group, batchSize: 10, ackTimeoutMs: LONG_ACK_TIMEOUT_MS };
      const a = ctx.receive(await ctx.subscribe(topic, { ...options, consumer: `${ctx.id}-a` }), "batch", 2);
      const b = ctx.receive(await ctx.subscribe(topic, { ...options, consumer: `${ctx.id}-b` }), "batch", 2);
      const sent = ctx.events(1000);
      for (let i = 0; i < sent.length; i += 100) await ctx.transport.publish(topic, sent.slice(i, i + 100));
      await conformanceWaitUntil(
        () => a.received.length + b.received.length >= 1000,
        ctx.waitMs,
        () => `group.competing: ${a.received.length} + ${b.received.length} of 1000 delivered`,
      );
      await conformanceSleep(100);
      const all = [...ids(a.received), ...ids(b.received)];
      expect(all.length).toBe(1000);
      expect(new Set(all).size).toBe(1000);
      expect(a.received.length).toBeGreaterThan(0);
      expect(b.received.length).toBeGreaterThan(0);
    },
  },
  {
    id: "group.fanout",
    title: "two groups each get every message",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const one = ctx.receive(
        await ctx.subscribe(topic, { group: ctx.group("one"), ackTimeoutMs: LONG_ACK_TIMEOUT_MS }),
      );
      const two = ctx.receive(
        await ctx.subscribe(topic, { group: ctx.group("two"), ackTimeoutMs: LONG_ACK_TIMEOUT_MS }),
      );
      const sent = ctx.events(200);
      await ctx.transport.publish(topic, sent);
      await one.waitFor(200, ctx.waitMs, "group.fanout (group one)");
      await two.waitFor(200, ctx.waitMs, "group.fanout (group two)");
      await conformanceSleep(50);
      const expected = new Set(sent.map((event) => event.id));
      expect(one.received.length).toBe(200);
      expect(two.received.length).toBe(200);
      expect(new Set(ids(one.received))).toEqual(expected);
      expect(new Set(ids(two.received))).toEqual(expected);
    },
  },
  {
    id: "ack.removes",
    title: "an acked message never comes back",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: ctx.ackTimeoutMs });
      const receiver = ctx.receive(sub, "each");
      await ctx.transport.publish(topic, ctx.events(5));
      await receiver.waitFor(5, ctx.waitMs, "ack.removes");
      await conformanceSleep(quietWindow(ctx));
      expect(receiver.received.length, "an acked message was delivered again").toBe(5);
      // The subscriber is still alive: a new message still arrives, and only it.
      const sentinel = ctx.events(1, "sentinel");
      await ctx.transport.publish(topic, sentinel);
      await receiver.waitFor(6, ctx.waitMs, "ack.removes (sentinel)");
      await conformanceSleep(50);
      expect(receiver.received.length).toBe(6);
      expect(receiver.received[5]!.event.id).toBe(sentinel[0]!.id);
      expect(new Set(ids(receiver.received)).size).toBe(6);
      expect(receiver.received.every((delivery) => delivery.attempt === 1)).toBe(true);
    },
  },
  {
    id: "ack.many",
    title: "ackMany acks every delivery",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const group = ctx.group();
      const first = await ctx.subscribe(topic, { group, batchSize: 50, ackTimeoutMs: ctx.ackTimeoutMs });
      const receiver = ctx.receive(first, "none");
      await ctx.transport.publish(topic, ctx.events(20));
      await receiver.waitFor(20, ctx.waitMs, "ack.many");
      await first.ackMany(receiver.received.slice(0, 20));
      await conformanceSleep(quietWindow(ctx));
      expect(receiver.received.length, "a message acked by ackMany was delivered again").toBe(20);
      await first.close();
      // A new subscriber of the group gets nothing of what was acked, only what is new.
      const second = ctx.receive(
        await ctx.subscribe(topic, { group, ackTimeoutMs: ctx.ackTimeoutMs }),
        "each",
      );
      const sentinel = ctx.events(1, "sentinel");
      await ctx.transport.publish(topic, sentinel);
      await second.waitFor(1, ctx.waitMs, "ack.many (sentinel)");
      await conformanceSleep(quietWindow(ctx));
      expect(ids(second.received)).toEqual([sentinel[0]!.id]);
    },
  },
  {
    id: "nack.redelivers",
    title: "nack() redelivers with attempt 2",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: LONG_ACK_TIMEOUT_MS });
      const iterator = sub[Symbol.asyncIterator]();
      const [event] = ctx.events(1);
      await ctx.transport.publish(topic, [event!]);
      const first = await nextDelivery(iterator, ctx.waitMs, "nack.redelivers (first)");
      expect(first.event.id).toBe(event!.id);
      expect(first.attempt).toBe(1);
      await first.nack();
      const second = await nextDelivery(iterator, ctx.waitMs, "nack.redelivers (redelivery)");
      expect(second.event.id).toBe(event!.id);
      expect(second.event.payload).toBe(event!.payload);
      expect(second.attempt).toBe(2);
      await second.ack();
    },
  },
  {
    id: "nack.delay",
    title: "nack({ delayMs }) redelivers after the delay, not before",
    requires: "delayedNack",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const delayMs = Math.max(500, ctx.ackTimeoutMs);
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: LONG_ACK_TIMEOUT_MS });
      const iterator = sub[Symbol.asyncIterator]();
      const [delayed, later] = ctx.events(2);
      await ctx.transport.publish(topic, [delayed!]);
      const first = await nextDelivery(iterator, ctx.waitMs, "nack.delay (first)");
      expect(first.event.id).toBe(delayed!.id);
      const nackedAt = performance.now();
      await first.nack({ delayMs });
      // A later message is not held back behind the delayed one.
      await ctx.transport.publish(topic, [later!]);
      const next = await nextDelivery(iterator, ctx.waitMs, "nack.delay (later message)");
      expect(next.event.id, "the delayed message came back before a later one").toBe(later!.id);
      await next.ack();
      const again = await nextDelivery(iterator, delayMs + ctx.waitMs, "nack.delay (redelivery)");
      const elapsed = performance.now() - nackedAt;
      expect(again.event.id).toBe(delayed!.id);
      expect(again.attempt).toBe(2);
      expect(
        elapsed,
        `redelivered after ${Math.round(elapsed)} ms, delay was ${delayMs} ms`,
      ).toBeGreaterThanOrEqual(delayMs - 50);
      await again.ack();
    },
  },
  {
    id: "attempt.counts",
    title: "attempt increments on each redelivery: 1, 2, 3",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group(), ackTimeoutMs: LONG_ACK_TIMEOUT_MS });
      const iterator = sub[Symbol.asyncIterator]();
      const [event] = ctx.events(1);
      await ctx.transport.publish(topic, [event!]);
      const attempts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const delivery = await nextDelivery(iterator, ctx.waitMs, `attempt.counts (delivery ${i + 1})`);
        expect(delivery.event.id).toBe(event!.id);
        attempts.push(delivery.attempt);
        if (i < 2) await delivery.nack();
        else await delivery.ack();
      }
      expect(attempts).toEqual([1, 2, 3]);
    },
  },
  {
    id: "unacked.redelivered-after-subscriber-dies",
    title: "what a closed subscriber did not ack reaches another subscriber of the group",
    requires: "redeliversUnacked",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const group = ctx.group();
      const dying = await ctx.subscribe(topic, {
        group,
        consumer: `${ctx.id}-a`,
        batchSize: 10,
        ackTimeoutMs: ctx.ackTimeoutMs,
      });
      const taken = ctx.receive(dying, "none");
      const sent = ctx.events(5);
      await ctx.transport.publish(topic, sent);
      await taken.waitFor(5, ctx.waitMs, "unacked.redelivered-after-subscriber-dies (first subscriber)");
      await dying.close();
      const survivor = ctx.receive(
        await ctx.subscribe(topic, { group, consumer: `${ctx.id}-b`, ackTimeoutMs: ctx.ackTimeoutMs }),
        "each",
      );
      await survivor.waitFor(
        5,
        ctx.waitMs + ctx.ackTimeoutMs * 3,
        "unacked.redelivered-after-subscriber-dies (second)",
      );
      expect(new Set(ids(survivor.received))).toEqual(new Set(sent.map((event) => event.id)));
      for (const delivery of survivor.received) expect(delivery.attempt).toBeGreaterThanOrEqual(2);
    },
  },
  {
    id: "order.per-topic",
    title: "1,000 messages reach a single subscriber in publish order",
    requires: "orderedPerTopic",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, {
        group: ctx.group(),
        batchSize: 50,
        ackTimeoutMs: LONG_ACK_TIMEOUT_MS,
      });
      const receiver = ctx.receive(sub);
      const sent = ctx.events(1000);
      for (let i = 0; i < sent.length; i += 100) await ctx.transport.publish(topic, sent.slice(i, i + 100));
      await receiver.waitFor(1000, ctx.waitMs, "order.per-topic");
      await conformanceSleep(50);
      expect(ids(receiver.received)).toEqual(sent.map((event) => event.id));
    },
  },
  {
    id: "close.idempotent",
    title: "subscription.close() and transport.close() twice do not throw",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, { group: ctx.group() });
      await expect(sub.close()).resolves.toBeUndefined();
      await expect(sub.close()).resolves.toBeUndefined();
      const open = await ctx.subscribe(topic, { group: ctx.group("other") });
      await expect(ctx.transport.close()).resolves.toBeUndefined();
      await expect(ctx.transport.close()).resolves.toBeUndefined();
      // A subscription closed by the transport can still be closed by its owner.
      await expect(open.close()).resolves.toBeUndefined();
    },
  },
  {
    id: "close.while-blocked",
    title: "a blocked iteration ends within 2 s of close(), signal abort or transport.close()",
    timeoutMs: standardTimeout,
    async run(ctx) {
      const limit = 2_000;
      const endsPromptly = async (
        what: string,
        start: () => Promise<IteratorResult<unknown>>,
        stop: () => Promise<void> | void,
      ): Promise<void> => {
        const pending = start();
        let settledEarly = false;
        void pending.then(
          () => {
            settledEarly = true;
          },
          () => {
            settledEarly = true;
          },
        );
        await conformanceSleep(100);
        expect(settledEarly, `${what}: the iteration did not block on an empty topic`).toBe(false);
        const stoppedAt = performance.now();
        await stop();
        const result = await conformanceWithTimeout(
          pending,
          limit,
          `${what}: the iteration did not end within ${limit} ms`,
        );
        expect(result.done, `${what}: the iteration yielded instead of ending`).toBe(true);
        expect(performance.now() - stoppedAt).toBeLessThan(limit);
      };

      const closed = await ctx.subscribe(ctx.topic("a"), { group: ctx.group() });
      const deliveries = closed[Symbol.asyncIterator]();
      await endsPromptly(
        "subscription.close()",
        () => deliveries.next(),
        () => closed.close(),
      );

      const controller = new AbortController();
      const aborted = await ctx.subscribe(ctx.topic("b"), { group: ctx.group(), signal: controller.signal });
      const batches = aborted.batches()[Symbol.asyncIterator]();
      await endsPromptly(
        "signal abort",
        () => batches.next(),
        () => controller.abort(),
      );

      const byTransport = await ctx.subscribe(ctx.topic("c"), { group: ctx.group() });
      const third = byTransport[Symbol.asyncIterator]();
      await endsPromptly(
        "transport.close()",
        () => third.next(),
        () => ctx.transport.close(),
      );
    },
  },
  {
    id: "publish.after-close-rejects",
    title: "publish after transport.close() rejects with code CLOSED",
    timeoutMs: standardTimeout,
    async run(ctx) {
      await ctx.transport.close();
      const error = await conformanceWithTimeout(
        ctx.transport.publish(ctx.topic(), ctx.events(1)).then(
          () => undefined,
          (e: unknown) => e,
        ),
        10_000,
        "publish.after-close-rejects: publish after close() neither resolved nor rejected",
      );
      expect(error, "publish after close() resolved").toBeDefined();
      expect(isEventferryError(error), `expected an EventferryError, got ${String(error)}`).toBe(true);
      expect((error as { code?: unknown }).code).toBe("CLOSED");
    },
  },
  {
    id: "smoke.10k",
    title: "many messages in batches of 500: count exact, no duplicates",
    timeoutMs: (ackTimeoutMs, options) => 60_000 + ackTimeoutMs * 10 + (options.smokeCount ?? 10_000) * 5,
    async run(ctx, options) {
      const count = options.smokeCount ?? 10_000;
      const topic = ctx.topic();
      const sub = await ctx.subscribe(topic, {
        group: ctx.group(),
        batchSize: 100,
        ackTimeoutMs: LONG_ACK_TIMEOUT_MS,
      });
      const receiver = ctx.receive(sub);
      const sent = ctx.events(count);
      for (let i = 0; i < sent.length; i += 500) await ctx.transport.publish(topic, sent.slice(i, i + 500));
      await receiver.waitFor(count, ctx.waitMs + count * 3, "smoke.10k");
      await conformanceSleep(100);
      expect(receiver.received.length).toBe(count);
      expect(new Set(ids(receiver.received)).size).toBe(count);
    },
  },
];
