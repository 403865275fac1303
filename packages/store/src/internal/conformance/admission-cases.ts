import type { EventEnvelope } from "@eventferry/core";
import type { AdmitOutcome, InboxAdmission, InboxEntry, Store, StoreTx } from "../../store.js";
import {
  attemptError,
  claim,
  makeEvent,
  readIds,
  record,
  storeMs,
  WAIT_MS,
  waitForStoreTime,
} from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const C1 = "billing/send-invoice";
const C2 = "billing/notify";

function admission(tx: StoreTx): InboxAdmission {
  if (!tx.admission) throw new Error("this store offers no admission (tx.admission is undefined)");
  return tx.admission;
}

function admit(store: Store, consumer: string, events: readonly EventEnvelope[], maxAttempts = 5) {
  return store.transaction((tx) =>
    admission(tx).admit({ entries: events.map((event) => ({ consumer, event, maxAttempts })) }),
  );
}

const kinds = (outcomes: readonly AdmitOutcome[]): string[] => outcomes.map((o) => o.kind);

/**
 * Cases of the optional single-write path ({@link InboxAdmission}); they run only for a store that
 * declares it (`describeStoreConformance(…, { admission: true })`, the default).
 */
export const admissionCases: readonly ConformanceCase[] = [
  {
    id: "admit.run",
    title: "a due event is inserted completed (run); a second admission or record of it is a duplicate",
    async run({ store, expect }) {
      const event = makeEvent();
      const other = makeEvent();
      const first = await admit(store, C1, [event, other]);
      expect(kinds(first)).toEqual(["run", "run"]);
      expect(first[0]?.kind === "run" && first[0].id !== (first[1] as { id: string }).id).toBe(true);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, completed: 2 });
      expect(await claim(store, C1)).toEqual([]);
      expect(kinds(await admit(store, C1, [event]))).toEqual(["duplicate"]);
      expect(await record(store, C1, [event])).toEqual({ inserted: 0, duplicates: 1 });
      // Per consumer: another consumer admits the same event anew.
      expect(kinds(await admit(store, C2, [event]))).toEqual(["run"]);
      // The same pair twice in one call: the second is a duplicate.
      const twice = makeEvent();
      expect(kinds(await admit(store, C1, [twice, twice]))).toEqual(["run", "duplicate"]);
    },
  },
  {
    id: "admit.not-due-and-keys",
    title:
      "a delayed event is recorded pending; a key with an unfinished entry (stored or earlier in the call) is recorded, not run",
    async run({ store, expect }) {
      const now = await storeMs(store);
      const later = new Date(now + 60_000).toISOString();
      const delayed = makeEvent({ key: "k1", deliverAt: later });
      const afterDelayed = makeEvent({ key: "k1" });
      const otherKey = makeEvent({ key: "k2" });
      const unkeyed = makeEvent();
      expect(kinds(await admit(store, C1, [delayed, afterDelayed, otherKey, unkeyed]))).toEqual([
        "recorded",
        "recorded",
        "run",
        "run",
      ]);
      // A key with a stored pending entry blocks a new admission of that key.
      const stored = makeEvent({ key: "k3" });
      await record(store, C1, [stored]);
      const behind = makeEvent({ key: "k3" });
      expect(kinds(await admit(store, C1, [behind]))).toEqual(["recorded"]);
      // Same key for another consumer is independent.
      expect(kinds(await admit(store, C2, [makeEvent({ key: "k3" })]))).toEqual(["run"]);
      // The recorded entries are claimed in key order.
      const claimed = await claim(store, C1);
      expect(claimed.map((e) => e.event.id)).toEqual([stored.id]);
      expect(await store.inbox.stats({ consumers: [C1] })).toMatchObject({
        pending: 3,
        inFlight: 1,
        completed: 2,
      });
    },
  },
  {
    id: "admit.rollback",
    title: "an admission whose transaction rolls back leaves nothing: the event is admitted anew later",
    async run({ store, expect }) {
      const event = makeEvent();
      const boom = new Error("boom");
      await expect(
        store.transaction(async (tx) => {
          expect(
            kinds(await admission(tx).admit({ entries: [{ consumer: C1, event, maxAttempts: 3 }] })),
          ).toEqual(["run"]);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, completed: 0 });
      expect(kinds(await admit(store, C1, [event]))).toEqual(["run"]);
    },
  },
  {
    id: "admit.reopen",
    title:
      "reopen: a failed run is retried after retryInMs at attempt 2 with attempt 1 in its history; a not-run one is pending at attempt 0; maxAttempts 1 dead-letters",
    async run({ store, expect }) {
      const failed = makeEvent();
      const notRun = makeEvent();
      const last = makeEvent();
      const start = await storeMs(store);
      const outcomes = await store.transaction(async (tx) => {
        const a = admission(tx);
        const admitted = await a.admit({
          entries: [
            { consumer: C1, event: failed, maxAttempts: 3 },
            { consumer: C1, event: notRun, maxAttempts: 3 },
            { consumer: C2, event: last, maxAttempts: 1 },
          ],
        });
        const ids = admitted.map((o) => (o.kind === "run" ? o.id : ""));
        expect(ids.every((id) => id !== "")).toBe(true);
        return a.reopen({
          entries: [
            { id: ids[0] as string, error: attemptError("first try failed"), retryInMs: WAIT_MS },
            { id: ids[1] as string },
            { id: ids[2] as string, error: attemptError("fatal") },
            { id: "00000000-0000-7000-8000-000000000000" },
          ],
        });
      });
      expect(outcomes).toEqual(["retry-scheduled", "requeued", "dead-lettered", "unknown"]);
      // The not-run entry is claimable at once, at attempt 1; the failed one only after WAIT_MS.
      const first = await claim(store, C1);
      expect(first.map((e) => [e.event.id, e.attempt])).toEqual([[notRun.id, 1]]);
      await waitForStoreTime(store, start + WAIT_MS);
      const [retried] = (await claim(store, C1)) as [InboxEntry];
      expect(retried.event.id).toBe(failed.id);
      expect(retried.attempt).toBe(2);
      const [dead] = await store.deadLetters.list({ consumer: C2 });
      expect(dead?.event?.id).toBe(last.id);
      expect(dead?.reason).toBe("max attempts (1) reached");
      expect(dead?.history.map((h) => [h.attempt, h.error.message])).toEqual([[1, "fatal"]]);
    },
  },
  {
    id: "admit.savepoint",
    title: "writes inside a savepoint that throws are undone; the transaction goes on and commits the rest",
    async run({ store, expect, txWrite }) {
      const kept = makeEvent({ type: "invoice.sent" });
      const dropped = makeEvent({ type: "invoice.sent" });
      const boom = new Error("handler failed");
      await store.transaction(async (tx) => {
        const a = admission(tx);
        await a.savepoint(async (nested) => {
          await nested.append([kept]);
          if (txWrite) await txWrite.write(nested.client, "sp.kept", "kept");
        });
        await expect(
          a.savepoint(async (nested) => {
            await nested.append([dropped]);
            if (txWrite) await txWrite.write(nested.client, "sp.dropped", "dropped");
            throw boom;
          }),
        ).rejects.toBe(boom);
        // A savepoint whose fn writes nothing and throws changes nothing either.
        await expect(
          a.savepoint(async () => {
            throw boom;
          }),
        ).rejects.toBe(boom);
      });
      expect(await readIds(store)).toEqual([kept.id]);
      if (txWrite) {
        expect(await txWrite.read(store, "sp.kept")).toBe("kept");
        expect(await txWrite.read(store, "sp.dropped")).toBeUndefined();
      }
    },
  },
  {
    id: "admit.concurrent",
    title:
      "two transactions admitting the same event at once: exactly one runs it, the other sees a duplicate",
    async run({ store, expect }) {
      const event = makeEvent({ key: "k1" });
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const first = store.transaction(async (tx) => {
        const outcome = await admission(tx).admit({ entries: [{ consumer: C1, event, maxAttempts: 3 }] });
        await held;
        return outcome;
      });
      // Give the first transaction time to insert before the second starts.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = admit(store, C1, [event]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      release();
      const results = [kinds(await first), kinds(await second)];
      expect(results).toEqual([["run"], ["duplicate"]]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, completed: 1 });
    },
  },
];
