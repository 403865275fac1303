import type { Delivery, EncodedEvent, Subscription } from "@eventferry/core";
import { numbered } from "./envelope.js";
import type { SqliteContext } from "./sqlite-context.js";

interface MessageRow {
  seq: number;
  event_id: string;
  type: string;
  key: string | null;
  payload: string;
  payload_is_map: number;
  attempt: number;
  lease_token: string;
}

/** What one subscription needs. */
export interface StoreSubscriptionOptions {
  readonly ctx: SqliteContext;
  readonly topic: string;
  readonly group: string;
  readonly batchSize: number;
  readonly ackTimeoutMs: number;
  readonly minPollMs: number;
  readonly maxPollMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onClose: (subscription: StoreSubscription) => void;
}

/**
 * A subscription of the `store:` transport: claims batches of its group's rows (leased for
 * `ackTimeoutMs`), and while there are none waits for the in-process change signal or an
 * adaptive poll interval (other processes publish without signalling us).
 */
export class StoreSubscription implements Subscription {
  readonly #o: StoreSubscriptionOptions;
  readonly #stop = new AbortController();
  readonly #onAbort = (): void => {
    void this.close();
  };
  #closed = false;

  constructor(options: StoreSubscriptionOptions) {
    this.#o = options;
    if (options.signal?.aborted) void this.close();
    else options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get closed(): boolean {
    return this.#closed || this.#o.ctx.closed;
  }

  /** The next non-empty batch, or null once closed. */
  async fetch(): Promise<StoreDelivery[] | null> {
    let pollMs = this.#o.minPollMs;
    while (!this.closed) {
      const { rows, nextDueMs } = await this.#claim();
      if (rows.length > 0) return rows.map((r) => new StoreDelivery(this.#o.ctx, r));
      if (this.closed) return null;
      const wait = nextDueMs === undefined ? pollMs : Math.min(pollMs, Math.max(1, nextDueMs));
      await this.#o.ctx.changes.wait(wait, this.#stop.signal);
      pollMs = Math.min(this.#o.maxPollMs, pollMs * 2);
    }
    return null;
  }

  async #claim(): Promise<{ rows: MessageRow[]; nextDueMs: number | undefined }> {
    const { ctx, topic, group, batchSize, ackTimeoutMs } = this.#o;
    const table = ctx.t("transport_messages");
    try {
      return await ctx.write("transport fetch", () => {
        const now = ctx.nowMs();
        const rows = ctx
          .stmt(
            `UPDATE ${table} SET attempt = attempt + 1, lease_token = lower(hex(randomblob(16))), lease_expires_ms = ?1 + ?2
             WHERE seq IN (
               SELECT seq FROM ${table} WHERE topic = ?3 AND grp = ?4 AND due_ms <= ?1
                 AND (lease_token IS NULL OR lease_expires_ms <= ?1)
               ORDER BY seq LIMIT ?5)
             RETURNING seq, event_id, type, key, payload, payload_is_map, attempt, lease_token`,
          )
          .all(numbered(now, ackTimeoutMs, topic, group, batchSize)) as MessageRow[];
        if (rows.length > 0) {
          rows.sort((a, b) => a.seq - b.seq);
          return { rows, nextDueMs: undefined };
        }
        const next = ctx
          .stmt(
            `SELECT min(CASE WHEN lease_token IS NULL THEN due_ms ELSE lease_expires_ms END) AS at
             FROM ${table} WHERE topic = ? AND grp = ?`,
          )
          .get(topic, group) as { at: number | null };
        return { rows, nextDueMs: next.at === null ? undefined : next.at - now };
      });
    } catch (error) {
      if (this.closed) return { rows: [], nextDueMs: undefined };
      throw error;
    }
  }

  batches(): AsyncIterable<readonly Delivery[]> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<readonly Delivery[]> => ({
        next: async () => {
          const batch = await this.fetch();
          return batch === null ? { done: true, value: undefined } : { done: false, value: batch };
        },
        return: async () => ({ done: true, value: undefined }),
      }),
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery> {
    let buffer: StoreDelivery[] = [];
    return {
      next: async (): Promise<IteratorResult<Delivery>> => {
        if (buffer.length === 0) {
          const batch = await this.fetch();
          if (batch === null) return { done: true, value: undefined };
          buffer = batch;
        }
        return { done: false, value: buffer.shift() as StoreDelivery };
      },
      return: async (): Promise<IteratorResult<Delivery>> => {
        buffer = [];
        return { done: true, value: undefined };
      },
    };
  }

  async ackMany(deliveries: readonly Delivery[]): Promise<void> {
    const own = deliveries.filter((d): d is StoreDelivery => d instanceof StoreDelivery);
    if (own.length === 0) return;
    const table = this.#o.ctx.t("transport_messages");
    await this.#o.ctx.write("transport ackMany", () => {
      this.#o.ctx
        .stmt(
          `DELETE FROM ${table} WHERE (seq, lease_token) IN
             (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
        )
        .run(JSON.stringify(own.map((d) => [d.seq, d.leaseToken])));
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.signal?.removeEventListener("abort", this.#onAbort);
    this.#stop.abort();
    this.#o.onClose(this);
  }
}

/** One delivered row; ack deletes it, nack gives it back (after `delayMs`). Fenced by lease token. */
export class StoreDelivery implements Delivery {
  readonly event: EncodedEvent;
  readonly attempt: number;
  readonly transportId: string;
  readonly seq: number;
  readonly leaseToken: string;
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext, row: MessageRow) {
    this.#ctx = ctx;
    this.seq = row.seq;
    this.leaseToken = row.lease_token;
    this.attempt = row.attempt;
    this.transportId = String(row.seq);
    this.event = {
      id: row.event_id,
      type: row.type,
      ...(row.key !== null ? { key: row.key } : {}),
      payload: row.payload_is_map ? (JSON.parse(row.payload) as Record<string, string>) : row.payload,
    };
  }

  async ack(): Promise<void> {
    const table = this.#ctx.t("transport_messages");
    await this.#ctx.write("transport ack", () => {
      this.#ctx.stmt(`DELETE FROM ${table} WHERE seq = ? AND lease_token = ?`).run(this.seq, this.leaseToken);
    });
  }

  async nack(options?: { delayMs?: number }): Promise<void> {
    const delay =
      Number.isFinite(options?.delayMs) && (options?.delayMs as number) > 0
        ? Math.ceil(options?.delayMs as number)
        : 0;
    const table = this.#ctx.t("transport_messages");
    const changed = await this.#ctx.write("transport nack", () => {
      const now = this.#ctx.nowMs();
      return this.#ctx
        .stmt(`UPDATE ${table} SET lease_token = NULL, due_ms = ? WHERE seq = ? AND lease_token = ?`)
        .run(now + delay, this.seq, this.leaseToken).changes;
    });
    if (changed > 0) this.#ctx.changed();
  }
}
