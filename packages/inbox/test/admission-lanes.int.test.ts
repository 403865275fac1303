// How admission lanes group entries into transactions (on SQLite, a store with `tx.admission`,
// imported from its sources as in admission-path.int.test.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEnvelope, defineEvent, silentLogger, uuidv7 } from "@eventferry/core";
import type { InboxRecordInput, Store } from "@eventferry/store";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createSqliteStore } from "../../store-sqlite/src/index.js";
import { AdmissionLanes } from "../src/internal/admission.js";

const dir = mkdtempSync(join(tmpdir(), "ef-inbox-lanes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const Tick = defineEvent("tick", z.object({ n: z.number() }));
const stores: Store[] = [];
afterEach(async () => {
  while (stores.length) await stores.pop()?.close();
});

/** A store whose transactions take `holdMs` more and are counted (and their overlap). */
async function slowStore(holdMs: number) {
  const store = createSqliteStore({ path: join(dir, `${uuidv7()}.db`) });
  await store.migrate();
  stores.push(store);
  const stats = { transactions: 0, running: 0, maxRunning: 0, sizes: [] as number[] };
  const transaction = store.transaction.bind(store);
  store.transaction = (async (fn: Parameters<typeof transaction>[0]) => {
    stats.transactions++;
    stats.running++;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    try {
      return await transaction(async (tx) => {
        // The store may hand out the same admission object each time: wrap it once.
        const admission = tx.admission as (typeof tx.admission & { counted?: boolean }) | undefined;
        if (admission && !admission.counted) {
          const admit = admission.admit.bind(admission);
          admission.counted = true;
          admission.admit = async (params) => {
            stats.sizes.push(params.entries.length);
            return admit(params);
          };
        }
        const result = await fn(tx);
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        return result;
      });
    } finally {
      stats.running--;
    }
  }) as typeof store.transaction;
  return { store, stats };
}

function lanesOn(store: Store, lanes = 4): AdmissionLanes {
  return new AdmissionLanes({
    store,
    byConsumer: new Map(), // no handler runs here: entries are recorded and reopened for the dispatcher
    lanes,
    maxChunk: 500,
    topic: "t",
    group: "g",
    logger: silentLogger,
    hook: async () => {},
    isRunning: () => true,
    track: () => () => {},
    wakeRelay: () => {},
    noteDue: () => {},
  });
}

const entry = (n: number, key?: string): InboxRecordInput => ({
  consumer: "g:h",
  event: createEnvelope(Tick, { n }, key === undefined ? {} : { key }),
  maxAttempts: 3,
});

describe("admission lanes", () => {
  it("under light load, entries without a key wait for the running transaction and commit together in the next", async () => {
    const { store, stats } = await slowStore(40);
    const lanes = lanesOn(store);
    const first = lanes.submit([entry(0)]);
    await new Promise((resolve) => setTimeout(resolve, 5)); // lane 0's transaction is running
    const rest = Array.from({ length: 10 }, (_, i) => lanes.submit([entry(i + 1)]));
    await Promise.all([first, ...rest]);
    expect(stats.sizes).toEqual([1, 10]);
    expect(stats.maxRunning).toBe(1);
  });

  it("once a busy lane has 64 entries waiting, further ones go to the next lane and commit in parallel", async () => {
    const { store, stats } = await slowStore(40);
    const lanes = lanesOn(store);
    const first = lanes.submit([entry(0)]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const rest = Array.from({ length: 150 }, (_, i) => lanes.submit([entry(i + 1)]));
    await Promise.all([first, ...rest]);
    expect(stats.sizes.reduce((a, b) => a + b, 0)).toBe(151);
    expect(Math.max(...stats.sizes)).toBeLessThanOrEqual(64);
    expect(stats.maxRunning).toBeGreaterThanOrEqual(2);
  });

  it("entries of one key keep to one lane, in order, whatever the load", async () => {
    const { store, stats } = await slowStore(10);
    const lanes = lanesOn(store);
    await Promise.all(Array.from({ length: 100 }, (_, i) => lanes.submit([entry(i, "k")])));
    expect(stats.maxRunning).toBe(1);
    const entries = await store.inbox.claim({ consumers: ["g:h"], limit: 200, leaseMs: 1_000 });
    expect(entries.map((e) => (e.event.data as { n: number }).n)).toEqual([0]); // the key's head only
  });
});
