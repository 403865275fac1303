import { isEventferryError } from "@eventferry/core";
import type { HeldOutboxClaim, OutboxEntry, Store } from "../../store.js";
import { LONG_LEASE_MS, makeEvent, makeEvents, ref, sleep } from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const TOPIC = "events";
/** A hold long enough never to run out during a case. */
const LONG_HOLD_MS = 30_000;
/** A hold short enough to wait out. */
const SHORT_HOLD_MS = 300;

function ids(entries: readonly OutboxEntry[]): string[] {
  return entries.map((e) => e.event.id);
}

function held(store: Store): NonNullable<Store["outbox"]["claimHeld"]> {
  const claimHeld = store.outbox.claimHeld;
  if (!claimHeld) throw new Error("this store offers no held claims (store.outbox.claimHeld is undefined)");
  return claimHeld.bind(store.outbox);
}

/** What a held claim of `limit` rows hands out, ended without marking anything. */
async function peekHeld(store: Store, limit = 10): Promise<string[]> {
  return held(store)({ limit, holdMs: LONG_HOLD_MS }, async (claim) => ids(claim.entries));
}

/**
 * Cases of the optional held outbox claim (`outbox.claimHeld`), run when the adapter declares it
 * (`describeStoreConformance(…, { outboxClaimHeld: true })`).
 */
export const outboxHeldCases: readonly ConformanceCase[] = [
  {
    id: "outbox.held.claim-mark",
    title:
      "a held claim hands out rows in add order; marked rows end published, the others claimable at once",
    async run({ store, expect }) {
      const [a, b, c] = makeEvents(3);
      await store.outbox.add({ topic: TOPIC, events: [a!, b!] });
      await store.outbox.add({ topic: "audit", events: [c!] });
      const result = await held(store)({ limit: 2, holdMs: LONG_HOLD_MS }, async (claim) => {
        expect(ids(claim.entries)).toEqual([a!.id, b!.id]);
        expect(claim.entries.map((e) => e.topic)).toEqual([TOPIC, TOPIC]);
        expect(claim.entries[0]?.event).toMatchObject({ id: a!.id, type: a!.type, data: a!.data });
        await claim.markPublished([claim.entries[0]!]);
        return "done";
      });
      expect(result).toBe("done");
      expect(await store.outbox.pending()).toBe(2);
      // Nothing claimable: fn still runs, with no rows.
      const rest = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(ids(rest)).toEqual([b!.id, c!.id]);
      expect(
        await held(store)({ limit: 10, holdMs: LONG_HOLD_MS }, async (claim) => claim.entries.length),
      ).toBe(0);
    },
  },
  {
    id: "outbox.held.exclusive",
    title: "rows a held claim holds go to no other claim; leased rows go to no held claim",
    async run({ store, expect }) {
      const [a, b, c] = makeEvents(3);
      await store.outbox.add({ topic: TOPIC, events: [a!, b!, c!] });
      const [leased] = await store.outbox.claim({ limit: 1, leaseMs: LONG_LEASE_MS });
      expect(leased?.event.id).toBe(a!.id);
      await held(store)({ limit: 1, holdMs: LONG_HOLD_MS }, async (first) => {
        expect(ids(first.entries)).toEqual([b!.id]);
        expect(await peekHeld(store)).toEqual([c!.id]);
        expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS }).then(ids)).toEqual([c!.id]);
        await first.markPublished(first.entries);
      });
      expect(await store.outbox.pending()).toBe(2);
      expect(await peekHeld(store)).toEqual([]);
    },
  },
  {
    id: "outbox.held.per-key-order",
    title: "while a held claim holds a row, a later row of its key is claimable by no one",
    async run({ store, expect }) {
      const k1 = makeEvent({ key: "k" });
      const k2 = makeEvent({ key: "k" });
      const free = makeEvent();
      await store.outbox.add({ topic: TOPIC, events: [k1, k2, free] });
      await held(store)({ limit: 1, holdMs: LONG_HOLD_MS }, async (claim) => {
        expect(ids(claim.entries)).toEqual([k1.id]);
        expect(await peekHeld(store)).toEqual([free.id]);
        expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS }).then(ids)).toEqual([free.id]);
        await claim.markPublished(claim.entries);
      });
      expect(await peekHeld(store)).toEqual([k2.id]);
    },
  },
  {
    id: "outbox.held.throw",
    title:
      "a held claim whose function throws keeps its marks, releases the rest, and rejects with the error",
    async run({ store, expect }) {
      const [a, b] = makeEvents(2);
      await store.outbox.add({ topic: TOPIC, events: [a!, b!] });
      const boom = new Error("publish failed");
      await expect(
        held(store)({ limit: 10, holdMs: LONG_HOLD_MS }, async (claim) => {
          await claim.markPublished([claim.entries[0]!]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.outbox.pending()).toBe(1);
      expect(await peekHeld(store)).toEqual([b!.id]);
    },
  },
  {
    id: "outbox.held.given-up",
    title:
      "a held claim idle past holdMs is given up: another claim takes its rows, its mark rejects (retryable)",
    async run({ store, expect }) {
      const event = makeEvent();
      await store.outbox.add({ topic: TOPIC, events: [event] });
      let stale: HeldOutboxClaim | undefined;
      const outcome = held(store)({ limit: 10, holdMs: SHORT_HOLD_MS }, async (claim) => {
        expect(ids(claim.entries)).toEqual([event.id]);
        stale = claim;
        // Idle (a paused process, a hung publish) until another claimer has the row.
        let taken: OutboxEntry[] = [];
        const deadline = Date.now() + 10_000;
        while (taken.length === 0 && Date.now() < deadline) {
          await sleep(100);
          taken = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
        }
        expect(ids(taken)).toEqual([event.id]);
        try {
          await claim.markPublished(claim.entries);
        } finally {
          // The row is the new claimer's: its mark counts.
          expect(await store.outbox.markPublished({ entries: taken.map(ref) })).toEqual(["completed"]);
        }
      });
      const error = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(stale).toBeDefined();
      expect(isEventferryError(error) && error.retryable).toBe(true);
      expect(await store.outbox.pending()).toBe(0);
    },
  },
  {
    id: "outbox.held.remove",
    title: "with removePublished, marked rows are deleted, not kept published; the others stay",
    async run({ store, expect }) {
      const [a, b] = makeEvents(2);
      await store.outbox.add({ topic: TOPIC, events: [a!, b!] });
      await held(store)({ limit: 10, holdMs: LONG_HOLD_MS, removePublished: true }, async (claim) => {
        await claim.markPublished([claim.entries[0]!]);
      });
      expect(await store.outbox.pending()).toBe(1);
      expect(await store.outbox.cleanup({ olderThanMs: 0 })).toBe(0);
      expect(await peekHeld(store)).toEqual([b!.id]);
    },
  },
  {
    id: "outbox.held.invalid",
    title: "a held claim with a bad limit or holdMs rejects with a ValidationError and holds nothing",
    async run({ store, expect }) {
      await store.outbox.add({ topic: TOPIC, events: makeEvents(1) });
      const never = async () => {
        throw new Error("fn must not run");
      };
      for (const params of [
        { limit: 1.5, holdMs: LONG_HOLD_MS },
        { limit: 10, holdMs: 0 },
        { limit: 10, holdMs: Number.NaN },
      ]) {
        await expect(held(store)(params, never)).rejects.toMatchObject({ name: "ValidationError" });
      }
      expect(await peekHeld(store)).toHaveLength(1);
    },
  },
];
