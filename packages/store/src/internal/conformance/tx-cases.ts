import type { InboxEntry } from "../../store.js";
import {
  CHECK_LEASE_MS,
  claim,
  LONG_LEASE_MS,
  makeEvent,
  readIds,
  record,
  ref,
  waitPastLease,
} from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const C1 = "billing/send-invoice";
const TOPIC = "events";

/** Cases of `transaction`: commit, rollback, fencing inside a transaction. */
export const txCases: readonly ConformanceCase[] = [
  {
    id: "tx.commit",
    title:
      "complete, append, outbox.add (and the client's writes) inside a transaction are all visible after commit",
    async run({ store, expect, txWrite }) {
      await record(store, C1, [makeEvent()]);
      const [entry] = (await claim(store, C1)) as [InboxEntry];
      const appended = makeEvent({ type: "invoice.sent" });
      const outgoing = makeEvent({ type: "invoice.sent" });
      const result = await store.transaction(async (tx) => {
        expect(await tx.append([appended])).toEqual({ inserted: [appended.id], duplicates: [] });
        await tx.outbox.add({ topic: TOPIC, events: [outgoing] });
        expect(await tx.inbox.complete({ entries: [ref(entry)] })).toEqual(["completed"]);
        if (txWrite) await txWrite.write(tx.client, "tx.commit", "committed");
        return 42;
      });
      expect(result).toBe(42);
      expect(await readIds(store)).toEqual([appended.id]);
      expect(await store.outbox.pending()).toBe(1);
      const [row] = await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS });
      expect(row?.topic).toBe(TOPIC);
      expect(row?.event).toEqual(outgoing);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 0, completed: 1 });
      expect(await store.inbox.complete({ entries: [ref(entry)] })).toEqual(["lease-lost"]);
      if (txWrite) expect(await txWrite.read(store, "tx.commit")).toBe("committed");

      // Appending an id already in the log is a duplicate inside a transaction too.
      const again = await store.transaction((tx) => tx.append([appended]));
      expect(again).toEqual({ inserted: [], duplicates: [appended.id] });
    },
  },
  {
    id: "tx.rollback",
    title: "when fn throws, nothing it wrote is visible and the claimed entry stays in flight",
    async run({ store, expect, txWrite }) {
      const event = makeEvent();
      await record(store, C1, [event]);
      const [entry] = (await claim(store, C1, 10, CHECK_LEASE_MS)) as [InboxEntry];
      const appended = makeEvent();
      const boom = new Error("boom");
      await expect(
        store.transaction(async (tx) => {
          await tx.append([appended]);
          await tx.outbox.add({ topic: TOPIC, events: [makeEvent()] });
          expect(await tx.inbox.complete({ entries: [ref(entry)] })).toEqual(["completed"]);
          if (txWrite) await txWrite.write(tx.client, "tx.rollback", "should not stay");
          throw boom;
        }),
      ).rejects.toBe(boom);

      expect(await readIds(store)).toEqual([]);
      expect(await store.outbox.pending()).toBe(0);
      expect(await store.outbox.claim({ limit: 10, leaseMs: LONG_LEASE_MS })).toEqual([]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 0, inFlight: 1, completed: 0 });
      if (txWrite) expect(await txWrite.read(store, "tx.rollback")).toBeUndefined();

      // Still leased: not claimable now, claimable again (attempt 2) once the lease expires.
      expect(await claim(store, C1)).toEqual([]);
      await waitPastLease(store, entry);
      const [again] = (await claim(store, C1)) as [InboxEntry];
      expect(again?.id).toBe(entry.id);
      expect(again?.attempt).toBe(2);
      expect(await store.inbox.complete({ entries: [ref(again)] })).toEqual(["completed"]);
      // The log is still writable for the same id: the rolled-back append left nothing behind.
      expect(await store.append([appended])).toEqual({ inserted: [appended.id], duplicates: [] });
    },
  },
  {
    id: "tx.complete-fenced",
    title: "complete inside a transaction is fenced by the lease token like complete outside",
    async run({ store, expect }) {
      await record(store, C1, [makeEvent()]);
      const [old] = (await claim(store, C1, 10, 250)) as [InboxEntry];
      await waitPastLease(store, old);
      const [current] = (await claim(store, C1)) as [InboxEntry];
      const outcome = await store.transaction((tx) => tx.inbox.complete({ entries: [ref(old)] }));
      expect(outcome).toEqual(["lease-lost"]);
      expect(await store.inbox.stats()).toMatchObject({ inFlight: 1, completed: 0 });
      const fresh = await store.transaction((tx) => tx.inbox.complete({ entries: [ref(current)] }));
      expect(fresh).toEqual(["completed"]);
      expect(await store.inbox.stats()).toMatchObject({ inFlight: 0, completed: 1 });
    },
  },
];
