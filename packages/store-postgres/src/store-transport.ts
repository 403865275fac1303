import {
  ConfigError,
  componentMessage,
  type Delivery,
  type EncodedEvent,
  EventferryError,
  type HealthReport,
  isEventferryError,
  isValidTopic,
  PublishError,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  type TransportFeatures,
  ValidationError,
} from "@eventferry/core";
import type { Store } from "@eventferry/store";
import { toStoreError } from "./classify-error.js";
import { type TableNames, tableNames } from "./internal/names.js";
import type { PostgresStore } from "./postgres-store.js";

const COMPONENT = "transport-store-postgres";

function isPostgresStore(store: Store): store is PostgresStore {
  const s = store as Partial<PostgresStore> | undefined;
  return (
    s?.name === "postgres" &&
    typeof s.schema === "string" &&
    typeof s.tablePrefix === "string" &&
    s.pool !== undefined
  );
}

/** Options of {@link createStoreTransport}. */
export interface StoreTransportOptions {
  /**
   * Longest idle wait between fetches when no NOTIFY arrives (also bounds how late an expired
   * lease or a delayed nack is noticed when the next due time is unknown). @default 1_000
   */
  pollIntervalMs?: number;
}

interface FetchedRow {
  seq: string;
  event_id: string;
  type: string;
  key: string | null;
  payload: string;
  fields: boolean;
  attempt: number;
  lease_token: string;
}

