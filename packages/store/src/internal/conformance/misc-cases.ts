import { isEventferryError } from "@eventferry/core";
import { LONG_LEASE_MS, makeEvent, record, sleep } from "./helpers.js";
import type { ConformanceCase } from "./types.js";

/** Cases of batches, schemas, health, close and waitForChange. */
export const miscCases: readonly ConformanceCase[] = [
  {
    id: "batch.lifecycle",
    title: "batches count members once each and report done when all finished",
    async run({ store, expect, id }) {
      const batchId = `batch-${id}`;
      const created = await store.batches.create({ id: batchId, total: 3, metadata: { flow: "checkout" } });
      expect(created).toMatchObject({ id: batchId, total: 3, completed: 0, failed: 0, done: false });
      expect(created.metadata).toEqual({ flow: "checkout" });
      expect(created.finishedAt).toBeUndefined();
      expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);
      // Creating again returns the existing batch unchanged.
      expect(await store.batches.create({ id: batchId, total: 99 })).toMatchObject({
        total: 3,
        completed: 0,
      });

      expect(await store.batches.complete({ id: batchId, memberId: "m1" })).toMatchObject({ completed: 1 });
      expect(await store.batches.complete({ id: batchId, memberId: "m1" })).toMatchObject({ completed: 1 });
      expect(await store.batches.complete({ id: batchId, memberId: "m2", outcome: "failed" })).toMatchObject({
        completed: 1,
        failed: 1,
        done: false,
      });
      expect(
        await store.batches.complete({ id: batchId, memberId: "m2", outcome: "completed" }),
      ).toMatchObject({
        completed: 1,
        failed: 1,
      });
      const done = await store.batches.complete({ id: batchId, memberId: "m3", outcome: "completed" });
      expect(done).toMatchObject({ completed: 2, failed: 1, done: true });
      expect(Number.isNaN(Date.parse(done.finishedAt as string))).toBe(false);
      expect(await store.batches.status({ id: batchId })).toEqual(done);
      expect(await store.batches.status({ id: `${batchId}-missing` })).toBeUndefined();
      const err = await store.batches.complete({ id: `${batchId}-missing`, memberId: "m1" }).catch((e) => e);
      expect(isEventferryError(err)).toBe(true);
      expect(err.code).toBe("VALIDATION_FAILED");
    },
  },
  {
    id: "schema.put-get-list",
    title: "schemas: identical re-put is a no-op, conflicting re-put is a ValidationError, latest by default",
    async run({ store, expect }) {
      const v1 = { type: "object", properties: { orderId: { type: "string" } }, required: ["orderId"] };
      const v2 = { type: "object", properties: { orderId: { type: "string" }, total: { type: "number" } } };
      await store.schemas.put({ type: "order.created", version: 1, schema: v1 });
      // Identical content, even with keys in another order.
      await store.schemas.put({
        type: "order.created",
        version: 1,
        schema: { required: ["orderId"], properties: { orderId: { type: "string" } }, type: "object" },
      });
      const err = await store.schemas
        .put({ type: "order.created", version: 1, schema: { type: "string" } })
        .catch((e) => e);
      expect(isEventferryError(err)).toBe(true);
      expect(err.code).toBe("VALIDATION_FAILED");
      expect(err.name).toBe("ValidationError");

      await store.schemas.put({ type: "order.created", version: 2, schema: v2 });
      await store.schemas.put({ type: "account.opened", version: 1, schema: { type: "object" } });

      const latest = await store.schemas.get({ type: "order.created" });
      expect(latest).toMatchObject({ type: "order.created", version: 2, schema: v2 });
      expect(Number.isNaN(Date.parse(latest?.createdAt as string))).toBe(false);
      expect((await store.schemas.get({ type: "order.created", version: 1 }))?.schema).toEqual(v1);
      expect(await store.schemas.get({ type: "order.created", version: 3 })).toBeUndefined();
      expect(await store.schemas.get({ type: "nothing.here" })).toBeUndefined();

      expect((await store.schemas.list()).map((s) => [s.type, s.version])).toEqual([
        ["account.opened", 1],
        ["order.created", 1],
        ["order.created", 2],
      ]);
      expect((await store.schemas.list({ type: "order.created" })).map((s) => s.version)).toEqual([1, 2]);
    },
  },
  {
    id: "health",
    title: "health reports healthy with the component name",
    async run({ store, expect }) {
      const report = await store.health();
      expect(report.status).toBe("healthy");
      expect(typeof report.component).toBe("string");
      expect(report.component.length).toBeGreaterThan(0);
      expect(report.reasons).toEqual([]);
      expect(typeof store.name).toBe("string");
      expect(typeof store.features.shared).toBe("boolean");
      expect(typeof store.features.crossProcessNotify).toBe("boolean");
    },
  },
  {
    id: "close.idempotent",
    title: "close is idempotent, wakes a blocked waitForChange, and later calls reject with CLOSED",
    async run({ store, expect }) {
      const started = Date.now();
      const waiting = store.waitForChange({ timeoutMs: 10_000 });
      await sleep(20);
      await store.close();
      await store.close();
      await waiting;
      expect(Date.now() - started).toBeLessThan(5_000);

      for (const call of [
        () => store.append([makeEvent()]),
        () => store.inbox.claim({ consumers: ["c"], limit: 1, leaseMs: LONG_LEASE_MS }),
        () => store.inbox.record({ entries: [{ consumer: "c", event: makeEvent(), maxAttempts: 1 }] }),
        () => store.outbox.add({ topic: "t", events: [makeEvent()] }),
      ]) {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isEventferryError(err)).toBe(true);
        expect((err as { code: string }).code).toBe("CLOSED");
      }
    },
  },
  {
    id: "wait-for-change",
    title: "waitForChange resolves soon after a record or outbox add, on abort, or after its timeout",
    async run({ store, expect }) {
      let started = Date.now();
      let waiting = store.waitForChange({ timeoutMs: 5_000 });
      await sleep(50);
      await record(store, "c", [makeEvent()]);
      await waiting;
      expect(Date.now() - started).toBeLessThan(2_000);

      started = Date.now();
      waiting = store.waitForChange({ timeoutMs: 5_000 });
      await sleep(50);
      await store.outbox.add({ topic: "t", events: [makeEvent()] });
      await waiting;
      expect(Date.now() - started).toBeLessThan(2_000);

      started = Date.now();
      const controller = new AbortController();
      waiting = store.waitForChange({ timeoutMs: 5_000, signal: controller.signal });
      await sleep(30);
      controller.abort();
      await waiting;
      expect(Date.now() - started).toBeLessThan(2_000);

      started = Date.now();
      await store.waitForChange({ timeoutMs: 5_000, signal: AbortSignal.abort() });
      expect(Date.now() - started).toBeLessThan(1_000);

      started = Date.now();
      await store.waitForChange({ timeoutMs: 150 });
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(2_000);
    },
  },
];
