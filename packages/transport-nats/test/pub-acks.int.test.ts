// PubAcks collected on one subscription (src/internal/pub-acks.ts) against the local nats-server:
// what each answer the server can give becomes, and how the transport classifies it.
import { jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyNatsError } from "../src/classify-error.js";
import { PubAcks } from "../src/internal/pub-acks.js";
import { adminConnection, available, deleteStream, uniquePrefix } from "./setup.js";

const enc = new TextEncoder();
let nc: NatsConnection;
const stream = uniquePrefix("acks");
const subject = `${stream}.orders`;

beforeAll(async () => {
  if (!available) return;
  nc = await adminConnection();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], duplicate_window: 60_000_000_000 });
});
afterAll(async () => {
  if (!available) return;
  await deleteStream(nc, stream);
  await nc.close();
});

const withId = (id: string) => {
  const h = headers();
  h.set("Nats-Msg-Id", id);
  return h;
};

describe.runIf(available)("PubAcks", () => {
  it("resolves each publish with its own stream sequence; a re-published id is a duplicate of the first", async () => {
    const acks = new PubAcks(nc, 5_000);
    try {
      const sent = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          acks.publish(subject, enc.encode(`{"i":${i}}`), withId(`a-${i}`), 5_000),
        ),
      );
      expect(sent.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
      expect(new Set(sent.map((a) => a.seq)).size).toBe(200);
      const again = await acks.publish(subject, enc.encode("{}"), withId("a-7"), 5_000);
      expect(again).toMatchObject({ stream, duplicate: true, seq: sent[7]?.seq });
      expect(acks.waiting).toBe(0);
    } finally {
      acks.close();
    }
  });

  it("a subject no stream takes is 'no responders' (JetStream unavailable: retryable)", async () => {
    const acks = new PubAcks(nc, 5_000);
    try {
      const error = await acks
        .publish(`${stream}-none.x`, enc.encode("{}"), withId("n-1"), 5_000)
        .catch((e) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe("NoRespondersError");
      expect(classifyNatsError(error)).toBe("unavailable");
    } finally {
      acks.close();
    }
  });

  it("an API error from the stream is a JetStreamApiError with its code (here: a wrong expected stream)", async () => {
    const acks = new PubAcks(nc, 5_000);
    try {
      const h = withId("e-1");
      h.set("Nats-Expected-Stream", "not-this-one");
      const error = await acks.publish(subject, enc.encode("{}"), h, 5_000).catch((e) => e);
      expect(error.name).toBe("JetStreamApiError");
      expect(error.apiError().err_code).toBeGreaterThan(0);
      expect(error.message).toMatch(/expected stream/i);
      expect(classifyNatsError(error)).toBe("invalid");
    } finally {
      acks.close();
    }
  });

  it("an answer that never comes is a TimeoutError after the timeout (retryable); a late answer is ignored", async () => {
    // A core subscriber takes the subject and never answers: nothing replies to the inbox.
    const silent = nc.subscribe(`${stream}-silent.x`);
    const acks = new PubAcks(nc, 200);
    try {
      const started = Date.now();
      const error = await acks
        .publish(`${stream}-silent.x`, enc.encode("{}"), withId("t-1"), 200)
        .catch((e) => e);
      expect(error.name).toBe("TimeoutError");
      expect(classifyNatsError(error)).toBe("connection");
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(acks.waiting).toBe(0);
    } finally {
      silent.unsubscribe();
      acks.close();
    }
  });

  it("close rejects what is still waiting, and later publishes, with the reason", async () => {
    const silent = nc.subscribe(`${stream}-closing.x`);
    const acks = new PubAcks(nc, 60_000);
    const waiting = acks
      .publish(`${stream}-closing.x`, enc.encode("{}"), withId("c-1"), 60_000)
      .catch((e) => e);
    await nc.flush();
    expect(acks.waiting).toBe(1);
    acks.close(new Error("closed connection"));
    expect((await waiting).message).toBe("closed connection");
    const after = await acks.publish(subject, enc.encode("{}"), withId("c-2"), 1_000).catch((e) => e);
    expect(classifyNatsError(after)).toBe("connection");
    silent.unsubscribe();
  });

  it("a payload over the server's max_payload is rejected at once by the client, nothing left waiting", async () => {
    const acks = new PubAcks(nc, 5_000);
    try {
      const big = new Uint8Array((nc.info?.max_payload ?? 1_048_576) + 1);
      const error = await acks.publish(subject, big, withId("big-1"), 5_000).catch((e) => e);
      expect(classifyNatsError(error)).toBe("too-large");
      expect(acks.waiting).toBe(0);
    } finally {
      acks.close();
    }
  });
});