function closedError(): EventferryError {
  return new EventferryError("CLOSED", componentMessage(COMPONENT, "the transport is closed"));
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/**
 * The `store:` transport on PostgreSQL: the database is the queue (as in pg-boss). A publish
 * writes one row per (message, subscribed group) in one statement and NOTIFYs; subscribers claim
 * rows with `FOR UPDATE SKIP LOCKED` in publish order, woken by the store's LISTEN connection and
 * polling as the fallback. Ack deletes the row; nack (optionally delayed) makes it due again; an
 * un-acked row's lease ends after `ackTimeoutMs` and another subscriber of the group gets it.
 *
 * The transport uses the store's pool and schema (run `store.migrate()` first); `close()` closes
 * its subscriptions and never the store.
 *
 * @example
 * const store = createPostgresStore({ url });
 * await store.migrate();
 * const transport = createStoreTransport(store);
 * const sub = await transport.subscribe("orders", { group: "billing" });
 */
export function createStoreTransport(store: Store, options: StoreTransportOptions = {}): Transport {
  if (!isPostgresStore(store)) {
    throw new ConfigError(
      componentMessage(COMPONENT, "createStoreTransport needs a store made by @eventferry/store-postgres"),
      { problems: ["store is not a PostgreSQL store"] },
    );
  }
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs <= 0) {
    throw new ValidationError(
      componentMessage(COMPONENT, `pollIntervalMs must be > 0, got ${String(pollIntervalMs)}`),
    );
  }
  const t: TableNames = tableNames(store.schema, store.tablePrefix);
  const pool = store.pool;
  const subscriptions = new Set<PgSubscription>();
  let closed = false;

  const query = async <R>(
    operation: string,
    text: string,
    values: unknown[],
    name?: string,
  ): Promise<R[]> => {
    try {
      const result = await pool.query(name ? { name, text, values } : { text, values });
      return result.rows as R[];
    } catch (error) {
      throw toStoreError(error, operation);
    }
  };

  const fetchSql = `WITH c AS MATERIALIZED (
  SELECT seq FROM ${t.transportMessages}
   WHERE topic = $1 AND grp = $2 AND due_at <= now()
     AND (lease_expires_at IS NULL OR lease_expires_at <= now())
   ORDER BY seq
   LIMIT $3
   FOR UPDATE SKIP LOCKED)
UPDATE ${t.transportMessages} m
   SET attempt = m.attempt + 1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + $4::float8 * interval '1 millisecond', consumer = $5
  FROM c WHERE m.seq = c.seq
RETURNING m.seq, m.event_id, m.type, m.key, m.payload, m.fields, m.attempt, m.lease_token`;

  const settle = async (
    refs: readonly { seq: string; token: string }[],
    delayMs: number | undefined,
    operation: string,
  ): Promise<void> => {
    if (refs.length === 0) return;
    const seqs = refs.map((r) => r.seq);
    const tokens = refs.map((r) => r.token);
    if (delayMs === undefined) {
      await query(
        operation,
        `DELETE FROM ${t.transportMessages} m USING unnest($1::bigint[], $2::uuid[]) AS r(seq, token)
 WHERE m.seq = r.seq AND m.lease_token = r.token`,
        [seqs, tokens],
        `ef_${t.hash}_tr_ack`,
      );
    } else {
      await query(
        operation,
        `WITH u AS (UPDATE ${t.transportMessages} m
   SET lease_token = NULL, lease_expires_at = NULL, due_at = now() + $3::float8 * interval '1 millisecond'
  FROM unnest($1::bigint[], $2::uuid[]) AS r(seq, token)
 WHERE m.seq = r.seq AND m.lease_token = r.token RETURNING 1)
SELECT pg_notify($4, '') FROM (SELECT 1 FROM u LIMIT 1) one`,
        [seqs, tokens, Math.max(0, delayMs), t.channel],
        `ef_${t.hash}_tr_nack`,
      );
    }
  };

  class PgDelivery implements Delivery {
    #settled = false;
    constructor(
      readonly event: EncodedEvent,
      readonly attempt: number,
      readonly transportId: string,
      readonly token: string,
    ) {}
    claimSettle(): boolean {
      if (this.#settled) return false;
      this.#settled = true;
      return true;
    }
    async ack(): Promise<void> {
      if (!this.claimSettle()) return;
      await settle([{ seq: this.transportId, token: this.token }], undefined, "ack");
    }
    async nack(opts?: { delayMs?: number }): Promise<void> {
      if (!this.claimSettle()) return;
      const delay = opts?.delayMs !== undefined && Number.isFinite(opts.delayMs) ? opts.delayMs : 0;
      await settle([{ seq: this.transportId, token: this.token }], delay, "nack");
    }
  }

  class PgSubscription implements Subscription {
    readonly #abort = new AbortController();
    readonly #topic: string;
    readonly #group: string;
    readonly #consumer: string;
    readonly #batchSize: number;
    readonly #ackTimeoutMs: number;
    readonly #signal: AbortSignal | undefined;
    readonly #onAbort = (): void => {
      void this.close();
    };

    constructor(topic: string, opts: SubscribeOptions) {
      this.#topic = topic;
      this.#group = opts.group;
      this.#consumer = opts.consumer ?? `worker-${globalThis.crypto.randomUUID()}`;
      this.#batchSize = opts.batchSize ?? 100;
      this.#ackTimeoutMs = opts.ackTimeoutMs ?? 30_000;
      this.#signal = opts.signal;
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
      if (this.#signal?.aborted) this.#abort.abort();
    }

    get #closed(): boolean {
      return this.#abort.signal.aborted;
    }

    async #fetch(): Promise<PgDelivery[]> {
      const rows = await query<FetchedRow>(
        "fetch",
        fetchSql,
        [this.#topic, this.#group, this.#batchSize, this.#ackTimeoutMs, this.#consumer],
        `ef_${t.hash}_tr_fetch`,
      );
      rows.sort((a, b) => Number(a.seq) - Number(b.seq));
      return rows.map((r) => {
        const event: EncodedEvent = {
          id: r.event_id,
          type: r.type,
          ...(r.key !== null ? { key: r.key } : {}),
          payload: r.fields ? (JSON.parse(r.payload) as Record<string, string>) : r.payload,
        };
        return new PgDelivery(event, r.attempt, String(r.seq), r.lease_token);
      });
    }

    /** How long until something of this group may become due (capped by the poll interval). */
    async #idleMs(): Promise<number> {
      const [row] = await query<{ ms: number | null }>(
        "fetch",
        `SELECT (extract(epoch FROM min(greatest(due_at, coalesce(lease_expires_at, due_at))) - now()) * 1000)::float8 AS ms
   FROM ${t.transportMessages} WHERE topic = $1 AND grp = $2`,
        [this.#topic, this.#group],
      );
      const ms = row?.ms;
      return ms === null || ms === undefined ? pollIntervalMs : Math.min(pollIntervalMs, Math.max(5, ms + 5));
    }

    async *batches(): AsyncGenerator<readonly Delivery[]> {
      let failures = 0;
      while (!this.#closed) {
        let batch: PgDelivery[];
        try {
          batch = await this.#fetch();
          if (batch.length === 0) {
            const idle = await this.#idleMs();
            if (this.#closed) return;
            await store.waitForChange({ timeoutMs: idle, signal: this.#abort.signal });
            continue;
          }
          failures = 0;
        } catch (error) {
          if (this.#closed) return;
          if (isEventferryError(error) && error.code === "CLOSED") return;
          if (!isEventferryError(error) || !error.retryable || ++failures > 20) throw error;
          await sleep(Math.min(50 * 2 ** failures, 2_000), this.#abort.signal);
          continue;
        }
        if (this.#closed) return; // leases run out: redelivered
        yield batch;
      }
    }

    async *#deliveries(): AsyncGenerator<Delivery> {
      for await (const batch of this.batches()) {
        for (const delivery of batch) {
          if (this.#closed) return;
          yield delivery;
        }
      }
    }

    [Symbol.asyncIterator](): AsyncIterator<Delivery> {
      return this.#deliveries();
    }

    async ackMany(deliveries: readonly Delivery[]): Promise<void> {
      const refs: { seq: string; token: string }[] = [];
      for (const d of deliveries) {
        if (d instanceof PgDelivery && d.claimSettle()) refs.push({ seq: d.transportId, token: d.token });
      }
      await settle(refs, undefined, "ackMany");
    }

    async close(): Promise<void> {
      if (this.#closed) return;
      this.#abort.abort();
      this.#signal?.removeEventListener("abort", this.#onAbort);
      subscriptions.delete(this);
    }
  }

  const features: TransportFeatures = Object.freeze({
    consumerGroups: true,
    persistent: true,
    delayedNack: true,
    redeliversUnacked: true,
    orderedPerTopic: true,
  });

  return {
    name: "store",
    features,
    async publish(
      topic: string,
      events: readonly EncodedEvent[],
      publishOptions?: PublishOptions,
    ): Promise<void> {
      if (closed) throw closedError();
      if (publishOptions?.signal?.aborted) {
        throw new EventferryError("ABORTED", componentMessage(COMPONENT, "publish aborted"));
      }
      if (typeof topic !== "string" || !isValidTopic(topic)) {
        throw new ValidationError(componentMessage(COMPONENT, `invalid topic ${JSON.stringify(topic)}`));
      }
      if (events.length === 0) return;
      const rows = events.map((e) => ({
        i: e.id,
        t: e.type ?? "",
        k: e.key ?? null,
        p: typeof e.payload === "string" ? e.payload : JSON.stringify(e.payload),
        f: typeof e.payload !== "string",
      }));
      try {
        await query(
          "publish",
          `WITH ins AS (
  INSERT INTO ${t.transportMessages} (topic, grp, event_id, type, key, payload, fields)
  SELECT $1, g.grp, x.i, x.t, x.k, x.p, x.f
    FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (i text, t text, k text, p text, f boolean)) WITH ORDINALITY AS x(i, t, k, p, f, n)
   CROSS JOIN (SELECT grp FROM ${t.transportGroups} WHERE topic = $1) g
   ORDER BY x.n, g.grp
  RETURNING 1)
SELECT pg_notify($3, '') FROM (SELECT 1 FROM ins LIMIT 1) one`,
          [topic, JSON.stringify(rows), t.channel],
          `ef_${t.hash}_tr_publish`,
        );
      } catch (error) {
        if (isEventferryError(error) && error.code === "CLOSED") throw error;
        throw new PublishError(
          componentMessage(COMPONENT, `publish to ${topic} failed: ${(error as Error).message}`),
          {
            cause: error,
            failedIds: events.map((e) => e.id),
            retryable: isEventferryError(error) ? error.retryable : false,
          },
        );
      }
    },
    async subscribe(topic: string, opts: SubscribeOptions): Promise<Subscription> {
      if (closed) throw closedError();
      if (typeof topic !== "string" || !isValidTopic(topic)) {
        throw new ValidationError(componentMessage(COMPONENT, `invalid topic ${JSON.stringify(topic)}`));
      }
      if (typeof opts?.group !== "string" || opts.group === "") {
        throw new ValidationError(componentMessage(COMPONENT, "subscribe needs a non-empty group"));
      }
      await query(
        "subscribe",
        `INSERT INTO ${t.transportGroups} (topic, grp) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [topic, opts.group],
      );
      const subscription = new PgSubscription(topic, opts);
      subscriptions.add(subscription);
      return subscription;
    },
    async health(): Promise<HealthReport> {
      if (closed) return { status: "unhealthy", component: COMPONENT, reasons: ["the transport is closed"] };
      const report = await store.health();
      return { ...report, component: COMPONENT };
    },
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
    },
  };
}
