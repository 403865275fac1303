import type { InboxEntry } from "../../store.js";
import { attemptError, claim, deadLetterEvent, makeEvent, record, ref, unknownId } from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const C1 = "billing/send-invoice";
const C2 = "shipping/reserve";

/** Cases of dead letters: list, get, retry, purge, add. */
export const deadLetterCases: readonly ConformanceCase[] = [
  {
    id: "dead.list-get",
    title: "list filters by consumer and type and pages by id; get returns one or undefined",
    async run({ store, expect }) {
      const e1 = makeEvent({ type: "a.one" });
      const e2 = makeEvent({ type: "b.two" });
      const d1 = await deadLetterEvent(store, C1, e1, "reason one");
      const d2 = await deadLetterEvent(store, C1, e2, "reason two");
      const d3 = await store.deadLetters.add({
        consumer: C2,
        raw: "%%%",
        reason: "undecodable",
        error: attemptError("bad json"),
      });

      const all = await store.deadLetters.list();
      expect(new Set(all.map((d) => d.id))).toEqual(new Set([d1, d2, d3]));
      expect(new Set((await store.deadLetters.list({ consumer: C1 })).map((d) => d.id))).toEqual(
        new Set([d1, d2]),
      );
      expect((await store.deadLetters.list({ consumer: C2 })).map((d) => d.id)).toEqual([d3]);
      expect((await store.deadLetters.list({ type: "b.two" })).map((d) => d.id)).toEqual([d2]);
      expect(await store.deadLetters.list({ consumer: "nobody" })).toEqual([]);

      const page1 = await store.deadLetters.list({ limit: 2 });
      expect(page1).toHaveLength(2);
      const page2 = await store.deadLetters.list({ after: page1[1]?.id, limit: 2 });
      expect(page2).toHaveLength(1);
      expect([...page1, ...page2].map((d) => d.id)).toEqual(all.map((d) => d.id));
      expect(await store.deadLetters.list({ after: page2[0]?.id })).toEqual([]);

      const one = await store.deadLetters.get({ id: d1 });
      expect(one).toMatchObject({ id: d1, consumer: C1, reason: "reason one", attempts: 1 });
      expect(one?.event).toEqual(e1);
      expect(one?.error.message).toBe(`failed ${e1.id}`);
      expect(one?.history).toHaveLength(1);
      expect(Number.isNaN(Date.parse(one?.deadAt as string))).toBe(false);
      expect(await store.deadLetters.get({ id: unknownId() })).toBeUndefined();
    },
  },
  {
    id: "dead.retry",
    title: "retry puts a dead entry back to pending with attempts reset, claimable now",
    async run({ store, expect }) {
      const event = makeEvent();
      await record(store, C1, [event], 2);
      const [a1] = (await claim(store, C1)) as [InboxEntry];
      await store.inbox.fail({ ...ref(a1), error: attemptError("1"), retryInMs: 0 });
      const [a2] = (await claim(store, C1)) as [InboxEntry];
      expect(await store.inbox.fail({ ...ref(a2), error: attemptError("2"), deadLetter: true })).toBe(
        "dead-lettered",
      );
      expect((await store.deadLetters.get({ id: a2.id }))?.attempts).toBe(2);

      expect(await store.deadLetters.retry({ ids: [a2.id, unknownId()] })).toEqual([a2.id]);
      expect(await store.deadLetters.get({ id: a2.id })).toBeUndefined();
      expect(await store.deadLetters.list()).toEqual([]);
      expect(await store.inbox.stats()).toMatchObject({ pending: 1, scheduled: 0, dead: 0 });
      expect(await store.deadLetters.retry({ ids: [a2.id] })).toEqual([]);

      const [again] = (await claim(store, C1)) as [InboxEntry];
      expect(again).toBeDefined();
      expect(again.id).toBe(a2.id);
      expect(again.event).toEqual(event);
      expect(again.attempt).toBe(1);
      expect(again.maxAttempts).toBe(2);
      // Attempts were reset: this failure schedules a retry instead of dead-lettering.
      expect(await store.inbox.fail({ ...ref(again), error: attemptError("3"), retryInMs: 0 })).toBe(
        "retry-scheduled",
      );

      // A retried entry takes its place in its key's record order again: it blocks later entries.
      const k1 = makeEvent({ key: "k" });
      const k2 = makeEvent({ key: "k" });
      await record(store, C2, [k1, k2], 1);
      const [first] = (await claim(store, C2)) as [InboxEntry];
      expect(first.event.id).toBe(k1.id);
      await store.inbox.fail({ ...ref(first), error: attemptError("k"), deadLetter: true });
      expect(await store.deadLetters.retry({ ids: [first.id] })).toEqual([first.id]);
      const [retried] = (await claim(store, C2)) as [InboxEntry];
      expect(retried?.event.id).toBe(k1.id);
      expect(await claim(store, C2)).toEqual([]);
      await store.inbox.complete({ entries: [ref(retried)] });
      expect((await claim(store, C2)).map((e) => e.event.id)).toEqual([k2.id]);
    },
  },
  {
    id: "dead.purge",
    title: "purge deletes by ids, by consumer, or all; the pair is forgotten",
    async run({ store, expect }) {
      const e1 = makeEvent();
      const d1 = await deadLetterEvent(store, C1, e1);
      const d2 = await deadLetterEvent(store, C1, makeEvent());
      const d3 = await deadLetterEvent(store, C2, makeEvent());
      await store.deadLetters.add({
        consumer: C2,
        raw: "x",
        reason: "undecodable",
        error: attemptError("x"),
      });
      expect(await store.inbox.stats()).toMatchObject({ dead: 4 });

      expect(await store.deadLetters.purge({ ids: [d1, unknownId()] })).toBe(1);
      expect(await store.deadLetters.get({ id: d1 })).toBeUndefined();
      expect(await store.deadLetters.purge({ ids: [d3], consumer: C1 })).toBe(0);
      expect(await store.deadLetters.purge({ consumer: C1 })).toBe(1);
      expect(await store.deadLetters.get({ id: d2 })).toBeUndefined();
      expect(await store.deadLetters.list()).toHaveLength(2);
      expect(await store.deadLetters.purge()).toBe(2);
      expect(await store.deadLetters.list()).toEqual([]);
      expect(await store.inbox.stats()).toMatchObject({ dead: 0 });

      expect(await record(store, C1, [e1])).toEqual({ inserted: 1, duplicates: 0 });
    },
  },
  {
    id: "dead.nul",
    title:
      "a raw payload, reason or error holding U+0000 (binary garbage) is stored readable — kept, or with U+FFFD in its place — and a failure with such an error is recorded",
    async run({ store, expect }) {
      const nul = "\u0000";
      const readable = (text: string | undefined, expected: string): boolean =>
        text === expected || text === expected.replaceAll(nul, "\ufffd");
      const id = await store.deadLetters.add({
        consumer: C1,
        raw: `\u00ff${nul}garbage${nul}`,
        reason: `undecodable: byte ${nul}`,
        error: attemptError(`Unexpected token ${nul} in JSON`),
      });
      const got = await store.deadLetters.get({ id });
      expect(readable(got?.raw, `\u00ff${nul}garbage${nul}`)).toBe(true);
      expect(readable(got?.reason, `undecodable: byte ${nul}`)).toBe(true);
      expect(readable(got?.error?.message, `Unexpected token ${nul} in JSON`)).toBe(true);

      const event = makeEvent();
      await record(store, C1, [event], 1);
      const [entry] = await claim(store, C1);
      expect(
        await store.inbox.fail({
          ...ref(entry as InboxEntry),
          error: attemptError(`handler quoted ${nul}`),
          deadLetter: true,
          reason: `bad ${nul} input`,
        }),
      ).toBe("dead-lettered");
      const [dead] = (await store.deadLetters.list({ consumer: C1 })).filter((d) => d.event?.id === event.id);
      expect(readable(dead?.reason, `bad ${nul} input`)).toBe(true);
      expect(readable(dead?.error?.message, `handler quoted ${nul}`)).toBe(true);
    },
  },
  {
    id: "dead.add-raw",
    title: "add records an undecodable message (raw + reason) or an unhandled event; neither can be retried",
    async run({ store, expect }) {
      const error = attemptError("Unexpected token % in JSON");
      const rawId = await store.deadLetters.add({
        consumer: C1,
        raw: "%not json",
        reason: "undecodable: Unexpected token",
        error,
      });
      expect(typeof rawId).toBe("string");
      expect(rawId.length).toBeGreaterThan(0);
      const raw = await store.deadLetters.get({ id: rawId });
      expect(raw).toMatchObject({
        id: rawId,
        consumer: C1,
        raw: "%not json",
        reason: "undecodable: Unexpected token",
        error,
        attempts: 0,
        history: [],
      });
      expect(raw?.event).toBeUndefined();
      expect(Number.isNaN(Date.parse(raw?.deadAt as string))).toBe(false);

      const event = makeEvent({ type: "unknown.type" });
      const eventId = await store.deadLetters.add({
        consumer: C1,
        event,
        reason: "unknown event type",
        error: attemptError("no handler"),
      });
      expect(eventId).not.toBe(rawId);
      const withEvent = await store.deadLetters.get({ id: eventId });
      expect(withEvent?.event).toEqual(event);
      expect(withEvent?.raw).toBeUndefined();
      expect((await store.deadLetters.list({ type: "unknown.type" })).map((d) => d.id)).toEqual([eventId]);

      expect(await store.deadLetters.retry({ ids: [rawId, eventId] })).toEqual([]);
      expect(await store.deadLetters.list()).toHaveLength(2);
      expect(await store.inbox.stats({ consumers: [C1] })).toMatchObject({ dead: 2, pending: 0 });
      expect(await claim(store, C1)).toEqual([]);
    },
  },
];
