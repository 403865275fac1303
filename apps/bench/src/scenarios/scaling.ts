/**
 * Scaling of the Eventferry inbox end to end (Redis Streams → PostgreSQL, the `e2e.redis-postgres`
 * pipeline and settings): the same run at N = 10k, 100k and 1M shows whether cost grows linearly
 * and memory stays flat. Unlike `e2e.*`, events are generated batch by batch while publishing (the
 * process never holds all N), so peak RSS is the pipeline's own.
 *
 * - `scale.redis-postgres`: producer and consumer together, timed from the first publish until all
 *   N are completed in the store.
 * - `scale.redis-postgres.backlog`: all N published first (untimed; the stream holds the backlog),
 *   then the inbox started and timed until all N are completed.
 */
import { randomBytes } from "node:crypto";
import { type EventEnvelope, encodeEvent, silentLogger } from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import { createPostgresStore } from "@eventferry/store-postgres";
import { createRedisTransport } from "@eventferry/transport-redis";
import { makeEvents } from "../workload.js";
import { dropRedisKeys, dropSchema, REDIS_URL } from "./cleanup.js";
import { waitFor } from "./peers.js";
import { POSTGRES_URL } from "./postgres.js";
import { BATCH, type Run, type System, WARMUP } from "./scenario.js";

const TOPIC = "orders";
const GROUP = "bench";

/** The inbox settings of `e2e.*` (concurrency 20, batchSize 500). */
const INBOX = { concurrency: 20, batchSize: 500 } as const;

function scalingRun(n: number, backlog: boolean): Run {
  const schema = `bench_scale_${process.pid}_${randomBytes(3).toString("hex")}`;
  const prefix = `bench-scale-${randomBytes(3).toString("hex")}`;
  const store = createPostgresStore({ url: POSTGRES_URL, schema, poolSize: 10, listen: true });
  const transport = createRedisTransport({ url: REDIS_URL, prefix });
  let inbox: Inbox | undefined;
  let handled = 0;
  const publish = async (count: number) => {
    for (let done = 0; done < count; done += BATCH) {
      const batch: EventEnvelope[] = makeEvents(Math.min(BATCH, count - done));
      await transport.publish(
        TOPIC,
        batch.map((e) => encodeEvent(e)),
      );
    }
  };
  const completed = async (count: number) => (await store.inbox.stats()).completed >= count;
  const start = async () => {
    inbox = createInbox({
      store,
      transport,
      group: GROUP,
      topic: TOPIC,
      ...INBOX,
      logger: silentLogger,
    }).handle("order.created", async () => {
      handled++;
    });
    await inbox.start();
  };
  return {
    async setup() {
      await store.migrate();
      await start();
      await publish(WARMUP);
      await waitFor(() => completed(WARMUP), 5, 120_000);
      if (backlog) {
        // Stop the consumer (its group stays), publish the whole backlog, then time the drain.
        await inbox?.stop({ timeout: 5_000 });
        // A blocking XREADGROUP (blockMs 1 s) of the stopped subscription may still be open; entries
        // published into it would go to the stopped consumer and wait out the 30 s ack timeout.
        await new Promise((r) => setTimeout(r, 1_500));
        await publish(n);
      }
      handled = 0;
    },
    async run() {
      if (backlog) {
        await start();
      } else {
        await publish(n);
      }
      await waitFor(() => handled >= n, 5, 3_600_000);
      await waitFor(() => completed(WARMUP + n), 5, 600_000);
    },
    async teardown() {
      await inbox?.stop({ timeout: 5_000 });
      await transport.close();
      await store.close();
      await dropRedisKeys(`${prefix}:*`);
      await dropSchema(schema);
    },
  };
}

/** `scale.redis-postgres`: producer and consumer together, events generated while publishing. */
export function scaleRedisPostgres(system: System, n: number): Run {
  if (system !== "eventferry") throw new Error("the scaling scenarios run Eventferry only");
  return scalingRun(n, false);
}

/** `scale.redis-postgres.backlog`: N published first (untimed), then the drain is timed. */
export function scaleRedisPostgresBacklog(system: System, n: number): Run {
  if (system !== "eventferry") throw new Error("the scaling scenarios run Eventferry only");
  return scalingRun(n, true);
}
