// A subscription of the Redis transport: one consumer of a consumer group, reading new entries
// with XREADGROUP BLOCK on its own connection and redeliveries (nacked, idle, orphaned) with the
// claim script on the shared command connection.
import type { Delivery, EncodedEvent, Logger, Subscription } from "@eventferry/core";
import { redact } from "@eventferry/core";
import { classifyRedisError, toTransportError } from "../classify-error.js";
import { isCluster, type LuaScript, type RedisClient } from "./client.js";
import { decodeEntry } from "./entry-codec.js";

const RESOLVED: Promise<void> = Promise.resolve();
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
/** Most ids in one XACK/ZADD command. */
const IDS_PER_COMMAND = 10_000;

/** What a subscription needs from its transport. */
export interface RedisSubscriptionContext {
  readonly client: RedisClient;
  readonly stream: string;
  readonly delayed: string;
  readonly group: string;
  readonly consumer: string;
  readonly batchSize: number;
  readonly ackTimeoutMs: number;
  readonly blockMs: number;
  readonly claimIntervalMs: number;
  /** Extra time past BLOCK before a silent blocking read is abandoned and its connection replaced. */
  readonly watchdogMs: number;
  /** `false`: never delete consumers. */
  readonly deadConsumerIdleMs: number | false;
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
  /** Where the server is (redacted), for messages. */
  readonly target: string;
  readonly scripts: { readonly claim: LuaScript; readonly nack: LuaScript; readonly cleanup: LuaScript };
  createBlocking(): RedisClient;
  /** Creates the group (an existing one is fine) at `startId`, default the transport's `groupStart`. */
  ensureGroup(startId?: string): Promise<void>;
  transportClosed(): boolean;
  onClose(subscription: RedisSubscription): void;
}

/** The deliveries of one fetch, while some are not settled (to tell held entries from orphans). */
export class HeldBatch {
  unsettled = 0;
  readonly deliveries: RedisDelivery[] = [];
}

/** A delivery of the Redis transport: the stream entry id is `transportId`. Settle once; later calls are no-ops. */
export class RedisDelivery implements Delivery {
  settled = false;
  constructor(
    readonly subscription: RedisSubscription,
    readonly transportId: string,
    readonly event: EncodedEvent,
    readonly attempt: number,
    readonly batch: HeldBatch,
  ) {
    batch.unsettled++;
  }

  /** Marks it settled; false when it already was. */
  settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (--this.batch.unsettled === 0) this.subscription.held.delete(this.batch);
    return true;
  }

  ack(): Promise<void> {
    if (!this.settle()) return RESOLVED;
    return this.subscription.queueAck(this.transportId);
  }

  nack(options?: { delayMs?: number }): Promise<void> {
    if (!this.settle()) return RESOLVED;
    const delayMs = options?.delayMs;
    return this.subscription.nack(
      this,
      typeof delayMs === "number" && Number.isFinite(delayMs) && delayMs > 0 ? Math.ceil(delayMs) : 0,
    );
  }
}

/** An XREADGROUP reply: per stream, its entries (fields `null` for an entry deleted meanwhile). */
type XReadReply = [string, [string, string[] | null][]][] | null;

