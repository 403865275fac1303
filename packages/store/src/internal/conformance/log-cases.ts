import type { EventEnvelope } from "@eventferry/core";
import { makeEvent, makeEvents, readAll, readIds } from "./helpers.js";
import type { ConformanceCase } from "./types.js";

const T0 = Date.parse("2024-03-01T10:00:00.000Z");
const MINUTE = 60_000;

/** Cases of `migrate`, `append` and `read`. */
export const logCases: readonly ConformanceCase[] = [
  {
    id: "migrate.idempotent",
    title: "migrate() runs again, and twice at once, without error",
    async run({ store, expect }) {
      await store.migrate();
      await Promise.all([store.migrate(), store.migrate()]);
      const e = makeEvent();
      expect(await store.append([e])).toEqual({ inserted: [e.id], duplicates: [] });
      expect(await readIds(store)).toEqual([e.id]);
    },
  },
  {
    id: "append.idempotent",
    title: "append is idempotent by event id and reports inserted and duplicate ids",
    async run({ store, expect }) {
      const [a, b, c] = makeEvents(3) as [EventEnvelope, EventEnvelope, EventEnvelope];
      expect(await store.append([a, b])).toEqual({ inserted: [a.id, b.id], duplicates: [] });
      expect(await store.append([b, c])).toEqual({ inserted: [c.id], duplicates: [b.id] });
      expect(await store.append([a])).toEqual({ inserted: [], duplicates: [a.id] });
      // A duplicate with different content changes nothing either.
      expect(await store.append([{ ...a, data: { changed: true } }])).toEqual({
        inserted: [],
        duplicates: [a.id],
      });
      const all = await readAll(store);
      expect(all.map((e) => e.id)).toEqual([a.id, b.id, c.id]);
      expect(all[0]?.data).toEqual(a.data);
    },
  },
  {
    id: "append.batch-order",
    title: "one append keeps input order in positions; events round-trip every field",
    async run({ store, expect }) {
      const rich = makeEvent({
        type: "order.created",
        key: "customer-7",
        priority: 1,
        schemaVersion: 2,
        data: { orderId: "o-1", total: 42.5, lines: [{ sku: "a", qty: 2 }], note: null },
        occurredAt: "2024-03-01T10:00:00.123Z",
        deliverAt: "2024-03-01T10:05:00.000Z",
        correlationId: "corr-1",
        causationId: "cause-1",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        metadata: { tenant: "t-1", source: "conformance" },
      });
      const batch = [makeEvent(), rich, makeEvent(), makeEvent(), makeEvent()];
      const result = await store.append(batch);
      expect(result.inserted).toEqual(batch.map((e) => e.id));
      const later = makeEvent();
      await store.append([later]);

      const all = await readAll(store);
      expect(all.map((e) => e.id)).toEqual([...batch, later].map((e) => e.id));
      expect(all[0]?.position).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < all.length; i++) {
        expect(all[i]?.position).toBeGreaterThan(all[i - 1]?.position as number);
      }
      for (const e of all) expect(Number.isNaN(Date.parse(e.recordedAt))).toBe(false);
      const { position: _p, recordedAt: _r, ...stored } = all[1] as (typeof all)[number];
      expect(stored).toEqual(rich);
    },
  },
  {
    id: "read.by-position",
    title: "read returns events after a position, in position order, across pages",
    async run({ store, expect }) {
      const first = makeEvents(5);
      const second = makeEvents(2);
      await store.append(first);
      await store.append(second);
      const all = await readAll(store);
      const ids = [...first, ...second].map((e) => e.id);
      expect(all.map((e) => e.id)).toEqual(ids);

      const p2 = all[1]?.position as number;
      expect(await readIds(store, { afterPosition: p2 })).toEqual(ids.slice(2));
      expect(await readIds(store, { afterPosition: all[6]?.position as number })).toEqual([]);
      expect(await readIds(store, { pageSize: 2 })).toEqual(ids);
      expect(await readIds(store, { afterPosition: p2, pageSize: 2 })).toEqual(ids.slice(2));
      expect(await readIds(store, { afterPosition: 0 })).toEqual(ids);
    },
  },
  {
    id: "read.by-type",
    title: "read filters by exact type names",
    async run({ store, expect }) {
      const events = [
        makeEvent({ type: "order.created" }),
        makeEvent({ type: "order.paid" }),
        makeEvent({ type: "user.created" }),
        makeEvent({ type: "order.created" }),
      ] as const;
      await store.append(events);
      expect(await readIds(store, { types: ["order.created"] })).toEqual([events[0].id, events[3].id]);
      expect(await readIds(store, { types: ["user.created", "order.paid"] })).toEqual([
        events[1].id,
        events[2].id,
      ]);
      expect(await readIds(store, { types: ["order.created"], pageSize: 1 })).toEqual([
        events[0].id,
        events[3].id,
      ]);
      expect(await readIds(store, { types: ["nothing.here"] })).toEqual([]);
    },
  },
  {
    id: "read.by-pattern",
    title: "read filters by a glob over types (* one segment, ** any depth)",
    async run({ store, expect }) {
      const events = [
        makeEvent({ type: "order.created" }),
        makeEvent({ type: "order.line.added" }),
        makeEvent({ type: "user.created" }),
        makeEvent({ type: "order.paid" }),
      ] as const;
      await store.append(events);
      const [created, lineAdded, userCreated, paid] = events.map((e) => e.id);
      expect(await readIds(store, { pattern: "order.*" })).toEqual([created, paid]);
      expect(await readIds(store, { pattern: "order.**" })).toEqual([created, lineAdded, paid]);
      expect(await readIds(store, { pattern: "*.created" })).toEqual([created, userCreated]);
      expect(await readIds(store, { pattern: "**" })).toEqual([created, lineAdded, userCreated, paid]);
      expect(await readIds(store, { pattern: "order.*", pageSize: 1 })).toEqual([created, paid]);
    },
  },
  {
    id: "read.by-key",
    title: "read filters by key, also combined with a type",
    async run({ store, expect }) {
      const events = [
        makeEvent({ key: "k1", type: "a.one" }),
        makeEvent({ key: "k2", type: "a.one" }),
        makeEvent({ key: "k1", type: "a.two" }),
        makeEvent({ type: "a.one" }),
      ] as const;
      await store.append(events);
      expect(await readIds(store, { key: "k1" })).toEqual([events[0].id, events[2].id]);
      expect(await readIds(store, { key: "k1", types: ["a.two"] })).toEqual([events[2].id]);
      expect(await readIds(store, { key: "k3" })).toEqual([]);
    },
  },
  {
    id: "read.by-time",
    title: "read filters by occurredAt: from inclusive, until exclusive",
    async run({ store, expect }) {
      const at = (m: number): string => new Date(T0 + m * MINUTE).toISOString();
      const events = [0, 1, 2, 3].map((m) => makeEvent({ occurredAt: at(m) }));
      await store.append(events);
      const ids = events.map((e) => e.id);
      expect(await readIds(store, { from: new Date(T0 + MINUTE) })).toEqual(ids.slice(1));
      expect(await readIds(store, { until: new Date(T0 + 2 * MINUTE) })).toEqual(ids.slice(0, 2));
      expect(await readIds(store, { from: new Date(T0 + MINUTE), until: new Date(T0 + 3 * MINUTE) })).toEqual(
        ids.slice(1, 3),
      );
      expect(await readIds(store, { from: new Date(T0 + 10 * MINUTE) })).toEqual([]);
    },
  },
  {
    id: "read.limit",
    title: "read stops after limit (also across pages); breaking out early leaves the store usable",
    async run({ store, expect }) {
      const events = makeEvents(5);
      await store.append(events);
      const ids = events.map((e) => e.id);
      const all = await readAll(store);
      expect(await readIds(store, { limit: 2 })).toEqual(ids.slice(0, 2));
      expect(await readIds(store, { limit: 3, pageSize: 1 })).toEqual(ids.slice(0, 3));
      expect(await readIds(store, { limit: 2, afterPosition: all[0]?.position as number })).toEqual(
        ids.slice(1, 3),
      );
      expect(await readIds(store, { limit: 10 })).toEqual(ids);
      expect(await readIds(store, { limit: 0 })).toEqual([]);

      let seen = 0;
      for await (const _ of store.read({ pageSize: 2 })) {
        seen++;
        if (seen === 1) break;
      }
      expect(seen).toBe(1);
      const more = makeEvent();
      await store.append([more]);
      expect(await readIds(store, { afterPosition: all[4]?.position as number })).toEqual([more.id]);
    },
  },
];
