import type { EventEnvelope } from "@eventferry/core";
import { encodeEvent } from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import { createStoreTransport } from "@eventferry/store-postgres";
import { chunks, makeEvents } from "../workload.js";
import {
  CLAIM_LIMIT,
  closeContext,
  createRawInbox,
  insertRawInbox,
  openContext,
  type PgContext,
} from "./postgres.js";
import { BATCH, CONSUMER, type Run, type System, WARMUP } from "./scenario.js";

const TOPIC = "events";
const GROUP = "bench";
/** Handlers running at once in the Eventferry inbox. */
const CONCURRENCY = 20;

/**
 * `postgres.engine`: createInbox on the PostgreSQL store with the `store:` transport, N events
 * pre-published (untimed), a no-op handler, concurrency 20, timed until the store's stats show all
 * completed; vs the raw one-transaction claim loop (SELECT … FOR UPDATE SKIP LOCKED LIMIT 500 +
 * UPDATE) over N pre-inserted rows.
 */
export function postgresEngine(system: System, n: number): Run {
  let ctx: PgContext | undefined;
  let measured: () => Promise<void> = async () => {};
  return {
    async setup() {
      const c = await openContext(system, system === "eventferry");
      ctx = c;
      const store = c.store;
      if (store) {
        const transport = createStoreTransport(store, { pollIntervalMs: 1_000 });
        await c.pool.query(
          `INSERT INTO "${c.schema}"."ef_transport_groups" (topic, grp) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
          [TOPIC, GROUP],
        );
        const publish = async (events: readonly EventEnvelope[]): Promise<void> => {
          for (const batch of chunks(events, BATCH))
            await transport.publish(
              TOPIC,
              batch.map((e) => encodeEvent(e)),
            );
        };
        /** Starts an inbox, runs until it has handled `events` and the store shows `completed` entries done, stops it. */
        const drain = async (events: number, completed: number): Promise<void> => {
          let handled = 0;
          let reached: () => void = () => {};
          const allHandled = new Promise<void>((resolve) => {
            reached = resolve;
          });
          const inbox: Inbox = createInbox({
            store,
            transport,
            group: GROUP,
            topic: TOPIC,
            concurrency: CONCURRENCY,
            batchSize: CLAIM_LIMIT,
          }).handle("order.created", async () => {
            if (++handled >= events) reached();
          });
          await inbox.start();
          await allHandled;
          for (;;) {
            const stats = await store.inbox.stats();
            if (stats.completed >= completed) break;
            await new Promise((r) => setTimeout(r, 5));
          }
          await inbox.stop();
        };
        await publish(makeEvents(WARMUP));
        await drain(WARMUP, WARMUP);
        await publish(makeEvents(n));
        measured = () => drain(n, WARMUP + n);
      } else {
        const t = await createRawInbox(c);
        const insert = (events: readonly EventEnvelope[]): Promise<void> =>
          insertRawInbox(c, t, chunks(events, BATCH));
        const claimLoop = async (): Promise<number> => {
          let done = 0;
          const client = await c.pool.connect();
          try {
            // Without planner statistics (a freshly loaded table) PostgreSQL picks a bitmap scan and a
            // sort of every pending row for each batch; a tuned hand-written loop walks the partial index.
            await client.query("SET enable_bitmapscan = off");
            for (;;) {
              await client.query("BEGIN");
              const { rows } = await client.query<{ seq: string; event: EventEnvelope }>(
                `SELECT seq, event FROM ${t} WHERE consumer = $1 AND status = 'pending' ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
                [CONSUMER, CLAIM_LIMIT],
              );
              if (rows.length > 0) {
                const r = await client.query(
                  `UPDATE ${t} SET status = 'completed', attempt = attempt + 1, finished_at = now() WHERE seq = ANY($1::bigint[])`,
                  [rows.map((row) => row.seq)],
                );
                done += r.rowCount ?? 0;
              }
              await client.query("COMMIT");
              if (rows.length === 0) return done;
            }
          } finally {
            await client.query("RESET enable_bitmapscan");
            client.release();
          }
        };
        await insert(makeEvents(WARMUP));
        await claimLoop();
        await insert(makeEvents(n));
        measured = async () => {
          const done = await claimLoop();
          if (done !== n) throw new Error(`expected ${n} completed rows, got ${done}`);
        };
      }
    },
    async run() {
      await measured();
    },
    async teardown() {
      if (ctx) await closeContext(ctx);
    },
  };
}