export class RedisSubscription implements Subscription {
  /** Fetched batches with deliveries not settled yet (to tell our own in-flight entries from orphans). */
  readonly held = new Set<HeldBatch>();
  readonly #ctx: RedisSubscriptionContext;
  #blocking: RedisClient;
  #closed = false;
  readonly #closeWaiters = new Set<() => void>();
  readonly #onAbort = (): void => {
    void this.close();
  };
  #claimRequested = true;
  #nextClaimAt = 0;
  #cursor = "0-0";
  /** The newest entry id this subscription read, where a vanished group is re-created. */
  #lastSeenId: string | undefined;
  #orphanScanNeeded = true;
  #nextCleanupAt: number;
  #ackQueue: string[] = [];
  #ackFlush: Promise<void> | undefined;
  #fetching: Promise<RedisDelivery[] | null> | undefined;
  #prefetch: Promise<RedisDelivery[] | null> | undefined;
  /** The XREADGROUP in flight on the blocking connection, if any (see `close`). */
  #reading: Promise<XReadReply> | undefined;

  constructor(ctx: RedisSubscriptionContext) {
    this.#ctx = ctx;
    this.#blocking = this.#newBlocking();
    this.#nextCleanupAt =
      ctx.deadConsumerIdleMs === false ? Number.POSITIVE_INFINITY : performance.now() + cleanupInterval(ctx);
    if (ctx.signal?.aborted) void this.close();
    else ctx.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * A blocking connection; each (re)connect schedules an orphan scan, since a reply in flight when
   * a connection dropped is lost while its entries stay pending for this consumer.
   */
  #newBlocking(): RedisClient {
    const connection = this.#ctx.createBlocking();
    connection.on("ready", () => {
      this.#orphanScanNeeded = true;
    });
    return connection;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get consumer(): string {
    return this.#ctx.consumer;
  }

  batches(): AsyncIterable<readonly Delivery[]> {
    return { [Symbol.asyncIterator]: () => new BatchIterator(this) };
  }

  [Symbol.asyncIterator](): AsyncIterator<Delivery> {
    return new DeliveryIterator(this);
  }

  async ackMany(deliveries: readonly Delivery[]): Promise<void> {
    const ids: string[] = [];
    const others: Promise<void>[] = [];
    for (const delivery of deliveries) {
      if (delivery instanceof RedisDelivery && delivery.subscription === this) {
        if (delivery.settle()) ids.push(delivery.transportId);
      } else {
        others.push(delivery.ack());
      }
    }
    await Promise.all([this.#xack(ids), ...others]);
  }

  /** Acks `id` together with the other acks of this tick (one XACK). */
  queueAck(id: string): Promise<void> {
    this.#ackQueue.push(id);
    if (this.#ackFlush === undefined) {
      this.#ackFlush = RESOLVED.then(() => {
        const ids = this.#ackQueue;
        this.#ackQueue = [];
        this.#ackFlush = undefined;
        return this.#xack(ids);
      });
    }
    return this.#ackFlush;
  }

  async #xack(ids: readonly string[]): Promise<void> {
    if (ids.length === 0 || this.#ctx.transportClosed()) return;
    const { client, stream, group } = this.#ctx;
    try {
      if (ids.length <= IDS_PER_COMMAND) {
        await client.call("XACK", stream, group, ...ids);
        return;
      }
      const pipeline = client.pipeline();
      for (let i = 0; i < ids.length; i += IDS_PER_COMMAND) {
        pipeline.call("XACK", stream, group, ...ids.slice(i, i + IDS_PER_COMMAND));
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    } catch (error) {
      throw toTransportError(error, "ack", this.#ctx.target);
    }
  }

  async nack(delivery: RedisDelivery, delayMs: number): Promise<void> {
    if (this.#ctx.transportClosed()) return;
    const { client, stream, delayed, group, consumer } = this.#ctx;
    let scheduled: unknown;
    try {
      scheduled = await this.#ctx.scripts.nack.run(
        client,
        [stream, delayed],
        [group, consumer, delivery.transportId, delayMs, delivery.attempt],
      );
    } catch (error) {
      throw toTransportError(error, "nack", this.#ctx.target);
    }
    if (Number(scheduled) === 1) this.#requestClaimIn(delayMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ctx.signal?.removeEventListener("abort", this.#onAbort);
    for (const wake of this.#closeWaiters) wake();
    this.#closeWaiters.clear();
    const prefetched = this.#prefetch;
    this.#prefetch = undefined;
    const released = prefetched?.then((batch) => (batch === null ? undefined : this.release(batch)));
    await this.#handBackRead();
    // Only reads run on the blocking connection: nothing to flush, and a QUIT would queue behind
    // the blocked XREADGROUP. Drop it (the blocked read rejects and is ignored).
    this.#blocking.disconnect();
    if (released) await released;
    this.#ctx.onClose(this);
  }

  /**
   * A read in flight when the subscription closes may already have taken entries (the server
   * assigns them to this consumer as it answers): dropping the reply would leave them pending
   * until the ack timeout. So the read is woken with `CLIENT UNBLOCK` (found by the blocking
   * connection's name; a sibling read of the same name just reads again), its reply awaited
   * briefly, and whatever it took handed back at once, as `release` does. Best effort, bounded
   * to about a second; a Cluster connection is only dropped.
   */
  async #handBackRead(): Promise<void> {
    const reading = this.#reading;
    const name = (this.#blocking as { options?: { connectionName?: string } }).options?.connectionName;
    if (reading === undefined || name === undefined || isCluster(this.#ctx.client)) {
      return;
    }
    const client = this.#ctx.client;
    const bounded = <T>(promise: Promise<T>, ms: number): Promise<T | undefined> => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        promise,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), ms);
        }),
      ]).finally(() => clearTimeout(timer));
    };
    try {
      const list =
        (await bounded(client.call("CLIENT", "LIST", "TYPE", "normal") as Promise<string>, 500)) ?? "";
      for (const line of list.split("\n")) {
        const fields = new Map(
          line.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
        );
        if (fields.get("name") === name && fields.get("cmd") === "xreadgroup" && fields.has("id")) {
          await bounded(client.call("CLIENT", "UNBLOCK", fields.get("id") as string), 500);
        }
      }
      const reply = await bounded(
        reading.then(
          (r) => r,
          () => null,
        ),
        500,
      );
      const ids = (reply?.[0]?.[1] ?? []).map(([id]) => id);
      if (ids.length > 0) {
        await bounded(client.call("ZADD", this.#ctx.delayed, "NX", ...ids.flatMap((id) => [0, id])), 500);
      }
    } catch {
      // best effort: what the read took comes back after the ack timeout
    }
  }

  /**
   * The next batch (never empty), or `null` once closed. One fetch at a time. After a full batch
   * the next one is fetched at once in the background (a backlog is likely), so reading overlaps
   * the consumer's work: at most one batch — `batchSize` deliveries — is held ahead.
   */
  fetch(): Promise<RedisDelivery[] | null> {
    if (this.#closed) return Promise.resolve(null);
    const prefetched = this.#prefetch;
    if (prefetched !== undefined) {
      this.#prefetch = undefined;
      return prefetched.then(this.#afterFetch);
    }
    if (this.#fetching) return this.#fetching.then(() => this.fetch());
    return this.#startFetch().then(this.#afterFetch);
  }

  #startFetch(): Promise<RedisDelivery[] | null> {
    const fetching = this.#fetchLoop().finally(() => {
      this.#fetching = undefined;
    });
    this.#fetching = fetching;
    return fetching;
  }

  readonly #afterFetch = (batch: RedisDelivery[] | null): RedisDelivery[] | null => {
    if (
      batch !== null &&
      batch.length >= this.#ctx.batchSize &&
      !this.#closed &&
      this.#prefetch === undefined &&
      this.#fetching === undefined
    ) {
      this.#prefetch = this.#startFetch();
    }
    return batch;
  };

  /**
   * Hands deliveries nobody saw back to the group at once (due now in the delayed set; whoever
   * claims them next sees the next attempt). Best effort: otherwise they come back after the ack
   * timeout.
   */
  async release(batch: readonly RedisDelivery[]): Promise<void> {
    const args: (string | number)[] = [];
    for (const delivery of batch) if (delivery.settle()) args.push(0, delivery.transportId);
    if (args.length === 0 || this.#ctx.transportClosed()) return;
    try {
      await this.#ctx.client.call("ZADD", this.#ctx.delayed, "NX", ...args);
    } catch {
      // left pending: redelivered after the ack timeout
    }
  }

  #requestClaimIn(delayMs: number): void {
    if (delayMs <= 0) this.#claimRequested = true;
    else this.#nextClaimAt = Math.min(this.#nextClaimAt, performance.now() + delayMs);
  }

  async #fetchLoop(): Promise<RedisDelivery[] | null> {
    let failures = 0;
    while (!this.#closed) {
      try {
        if (this.#orphanScanNeeded) await this.#scanOrphans();
        if (this.#claimRequested || performance.now() >= this.#nextClaimAt) {
          const claimed = await this.#claim();
          if (this.#closed) return null;
          if (claimed.length > 0) return claimed;
        }
        if (performance.now() >= this.#nextCleanupAt) await this.#cleanupConsumers();
        const blockMs = Math.max(
          1,
          Math.min(this.#ctx.blockMs, Math.ceil(this.#nextClaimAt - performance.now())),
        );
        const fresh = await this.#readNew(blockMs);
        if (fresh === null || this.#closed) return null;
        failures = 0;
        if (fresh.length > 0) return fresh;
      } catch (caught) {
        if (this.#closed) return null;
        let error = caught;
        if (classifyRedisError(error) === "no-group") {
          // The stream or group vanished (deleted, or a restart without persistence): re-create it.
          this.#ctx.logger.warn(
            `[eventferry:transport-redis] consumer group "${this.#ctx.group}" on ${this.#ctx.stream} is gone; re-creating it`,
          );
          try {
            // From the last entry this subscription saw: after a restart without persistence the new
            // stream's ids are all newer, so nothing published since is skipped; if only the group
            // was destroyed, reading resumes where it was. (Never seen one: from the start.)
            await this.#ctx.ensureGroup(this.#lastSeenId ?? "0");
            this.#cursor = "0-0";
            continue;
          } catch (recreate) {
            error = recreate;
          }
        }
        failures++;
        this.#orphanScanNeeded = true;
        const backoff = Math.min(50 * 2 ** failures, 5_000);
        this.#ctx.logger.warn(
          `[eventferry:transport-redis] fetch on ${this.#ctx.stream} failed (retrying in ${backoff} ms): ${redact(
            error instanceof Error ? error.message : String(error),
          )}`,
          { group: this.#ctx.group, consumer: this.#ctx.consumer },
        );
        await this.#sleep(backoff);
      }
    }
    return null;
  }

  /** XREADGROUP … BLOCK on the blocking connection; `[]` on timeout, `null` when closed meanwhile. */
  async #readNew(blockMs: number): Promise<RedisDelivery[] | null> {
    const { stream, group, consumer, batchSize } = this.#ctx;
    const connection = this.#blocking;
    const read = connection.call(
      "XREADGROUP",
      "GROUP",
      group,
      consumer,
      "COUNT",
      batchSize,
      "BLOCK",
      blockMs,
      "STREAMS",
      stream,
      ">",
    ) as Promise<XReadReply>;
    this.#reading = read;
    const done = (): void => {
      if (this.#reading === read) this.#reading = undefined;
    };
    read.then(done, done);
    let timer: NodeJS.Timeout | undefined;
    const watchdog = new Promise<"stuck">((resolve) => {
      timer = setTimeout(() => resolve("stuck"), blockMs + this.#ctx.watchdogMs);
    });
    let result: Awaited<typeof read> | "stuck";
    const closing = this.#whenClosed();
    try {
      result = await Promise.race([read, watchdog, closing.promise]);
    } catch (error) {
      if (this.#closed) return null;
      throw error;
    } finally {
      clearTimeout(timer);
      closing.cancel();
    }
    if (this.#closed) return null;
    if (result === "stuck") {
      // No answer long past BLOCK: a half-open socket or a server that stopped answering.
      read.catch(() => {});
      this.#ctx.logger.warn(
        `[eventferry:transport-redis] a blocking read on ${stream} got no answer within ${blockMs + this.#ctx.watchdogMs} ms; replacing its connection`,
      );
      this.#blocking = this.#newBlocking();
      connection.disconnect();
      this.#orphanScanNeeded = true;
      return [];
    }
    if (result === null) return [];
    const entries = result[0]?.[1] ?? [];
    const batch = new HeldBatch();
    const out = batch.deliveries;
    for (const [id, fields] of entries) {
      if (fields === null) continue;
      out.push(new RedisDelivery(this, id, decodeEntry(id, fields), 1, batch));
    }
    if (out.length > 0) {
      this.held.add(batch);
      this.#lastSeenId = out[out.length - 1]!.transportId;
    }
    return out;
  }

  /** Runs the claim script: due nacks, then entries idle past the ack timeout. */
  async #claim(): Promise<RedisDelivery[]> {
    const { client, stream, delayed, group, consumer, batchSize, ackTimeoutMs, claimIntervalMs } = this.#ctx;
    const reply = (await this.#ctx.scripts.claim.run(
      client,
      [stream, delayed],
      [group, consumer, Math.ceil(ackTimeoutMs), batchSize, this.#cursor],
    )) as [string, [string, string[]][], number[], number];
    const [cursor, entries, counts, nextDue] = reply;
    const now = performance.now();
    this.#cursor = cursor;
    this.#claimRequested = entries.length >= batchSize || cursor !== "0-0";
    this.#nextClaimAt = now + (nextDue >= 0 ? Math.min(claimIntervalMs, nextDue) : claimIntervalMs);
    const batch = new HeldBatch();
    const out = batch.deliveries;
    for (let i = 0; i < entries.length; i++) {
      const [id, fields] = entries[i] as [string, string[]];
      out.push(new RedisDelivery(this, id, decodeEntry(id, fields), Number(counts[i] ?? 1), batch));
    }
    if (out.length > 0) this.held.add(batch);
    return out;
  }

  /**
   * Entries pending for this consumer that it is not holding: a reply lost with a connection, a
   * failed ack, or a previous process with the same consumer name. They are scheduled for
   * redelivery now (ZADD NX keeps a running nack delay).
   */
  async #scanOrphans(): Promise<void> {
    const { client, stream, delayed, group, consumer } = this.#ctx;
    const pending = (await client.call("XPENDING", stream, group, "-", "+", 1_000, consumer)) as [
      string,
      string,
      number,
      number,
    ][];
    const holding = new Set<string>();
    for (const batch of this.held) {
      for (const delivery of batch.deliveries) if (!delivery.settled) holding.add(delivery.transportId);
    }
    const orphans: string[] = [];
    for (const [id] of pending) if (!holding.has(id)) orphans.push(id);
    this.#orphanScanNeeded = false;
    if (orphans.length === 0) return;
    const args: (string | number)[] = [];
    for (const id of orphans.slice(0, IDS_PER_COMMAND)) args.push(0, id);
    await client.call("ZADD", delayed, "NX", ...args);
    this.#claimRequested = true;
  }

  async #cleanupConsumers(): Promise<void> {
    const { client, stream, group, consumer, deadConsumerIdleMs, scripts, logger } = this.#ctx;
    this.#nextCleanupAt = performance.now() + cleanupInterval(this.#ctx);
    if (deadConsumerIdleMs === false) return;
    try {
      const deleted = (await scripts.cleanup.run(client, [stream], [group, deadConsumerIdleMs, consumer])) as
        | string[]
        | null;
      if (deleted && deleted.length > 0) {
        logger.info(`[eventferry:transport-redis] deleted ${deleted.length} idle consumer(s) of "${group}"`, {
          consumers: deleted,
        });
      }
    } catch (error) {
      if (classifyRedisError(error) === "no-group") throw error;
      logger.debug(
        `[eventferry:transport-redis] consumer cleanup failed: ${redact(error instanceof Error ? error.message : String(error))}`,
      );
    }
  }

  #sleep(ms: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const closing = this.#whenClosed();
    return Promise.race([
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
      closing.promise,
    ]).finally(() => {
      clearTimeout(timer);
      closing.cancel();
    });
  }

  /**
   * A promise that resolves when the subscription closes, for one race. Racing the long-lived
   * close promise itself would add a reaction to it per read, keeping every reply alive until
   * close (memory growing with the events read); this one is dropped by `cancel()`.
   */
  #whenClosed(): { promise: Promise<null>; cancel: () => void } {
    if (this.#closed) return { promise: Promise.resolve(null), cancel: () => {} };
    let wake!: () => void;
    const promise = new Promise<null>((resolve) => {
      wake = () => resolve(null);
    });
    this.#closeWaiters.add(wake);
    return { promise, cancel: () => this.#closeWaiters.delete(wake) };
  }
}

function cleanupInterval(ctx: RedisSubscriptionContext): number {
  const idle = ctx.deadConsumerIdleMs === false ? 60_000 : ctx.deadConsumerIdleMs;
  return Math.max(1_000, Math.min(idle / 2, 300_000));
}

class BatchIterator implements AsyncIterator<readonly Delivery[]> {
  #finished = false;
  constructor(readonly subscription: RedisSubscription) {}

  async next(): Promise<IteratorResult<readonly Delivery[]>> {
    if (this.#finished) return DONE;
    const batch = await this.subscription.fetch();
    if (batch === null || this.#finished) {
      // Fetched after return(): nobody sees these; they go back to the group.
      if (batch !== null) void this.subscription.release(batch);
      this.#finished = true;
      return DONE;
    }
    return { done: false, value: batch };
  }

  return(): Promise<IteratorResult<readonly Delivery[]>> {
    this.#finished = true;
    return Promise.resolve(DONE);
  }
}

class DeliveryIterator implements AsyncIterator<Delivery> {
  #buffer: RedisDelivery[] = [];
  #index = 0;
  #finished = false;
  constructor(readonly subscription: RedisSubscription) {}

  async next(): Promise<IteratorResult<Delivery>> {
    if (this.#finished || this.subscription.closed) return this.#finish();
    if (this.#index < this.#buffer.length) return { done: false, value: this.#buffer[this.#index++]! };
    const batch = await this.subscription.fetch();
    if (batch === null || this.#finished) {
      if (batch !== null) void this.subscription.release(batch);
      return this.#finish();
    }
    this.#buffer = batch;
    this.#index = 1;
    return { done: false, value: batch[0]! };
  }

  return(): Promise<IteratorResult<Delivery>> {
    return this.#finish();
  }

  /** Ends the iteration; fetched deliveries it never yielded go back to the group at once. */
  #finish(): Promise<IteratorResult<Delivery>> {
    this.#finished = true;
    if (this.#index < this.#buffer.length) void this.subscription.release(this.#buffer.slice(this.#index));
    this.#buffer = [];
    this.#index = 0;
    return Promise.resolve(DONE);
  }
}
