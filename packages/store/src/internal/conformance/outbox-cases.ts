import type { OutboxEntry } from "../../store.js";
import {
  CHECK_LEASE_MS,
  LONG_LEASE_MS,
  makeEvent,
  makeEvents,
  ref,
  storeMs,
  waitForStoreTime,
} from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const TOPIC = "events";

function ids(entries: readonly OutboxEntry[]): string[] {
  return entries.map((e) => e.event.id);
}

/** Cases of the outbox: add, claim, markPublished, cleanup, pending. */
export const outboxCases: readonly ConformanceCase[] = [
  {
    id: "outbox.add-claim-mark",
    title: "rows are claimed in add order with their topic and event, and marked published (fenced)",
    async run({ store, expect }) {
      const [a, b] = makeEvents(2);
      const c = makeEvent({ type: "audit.logged" });
      await store.outbox.add({ topic: TOPIC, events: [a!, b!] });
      await store.outbox.add({ topic: "audit", events: [c] });
      expect(await store.outbox.pending()).toBe(3);

      const first = await store.outbox.claim({ limit: 2, leaseMs: LONG_LEASE_MS });
      expect(ids(first)).toEqual([a?.id, b?.id]);
      expect(first.map((r) => r.topic)).toEqual([TOPIC, TOPIC]);
      expect(first[0]?.event).toEqual(a);
      expect(new Set(first.map((r) => r.id)).size).toBe(2);
      const second = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(second.map((r) => [r.topic, r.event.id])).toEqual([["audit", c.id]]);
      expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS })).toEqual([]);

      expect(await store.outbox.markPublished({ entries: first.map(ref) })).toEqual([
        "completed",
        "completed",
      ]);
      expect(await store.outbox.markPublished({ entries: [ref(first[0]!)] })).toEqual(["lease-lost"]);
      expect(
        await store.outbox.markPublished({ entries: [{ id: second[0]!.id, leaseToken: "not-a-token" }] }),
      ).toEqual(["lease-lost"]);
      expect(await store.outbox.pending()).toBe(1);
      expect(await store.outbox.markPublished({ entries: [ref(second[0]!)] })).toEqual(["completed"]);
      expect(await store.outbox.pending()).toBe(0);
      expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS })).toEqual([]);
    },
  },
  {
    id: "outbox.per-key-order",
    title: "a row is not claimable while an earlier row of its key is unpublished",
    async run({ store, expect }) {
      const k1a = makeEvent({ key: "k1" });
      const k1b = makeEvent({ key: "k1" });
      const k2a = makeEvent({ key: "k2" });
      const free = makeEvent();
      await store.outbox.add({ topic: TOPIC, events: [k1a, k1b, k2a, free] });
      const first = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(ids(first)).toEqual([k1a.id, k2a.id, free.id]);
      expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS })).toEqual([]);
      await store.outbox.markPublished({ entries: [ref(first[0]!)] });
      expect(ids(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS }))).toEqual([k1b.id]);
    },
  },
  {
    id: "outbox.no-double-claim",
    title: "4 claimers in parallel over 200 rows: each row claimed exactly once, none missed",
    async run({ store, expect }) {
      const events = makeEvents(200);
      await store.outbox.add({ topic: TOPIC, events: events.slice(0, 100) });
      await store.outbox.add({ topic: TOPIC, events: events.slice(100) });
      const claimed: string[] = [];
      const worker = async (): Promise<void> => {
        for (;;) {
          const rows = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
          if (rows.length === 0) return;
          claimed.push(...ids(rows));
          const outcomes = await store.outbox.markPublished({ entries: rows.map(ref) });
          expect(outcomes.every((o) => o === "completed")).toBe(true);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed)).toEqual(new Set(events.map((e) => e.id)));
      expect(await store.outbox.pending()).toBe(0);
    },
  },
  {
    id: "outbox.lease-expiry",
    title: "a claimed row whose lease expired is claimable again; the old token is fenced off",
    async run({ store, expect }) {
      const event = makeEvent();
      await store.outbox.add({ topic: TOPIC, events: [event] });
      const [old] = await store.outbox.claim({ limit: 10, leaseMs: CHECK_LEASE_MS });
      const claimedAt = await storeMs(store);
      expect(old?.event.id).toBe(event.id);
      expect(await store.outbox.claim({ limit: 10, leaseMs: CHECK_LEASE_MS })).toEqual([]);
      await waitForStoreTime(store, claimedAt + CHECK_LEASE_MS);
      const [current] = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(current?.id).toBe(old?.id);
      expect(current?.leaseToken).not.toBe(old?.leaseToken);
      expect(await store.outbox.markPublished({ entries: [ref(old!)] })).toEqual(["lease-lost"]);
      expect(await store.outbox.pending()).toBe(1);
      expect(await store.outbox.markPublished({ entries: [ref(current!)] })).toEqual(["completed"]);
      expect(await store.outbox.pending()).toBe(0);
    },
  },
  {
    id: "outbox.cleanup",
    title: "cleanup deletes published rows at least olderThanMs old, and nothing unpublished",
    async run({ store, expect }) {
      await store.outbox.add({ topic: TOPIC, events: makeEvents(3) });
      const rows = await store.outbox.claim({ limit: 2, leaseMs: LONG_LEASE_MS });
      await store.outbox.markPublished({ entries: [ref(rows[0]!)] });
      expect(await store.outbox.cleanup({ olderThanMs: 60_000 })).toBe(0);
      expect(await store.outbox.cleanup({ olderThanMs: 0 })).toBe(1);
      expect(await store.outbox.cleanup({ olderThanMs: 0 })).toBe(0);
      expect(await store.outbox.pending()).toBe(2);
      expect(await store.outbox.markPublished({ entries: [ref(rows[1]!)] })).toEqual(["completed"]);
      const rest = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(rest).toHaveLength(1);
      expect(await store.outbox.pending()).toBe(1);
    },
  },
];
