import { describe, type ExpectStatic, it } from "vitest";
import { admissionCases } from "../internal/conformance/admission-cases.js";
import { deadLetterCases } from "../internal/conformance/dead-letter-cases.js";
import { inboxCases } from "../internal/conformance/inbox-cases.js";
import { logCases } from "../internal/conformance/log-cases.js";
import { miscCases } from "../internal/conformance/misc-cases.js";
import { outboxCases } from "../internal/conformance/outbox-cases.js";
import { outboxHeldCases } from "../internal/conformance/outbox-held-cases.js";
import { txCases } from "../internal/conformance/tx-cases.js";
import type { ConformanceCase } from "../internal/conformance/types.js";
import type { Store } from "../store.js";

/** What `create` and `cleanup` get: an id unique per test (a safe SQL identifier, ≤ 44 chars). */
export interface StoreConformanceContext {
  /** Lower-case letters, digits and `_`, starting with a letter: use it as a table prefix or schema name. */
  readonly id: string;
}

/** How an adapter plugs into {@link describeStoreConformance}. */
export interface StoreConformanceOptions {
  /** A fresh, migrated store per test; `ctx.id` is unique per test (use it for a table prefix or schema). */
  create(ctx: StoreConformanceContext): Promise<Store> | Store;
  /**
   * Drops what the test created; then the suite closes the store. It may receive a store that is
   * already closed (the `close.*` cases close it), so drop through a connection of your own.
   */
  cleanup?(ctx: StoreConformanceContext & { readonly store: Store }): Promise<void>;
  /** Cases to skip, by case id, each with a written reason. Unknown ids are an error. */
  skip?: Record<string, string>;
  /**
   * Writes data through the transaction client and reads it back committed, so the suite can
   * prove that a rollback drops the handler's own writes too (`tx.commit`, `tx.rollback`).
   *
   * @example
   * // PostgreSQL (client is a PoolClient inside BEGIN)
   * txWrite: {
   *   write: (client, key, value) => (client as PoolClient).query("insert into kv values ($1, $2)", [key, value]).then(() => {}),
   *   read: async (_store, key) => (await pool.query("select v from kv where k = $1", [key])).rows[0]?.v,
   * }
   */
  txWrite?: {
    write(client: unknown, key: string, value: string): Promise<void>;
    read(store: Store, key: string): Promise<string | undefined>;
  };
  /**
   * Run the cases concurrently (each has its own store, so they may). Turn off for a backend
   * that cannot host several test stores at once.
   * @default true
   */
  concurrent?: boolean;
  /**
   * Whether the store offers the optional single-write path (`tx.admission`, see
   * `InboxAdmission`). When true, the `admit.*` cases run. When false, they are not registered
   * and the suite checks instead that `tx.admission` is absent (a store must not half-offer it).
   * @default true
   */
  admission?: boolean;
  /**
   * Whether the store offers the optional held outbox claim (`outbox.claimHeld`). When true, the
   * `outbox.held.*` cases run; when false, they are not registered and the suite checks instead
   * that `outbox.claimHeld` is absent.
   * @default false
   */
  outboxClaimHeld?: boolean;
  /** Per-case timeout. Cases take well under 2 s on a local database. @default 15_000 */
  timeoutMs?: number;
}

const cases: readonly ConformanceCase[] = [
  ...logCases,
  ...inboxCases,
  ...txCases,
  ...outboxCases,
  ...deadLetterCases,
  ...miscCases,
  ...admissionCases,
  ...outboxHeldCases,
];

/**
 * The stable ids of every conformance case, e.g. `inbox.fencing`. Test names start with the id;
 * `skip` takes them.
 */
export const storeConformanceCases: readonly string[] = Object.freeze(cases.map((c) => c.id));

const absentCase: ConformanceCase = {
  id: "admit.absent",
  title: "no admission in transactions",
  async run({ store, expect }) {
    await store.transaction(async (tx) => {
      expect(tx.admission).toBeUndefined();
    });
  },
};

const heldAbsentCase: ConformanceCase = {
  id: "outbox.held.absent",
  title: "no held outbox claims",
  async run({ store, expect }) {
    expect(store.outbox.claimHeld).toBeUndefined();
  },
};

let sequence = 0;

function testId(caseId: string): string {
  const slug = caseId
    .replace(/[^a-z0-9]+/gi, "_")
    .toLowerCase()
    .slice(0, 28);
  const random = Math.random().toString(36).slice(2, 8).padEnd(6, "0");
  sequence = (sequence + 1) % 1000;
  return `ef_${slug}_${sequence}${random}`;
}

/**
 * The store conformance suite: the executable specification of the {@link Store} contract.
 * Every adapter runs it against a real backend (one call site, `test/conformance.int.test.ts`);
 * the memory store runs it in its unit tests. Each case gets a fresh store from `create` and
 * asserts only through the public contract, so it holds for any adapter.
 *
 * Timing-dependent cases use short real leases and delays (250–300 ms) and read time only from
 * `store.now()`, so they work against a database's clock; every wait has a timeout.
 *
 * @example
 * // test/conformance.int.test.ts of an adapter
 * import { describeStoreConformance } from "@eventferry/store/testing";
 * describeStoreConformance("postgres", {
 *   create: async ({ id }) => { const s = createPostgresStore({ pool, schema: id }); await s.migrate(); return s; },
 *   cleanup: async ({ id }) => { await pool.query(`drop schema ${id} cascade`); },
 * });
 */
export function describeStoreConformance(name: string, options: StoreConformanceOptions): void {
  const skip = options.skip ?? {};
  for (const [id, reason] of Object.entries(skip)) {
    if (!storeConformanceCases.includes(id)) {
      throw new Error(`describeStoreConformance(${name}): unknown case id in skip: ${id}`);
    }
    if (typeof reason !== "string" || reason.trim() === "") {
      throw new Error(`describeStoreConformance(${name}): skipping ${id} needs a written reason`);
    }
  }
  const group = options.concurrent === false ? describe : describe.concurrent;
  const timeout = options.timeoutMs ?? 15_000;

  const admissionOffered = options.admission ?? true;
  const heldOffered = options.outboxClaimHeld ?? false;
  const selected = cases.filter(
    (c) => (admissionOffered || !admissionCases.includes(c)) && (heldOffered || !outboxHeldCases.includes(c)),
  );
  const run =
    (c: ConformanceCase) =>
    async ({ expect }: { expect: ExpectStatic }) => {
      const id = testId(c.id);
      const store = await options.create({ id });
      try {
        await c.run({ store, expect, id, txWrite: options.txWrite });
      } finally {
        try {
          await options.cleanup?.({ id, store });
        } finally {
          await store.close();
        }
      }
    };

  group(`store conformance: ${name}`, () => {
    if (!admissionOffered) {
      it(
        "admit.absent: a store that declares no admission has none in its transactions",
        { timeout },
        run(absentCase),
      );
    }
    if (!heldOffered) {
      it(
        "outbox.held.absent: a store that declares no held outbox claims has no claimHeld",
        { timeout },
        run(heldAbsentCase),
      );
    }
    for (const c of selected) {
      const reason = skip[c.id];
      if (reason !== undefined) {
        it.skip(`${c.id}: ${c.title} (skipped: ${reason})`, () => {});
        continue;
      }
      it(`${c.id}: ${c.title}`, { timeout }, run(c));
    }
  });
}
