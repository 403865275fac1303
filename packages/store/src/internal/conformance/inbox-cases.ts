import type { EventEnvelope } from "@eventferry/core";
import type { InboxEntry } from "../../store.js";
import {
  attemptError,
  CHECK_LEASE_MS,
  claim,
  eventIds,
  LONG_LEASE_MS,
  makeEvent,
  makeEvents,
  record,
  ref,
  SHORT_LEASE_MS,
  sleep,
  storeMs,
  WAIT_MS,
  waitForStoreTime,
  waitPastLease,
} from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const C1 = "billing/send-invoice";
const C2 = "shipping/reserve";

/** Cases of the inbox: record, claim, complete, fail, release, stats. */
export const inboxCases: readonly ConformanceCase[] = [
  {
    id: "inbox.record-idempotent",
    title: "record is idempotent by (consumer, event id), also after completion and dead-lettering",
    async run({ store, expect }) {
      const [e1, e2] = makeEvents(2) as [EventEnvelope, EventEnvelope];
      expect(
        await store.inbox.record({
          entries: [
            { consumer: C1, event: e1, maxAttempts: 3 },
            { consumer: C2, event: e1, maxAttempts: 3 },
          ],
        }),
      ).toEqual({ inserted: 2, duplicates: 0 });
      expect(await record(store, C1, [e1])).toEqual({ inserted: 0, duplicates: 1 });
      expect(await record(store, C1, [e1, e2])).toEqual({ inserted: 1, duplicates: 1 });
      expect((await store.inbox.stats()).pending).toBe(3);

      const claimed = await claim(store, C1);
      expect(eventIds(claimed)).toEqual([e1.id, e2.id]);
      const [first, second] = claimed as [InboxEntry, InboxEntry];
      expect(await store.inbox.complete({ entries: [ref(first)] })).toEqual(["completed"]);
      expect(await record(store, C1, [e1])).toEqual({ inserted: 0, duplicates: 1 });
      expect(
        await store.inbox.fail({
          ...ref(second),
          error: attemptError("no"),
          deadLetter: true,
          reason: "test",
        }),
      ).toBe("dead-lettered");
      expect(await record(store, C1, [e2])).toEqual({ inserted: 0, duplicates: 1 });

      const stats = await store.inbox.stats({ consumers: [C1] });
      expect(stats).toMatchObject({ pending: 0, inFlight: 0, completed: 1, dead: 1 });
      expect(await claim(store, C1)).toEqual([]);
      expect(eventIds(await claim(store, C2))).toEqual([e1.id]);
    },
  },
  {
    id: "inbox.claim-limit",
    title: "claim never returns more than limit, also when many entries are due",
    async run({ store, expect }) {
      const events = makeEvents(30);
      await record(store, C1, events);
      expect(await claim(store, C1, 0)).toEqual([]);
      const a = await claim(store, C1, 7);
      const b = await claim(store, C1, 1);
      const c = await claim(store, C1, 100);
      expect(a).toHaveLength(7);
      expect(b).toHaveLength(1);
      expect(c).toHaveLength(22);
      expect(await claim(store, C1, 100)).toEqual([]);
      const all = [...a, ...b, ...c];
      expect(new Set(all.map((e) => e.id)).size).toBe(30);
      expect(new Set(eventIds(all))).toEqual(new Set(events.map((e) => e.id)));
      // Record order among equal priority and due time.
      expect(eventIds(all)).toEqual(events.map((e) => e.id));
    },
  },
  {
    id: "inbox.claim-skips-leased",
    title: "claim skips entries leased to another claim",
    async run({ store, expect }) {
      const events = makeEvents(3);
      await record(store, C1, events);
      const first = await claim(store, C1, 2);
      expect(eventIds(first)).toEqual([events[0]?.id, events[1]?.id]);
      const second = await store.inbox.claim({
        consumers: [C1],
        limit: 10,
        leaseMs: LONG_LEASE_MS,
        worker: "w-2",
      });
      expect(eventIds(second)).toEqual([events[2]?.id]);
      expect(await claim(store, C1, 10)).toEqual([]);
      expect((await store.inbox.stats()).inFlight).toBe(3);
    },
  },
  {
    id: "inbox.claim-consumers",
    title: "claim returns entries of the named consumers only, with the recorded event and maxAttempts",
    async run({ store, expect }) {
      const [e1, e2, e3] = makeEvents(3, { key: "k", metadata: { m: "1" } }) as [
        EventEnvelope,
        EventEnvelope,
        EventEnvelope,
      ];
      await store.inbox.record({
        entries: [
          { consumer: "c1", event: e1, maxAttempts: 4 },
          { consumer: "c2", event: e2, maxAttempts: 5 },
          { consumer: "c3", event: e3, maxAttempts: 6 },
        ],
      });
      expect(await store.inbox.claim({ consumers: ["unknown"], limit: 10, leaseMs: LONG_LEASE_MS })).toEqual(
        [],
      );
      const both = await store.inbox.claim({ consumers: ["c1", "c2"], limit: 10, leaseMs: LONG_LEASE_MS });
      expect(both.map((e) => [e.consumer, e.event.id, e.maxAttempts, e.attempt])).toEqual([
        ["c1", e1.id, 4, 1],
        ["c2", e2.id, 5, 1],
      ]);
      expect(both[0]?.event).toEqual(e1);
      expect(typeof both[0]?.id).toBe("string");
      expect(both[0]?.id).not.toBe(both[1]?.id);
      expect(both[0]?.leaseToken).not.toBe(both[1]?.leaseToken);
      const third = await store.inbox.claim({ consumers: ["c3"], limit: 10, leaseMs: LONG_LEASE_MS });
      expect(third.map((e) => [e.consumer, e.event.id])).toEqual([["c3", e3.id]]);
    },
  },
  {
    id: "inbox.priority-then-due",
    title: "claim orders by priority (1 first), then due time, then record order, across consumers",
    async run({ store, expect }) {
      const now = await storeMs(store);
      const at = (ms: number): string => new Date(ms).toISOString();
      const a = makeEvent({ priority: 3, deliverAt: at(now - 1_000) });
      const b = makeEvent({ priority: 3, deliverAt: at(now - 5_000) });
      const c = makeEvent({ priority: 1 });
      const d = makeEvent({ priority: 5, deliverAt: at(now - 10_000) });
      const e = makeEvent({ priority: 3, deliverAt: at(now - 1_000) });
      const f = makeEvent({ priority: 2 });
      for (const event of [a, b, c, d, e]) await record(store, C1, [event]);
      await record(store, C2, [f]);
      const both = { consumers: [C1, C2], leaseMs: LONG_LEASE_MS };
      expect(eventIds(await store.inbox.claim({ ...both, limit: 2 }))).toEqual([c.id, f.id]);
      expect(eventIds(await store.inbox.claim({ ...both, limit: 10 }))).toEqual([b.id, a.id, e.id, d.id]);
    },
  },
  {
    id: "inbox.per-key-order",
    title: "same consumer and key: one at a time in record order; other keys and consumers proceed",
    async run({ store, expect }) {
      const a1 = makeEvent({ key: "k1" });
      const a2 = makeEvent({ key: "k1" });
      const b1 = makeEvent({ key: "k2" });
      const c = makeEvent();
      const a3 = makeEvent({ key: "k1" });
      const x1 = makeEvent({ key: "k1" });
      await record(store, C1, [a1, a2, b1, c, a3]);
      await record(store, C2, [x1]);

      const first = await claim(store, C1, 10);
      expect(eventIds(first)).toEqual([a1.id, b1.id, c.id]);
      expect(eventIds(await claim(store, C2, 10))).toEqual([x1.id]);
      expect(await claim(store, C1, 10)).toEqual([]);

      // Completing a1 unblocks a2 (only).
      await store.inbox.complete({ entries: [ref(first[0] as InboxEntry)] });
      const second = await claim(store, C1, 10);
      expect(eventIds(second)).toEqual([a2.id]);

      // A scheduled retry of a2 still blocks a3.
      expect(
        await store.inbox.fail({
          ...ref(second[0] as InboxEntry),
          error: attemptError("x"),
          retryInMs: WAIT_MS,
        }),
      ).toBe("retry-scheduled");
      const failedAt = await storeMs(store);
      expect(await claim(store, C1, 10)).toEqual([]);
      await waitForStoreTime(store, failedAt + WAIT_MS);
      const third = await claim(store, C1, 10);
      expect(third.map((e) => [e.event.id, e.attempt])).toEqual([[a2.id, 2]]);

      // Dead-lettering a2 unblocks a3.
      await store.inbox.fail({ ...ref(third[0] as InboxEntry), error: attemptError("y"), deadLetter: true });
      expect(eventIds(await claim(store, C1, 10))).toEqual([a3.id]);
    },
  },
  {
    id: "inbox.busy-key-front",
    title:
      "ready keys queued behind 3,000 entries of a busy key are claimed; the busy key's later entries and a key waiting for its retry are not; priority still orders the claim",
    async run({ store, expect }) {
      // The front of the queue: 3,000 entries of one key, then a key of 200 entries, then four keys.
      const busy = makeEvents(3_000, { key: "busy" });
      const waiting = makeEvents(200, { key: "waiting" });
      const others = ["k1", "k2", "k3", "k4"].flatMap((key) => makeEvents(2, { key }));
      for (let i = 0; i < busy.length; i += 1_000) await record(store, C1, busy.slice(i, i + 1_000));
      await record(store, C1, [...waiting, ...others]);

      // The busy key's first entry, then the waiting key's first, which fails with a retry a minute away.
      expect(eventIds(await claim(store, C1, 1))).toEqual([busy[0]?.id]);
      const [waitingHead] = await claim(store, C1, 1);
      expect(waitingHead?.event.id).toBe(waiting[0]?.id);
      expect(
        await store.inbox.fail({
          ...ref(waitingHead as InboxEntry),
          error: attemptError("later"),
          retryInMs: 60_000,
        }),
      ).toBe("retry-scheduled");

      // Everything at the front is blocked now; the four keys behind it are ready.
      const claimed = await claim(store, C1, 10);
      expect(eventIds(claimed).sort()).toEqual(
        ["k1", "k2", "k3", "k4"].map((key) => others.find((e) => e.key === key)?.id).sort(),
      );
      expect(await claim(store, C1, 10)).toEqual([]);

      // A high-priority key recorded last is claimed before the low-priority one recorded before it.
      const low = makeEvent({ key: "low", priority: 5 });
      const high = makeEvent({ key: "high", priority: 1 });
      await record(store, C1, [low, high]);
      expect(eventIds(await claim(store, C1, 1))).toEqual([high.id]);
      expect(eventIds(await claim(store, C1, 10))).toEqual([low.id]);
    },
  },
  {
    id: "inbox.per-key-concurrent",
    title: "concurrent claimers never hold two entries of one key at once, and finish each key in order",
    async run({ store, expect }) {
      const keys = ["k0", "k1", "k2", "k3", "k4"];
      const events = Array.from({ length: 60 }, (_, i) =>
        makeEvent({ key: keys[i % keys.length] as string }),
      );
      await record(store, C1, events);
      const held = new Set<string>();
      const finished: EventEnvelope[] = [];
      let violations = 0;
      const deadline = Date.now() + 8_000;
      const worker = async (): Promise<void> => {
        while (finished.length < events.length && Date.now() < deadline) {
          const entries = await claim(store, C1, 3);
          if (entries.length === 0) {
            await sleep(2);
            continue;
          }
          for (const e of entries) {
            if (held.has(e.event.key as string)) violations++;
            held.add(e.event.key as string);
          }
          await sleep(1);
          for (const e of entries) {
            held.delete(e.event.key as string);
            finished.push(e.event);
          }
          await store.inbox.complete({ entries: entries.map(ref) });
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(violations).toBe(0);
      expect(finished).toHaveLength(events.length);
      for (const key of keys) {
        expect(finished.filter((e) => e.key === key).map((e) => e.id)).toEqual(
          events.filter((e) => e.key === key).map((e) => e.id),
        );
      }
    },
  },
  {
    id: "inbox.delay-store-clock",
    title: "an entry with deliverAt in the future (store clock) is not claimable until then",
    async run({ store, expect }) {
      const now = await storeMs(store);
      const dueAt = now + WAIT_MS;
      const delayed = makeEvent({ deliverAt: new Date(dueAt).toISOString() });
      const immediate = makeEvent();
      await record(store, C1, [delayed, immediate]);
      expect(eventIds(await claim(store, C1))).toEqual([immediate.id]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 1, scheduled: 1, inFlight: 1 });
      expect(await claim(store, C1)).toEqual([]);
      await waitForStoreTime(store, dueAt);
      expect(eventIds(await claim(store, C1))).toEqual([delayed.id]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, scheduled: 0, inFlight: 2 });
    },
  },
  {
    id: "inbox.attempts-at-claim",
    title: "attempts count at claim: 1, 2, 3 across expired leases without fail()",
    async run({ store, expect }) {
      const event = makeEvent();
      await record(store, C1, [event], 5);
      const attempts: number[] = [];
      let entry: InboxEntry | undefined;
      for (let i = 0; i < 3; i++) {
        if (entry) await waitPastLease(store, entry);
        const claimed = await claim(store, C1, 10, SHORT_LEASE_MS);
        expect(claimed).toHaveLength(1);
        entry = claimed[0] as InboxEntry;
        expect(entry.event.id).toBe(event.id);
        expect(entry.maxAttempts).toBe(5);
        attempts.push(entry.attempt);
      }
      expect(attempts).toEqual([1, 2, 3]);
    },
  },
  {
    id: "inbox.lease-expiry-reclaim",
    title: "a leased entry is not claimable until its lease expires, then it is, with a new token",
    async run({ store, expect }) {
      const event = makeEvent();
      await record(store, C1, [event]);
      const before = await storeMs(store);
      const [first] = (await claim(store, C1, 10, CHECK_LEASE_MS)) as [InboxEntry];
      const after = await storeMs(store);
      const expiresAt = Date.parse(first.leaseExpiresAt);
      expect(expiresAt).toBeGreaterThanOrEqual(before + CHECK_LEASE_MS - 1);
      expect(expiresAt).toBeLessThanOrEqual(after + CHECK_LEASE_MS + 1);
      expect(await claim(store, C1)).toEqual([]);
      await waitPastLease(store, first);
      const [second] = (await claim(store, C1, 10, CHECK_LEASE_MS)) as [InboxEntry];
      expect(second).toBeDefined();
      expect(second.id).toBe(first.id);
      expect(second.attempt).toBe(2);
      expect(second.leaseToken).not.toBe(first.leaseToken);
      expect(Date.parse(second.leaseExpiresAt)).toBeGreaterThan(expiresAt);
    },
  },
  {
    id: "inbox.fencing",
    title: "a stale lease token's complete/fail/release reports lease-lost and changes nothing",
    async run({ store, expect }) {
      await record(store, C1, [makeEvent()]);
      const [old] = (await claim(store, C1, 10, SHORT_LEASE_MS)) as [InboxEntry];
      await waitPastLease(store, old);
      const [current] = (await claim(store, C1, 10, LONG_LEASE_MS)) as [InboxEntry];
      expect(current.id).toBe(old.id);

      expect(await store.inbox.complete({ entries: [ref(old)] })).toEqual(["lease-lost"]);
      expect(await store.inbox.fail({ ...ref(old), error: attemptError("stale"), retryInMs: 0 })).toBe(
        "lease-lost",
      );
      expect(await store.inbox.fail({ ...ref(old), error: attemptError("stale"), deadLetter: true })).toBe(
        "lease-lost",
      );
      expect(await store.inbox.release({ entries: [ref(old)] })).toEqual(["lease-lost"]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 1, completed: 0, dead: 0 });
      expect(await claim(store, C1)).toEqual([]);

      expect(await store.inbox.complete({ entries: [ref(current), ref(old)] })).toEqual([
        "completed",
        "lease-lost",
      ]);
      expect(await store.inbox.complete({ entries: [ref(current)] })).toEqual(["lease-lost"]);
      expect(
        await store.inbox.complete({ entries: [{ id: current.id, leaseToken: "not-a-token" }] }),
      ).toEqual(["lease-lost"]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, completed: 1, dead: 0 });
    },
  },
  {
    id: "inbox.fail-retry",
    title: "fail with retryInMs schedules the next attempt no earlier than that (store clock)",
    async run({ store, expect }) {
      const event = makeEvent();
      await record(store, C1, [event], 3);
      const [entry] = (await claim(store, C1)) as [InboxEntry];
      expect(await store.inbox.fail({ ...ref(entry), error: attemptError("boom"), retryInMs: WAIT_MS })).toBe(
        "retry-scheduled",
      );
      const failedAt = await storeMs(store);
      expect(await claim(store, C1)).toEqual([]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 1, scheduled: 1, inFlight: 0, dead: 0 });
      await waitForStoreTime(store, failedAt + WAIT_MS);
      expect(await store.inbox.stats()).toMatchObject({ pending: 1, scheduled: 0 });
      const [retry] = (await claim(store, C1)) as [InboxEntry];
      expect(retry).toBeDefined();
      expect(retry.id).toBe(entry.id);
      expect(retry.attempt).toBe(2);
      expect(retry.leaseToken).not.toBe(entry.leaseToken);
    },
  },
  {
    id: "inbox.dead-after-max-attempts-at-claim",
    title:
      "an entry whose last attempt's lease expired is dead-lettered by the next claim (a crashing handler)",
    async run({ store, expect }) {
      const event = makeEvent();
      await record(store, C1, [event], 2);
      const [first] = (await claim(store, C1, 10, SHORT_LEASE_MS)) as [InboxEntry];
      await waitPastLease(store, first);
      const [second] = (await claim(store, C1, 10, SHORT_LEASE_MS)) as [InboxEntry];
      expect(second.attempt).toBe(2);
      await waitPastLease(store, second);
      expect(await claim(store, C1, 10, SHORT_LEASE_MS)).toEqual([]);

      const dead = await store.deadLetters.list();
      expect(dead).toHaveLength(1);
      const letter = dead[0];
      expect(letter?.id).toBe(first.id);
      expect(letter?.consumer).toBe(C1);
      expect(letter?.event).toEqual(event);
      expect(letter?.attempts).toBe(2);
      expect(letter?.reason).toMatch(/lease/i);
      expect(letter?.history.map((h) => [h.attempt, h.error.name])).toEqual([
        [1, "LeaseExpiredError"],
        [2, "LeaseExpiredError"],
      ]);
      expect(letter?.error.name).toBe("LeaseExpiredError");
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, dead: 1 });
      expect(await store.inbox.complete({ entries: [ref(second)] })).toEqual(["lease-lost"]);
    },
  },
  {
    id: "inbox.fail-dead-letter",
    title: "fail dead-letters on request or after the last attempt; history holds every attempt's error",
    async run({ store, expect }) {
      const event = makeEvent({ type: "order.created" });
      await record(store, C1, [event], 3);
      const errors = [attemptError("boom 1"), attemptError("boom 2"), attemptError("boom 3")];
      for (let i = 0; i < 2; i++) {
        const [entry] = (await claim(store, C1)) as [InboxEntry];
        expect(entry.attempt).toBe(i + 1);
        expect(await store.inbox.fail({ ...ref(entry), error: errors[i] as never, retryInMs: 0 })).toBe(
          "retry-scheduled",
        );
      }
      const [last] = (await claim(store, C1)) as [InboxEntry];
      expect(last.attempt).toBe(3);
      expect(
        await store.inbox.fail({
          ...ref(last),
          error: errors[2] as never,
          deadLetter: true,
          reason: "max attempts (3) reached",
        }),
      ).toBe("dead-lettered");
      expect(await claim(store, C1)).toEqual([]);

      const letter = await store.deadLetters.get({ id: last.id });
      expect(letter).toMatchObject({
        id: last.id,
        consumer: C1,
        reason: "max attempts (3) reached",
        attempts: 3,
        error: errors[2],
      });
      expect(letter?.event).toEqual(event);
      expect(letter?.raw).toBeUndefined();
      expect(Number.isNaN(Date.parse(letter?.deadAt as string))).toBe(false);
      expect(letter?.history.map((h) => ({ attempt: h.attempt, error: h.error }))).toEqual([
        { attempt: 1, error: errors[0] },
        { attempt: 2, error: errors[1] },
        { attempt: 3, error: errors[2] },
      ]);
      for (const h of letter?.history ?? []) expect(Number.isNaN(Date.parse(h.at))).toBe(false);
      expect(await store.inbox.fail({ ...ref(last), error: attemptError("again"), deadLetter: true })).toBe(
        "lease-lost",
      );

      // Without deadLetter, a failure of the last attempt dead-letters too (never attempt max + 1).
      const once = makeEvent();
      await record(store, C2, [once], 1);
      const [only] = (await claim(store, C2)) as [InboxEntry];
      expect(await store.inbox.fail({ ...ref(only), error: attemptError("once"), retryInMs: 0 })).toBe(
        "dead-lettered",
      );
      const onlyLetter = await store.deadLetters.get({ id: only.id });
      expect(onlyLetter?.attempts).toBe(1);
      expect(onlyLetter?.reason).toMatch(/attempt/i);
      expect(await claim(store, C2)).toEqual([]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, dead: 2 });
    },
  },
  {
    id: "inbox.release",
    title: "release gives entries back at once without using an attempt; fenced by token",
    async run({ store, expect }) {
      const [e1, e2] = makeEvents(2) as [EventEnvelope, EventEnvelope];
      await record(store, C1, [e1, e2], 2);
      const [first, other] = (await claim(store, C1)) as [InboxEntry, InboxEntry];
      expect(first.attempt).toBe(1);
      expect(await store.inbox.release({ entries: [ref(first)] })).toEqual(["completed"]);
      expect(await store.inbox.release({ entries: [ref(first)] })).toEqual(["lease-lost"]);
      expect(await store.inbox.complete({ entries: [ref(first)] })).toEqual(["lease-lost"]);

      const [again] = (await claim(store, C1)) as [InboxEntry];
      expect(again.id).toBe(first.id);
      expect(again.attempt).toBe(1);
      expect(again.leaseToken).not.toBe(first.leaseToken);

      expect(await store.inbox.release({ entries: [ref(other), ref(first)] })).toEqual([
        "completed",
        "lease-lost",
      ]);
      const [otherAgain] = (await claim(store, C1)) as [InboxEntry];
      expect(otherAgain.event.id).toBe(e2.id);
      expect(otherAgain.attempt).toBe(1);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 2 });
    },
  },
  {
    id: "inbox.stats",
    title: "stats counts pending, scheduled, in-flight, completed and dead, per consumer or all",
    async run({ store, expect }) {
      const empty = await store.inbox.stats();
      expect(empty).toMatchObject({ pending: 0, scheduled: 0, inFlight: 0, completed: 0, dead: 0 });
      expect(empty.oldestPendingAt).toBeUndefined();

      const now = await storeMs(store);
      const e1 = makeEvent({ occurredAt: new Date(now - 3_000).toISOString() });
      const e2 = makeEvent({ occurredAt: new Date(now - 2_000).toISOString() });
      const e3 = makeEvent({
        occurredAt: new Date(now - 1_000).toISOString(),
        deliverAt: new Date(now + 60_000).toISOString(),
      });
      const e4 = makeEvent({ occurredAt: new Date(now - 500).toISOString() });
      await record(store, C1, [e1, e2, e3]);
      await record(store, C2, [e4]);
      expect(await store.inbox.stats({ consumers: [C1] })).toMatchObject({
        pending: 3,
        scheduled: 1,
        inFlight: 0,
        oldestPendingAt: expect.any(String),
      });
      expect(Date.parse((await store.inbox.stats()).oldestPendingAt as string)).toBe(
        Date.parse(e1.occurredAt),
      );

      const [c1] = (await claim(store, C1, 1)) as [InboxEntry];
      await store.inbox.complete({ entries: [ref(c1)] });
      const [c2] = (await claim(store, C1, 1)) as [InboxEntry];
      expect(c2.event.id).toBe(e2.id);

      const mine = await store.inbox.stats({ consumers: [C1] });
      expect(mine).toMatchObject({ pending: 1, scheduled: 1, inFlight: 1, completed: 1, dead: 0 });
      expect(Date.parse(mine.oldestPendingAt as string)).toBe(Date.parse(e3.occurredAt));
      expect(await store.inbox.stats()).toMatchObject({
        pending: 2,
        scheduled: 1,
        inFlight: 1,
        completed: 1,
      });
      expect(await store.inbox.stats({ consumers: [C1, C2] })).toMatchObject({ pending: 2, inFlight: 1 });
      expect(await store.inbox.stats({ consumers: ["nobody"] })).toMatchObject({
        pending: 0,
        scheduled: 0,
        inFlight: 0,
        completed: 0,
        dead: 0,
      });

      await store.inbox.fail({ ...ref(c2), error: attemptError("x"), deadLetter: true });
      expect(await store.inbox.stats({ consumers: [C1] })).toMatchObject({
        pending: 1,
        inFlight: 0,
        completed: 1,
        dead: 1,
      });
    },
  },
  {
    id: "inbox.concurrent-claimers",
    title: "4 claimers in parallel over 500 entries: each entry claimed exactly once, none missed",
    async run({ store, expect }) {
      const events = makeEvents(500);
      await record(store, C1, events);
      const claimedIds: string[] = [];
      const claimedEvents: string[] = [];
      const worker = async (): Promise<void> => {
        for (;;) {
          const entries = await claim(store, C1, 25);
          if (entries.length === 0) return;
          for (const e of entries) {
            claimedIds.push(e.id);
            claimedEvents.push(e.event.id);
          }
          const outcomes = await store.inbox.complete({ entries: entries.map(ref) });
          expect(outcomes.every((o) => o === "completed")).toBe(true);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(claimedIds).toHaveLength(500);
      expect(new Set(claimedIds).size).toBe(500);
      expect(new Set(claimedEvents)).toEqual(new Set(events.map((e) => e.id)));
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, completed: 500 });
    },
  },
  {
    id: "inbox.last-attempt-expired",
    title:
      "a claim says whether the previous attempt ended by lease expiry (a crashed worker), and not after a fail()",
    async run({ store, expect }) {
      await record(store, "c1", [makeEvent()]);
      const [first] = (await claim(store, "c1", 10, SHORT_LEASE_MS)) as [InboxEntry];
      expect(first.lastAttemptExpired ?? false).toBe(false);
      await waitPastLease(store, first);
      const [second] = (await claim(store, "c1", 10, LONG_LEASE_MS)) as [InboxEntry];
      expect(second.attempt).toBe(2);
      expect(second.lastAttemptExpired).toBe(true);
      expect(
        await store.inbox.fail({ ...ref(second), error: attemptError("handled failure"), retryInMs: 0 }),
      ).toBe("retry-scheduled");
      const [third] = (await claim(store, "c1")) as [InboxEntry];
      expect(third.attempt).toBe(3);
      expect(third.lastAttemptExpired ?? false).toBe(false);
    },
  },
  {
    id: "inbox.prune",
    title:
      "prune deletes completed entries older than olderThanMs (store clock), oldest first, at most limit; never pending, in-flight or dead ones",
    async run({ store, expect }) {
      await record(store, "c1", makeEvents(4));
      const claimed = await claim(store, "c1");
      const [a, b, c, d] = claimed as [InboxEntry, InboxEntry, InboxEntry, InboxEntry];
      expect(await store.inbox.complete({ entries: [ref(a), ref(b)] })).toEqual(["completed", "completed"]);
      expect(await store.inbox.fail({ ...ref(c), error: attemptError("fatal"), deadLetter: true })).toBe(
        "dead-lettered",
      );
      // d stays in flight; one more entry stays pending.
      await record(store, "c1", [makeEvent()]);
      expect(await store.inbox.prune({ olderThanMs: 60_000 })).toBe(0); // too young
      await sleep(300);
      expect(await store.inbox.prune({ olderThanMs: 200, limit: 1 })).toBe(1);
      expect(await store.inbox.prune({ olderThanMs: 200 })).toBe(1);
      expect(await store.inbox.prune({ olderThanMs: 200 })).toBe(0);
      expect(await store.inbox.stats()).toMatchObject({ completed: 0, dead: 1, inFlight: 1, pending: 1 });
      expect(await store.inbox.complete({ entries: [ref(d)] })).toEqual(["completed"]);
      await expect(store.inbox.prune({ olderThanMs: -1 })).rejects.toThrow();
    },
  },
];
