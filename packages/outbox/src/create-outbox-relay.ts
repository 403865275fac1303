import {
  ConfigError,
  createConsoleLogger,
  type Duration,
  EventferryError,
  encodeEvent,
  type Logger,
  parseDuration,
  type Transport,
} from "@eventferry/core";
import type { OutboxEntry, Store } from "@eventferry/store";

/** Options of {@link createOutboxRelay}. */
export interface OutboxRelayOptions {
  store: Store;
  transport: Transport;
  /** Rows claimed and published per round. @default 100 */
  batchSize?: number;
  /** How long a claimed row is held before another relay may take it over. @default "30s" */
  lease?: Duration;
  /** Fallback polling interval when no wake-up signal arrives. @default "1s" */
  pollInterval?: Duration;
  /** @default a console logger at level "warn" */
  logger?: Logger;
}

/** Carries outbox rows to the transport. Several relays may run against one store at once. */
export interface OutboxRelay {
  start(): void;
  /** Finishes the round in progress and stops. Idempotent. */
  stop(): Promise<void>;
  /** Wakes the relay now (after a local commit that added rows). */
  wake(): void;
  /** Resolves when the outbox has no unpublished rows (relaying them if not started). */
  flush(options?: { timeout?: Duration }): Promise<void>;
  readonly running: boolean;
}

/** Defaults of {@link OutboxRelayOptions}. */
export const outboxRelayDefaults = { batchSize: 100, leaseMs: 30_000, pollIntervalMs: 1_000 } as const;

/**
 * Creates the outbox relay: claims unpublished rows in batches (leased, so several relays never
 * publish the same row at once; per-key order kept by the store), publishes them to the transport
 * one batch per topic, and marks them published. A crash between publish and mark re-publishes
 * the rows after the lease: consumers dedupe by event id, so the effect stays single.
 *
 * @example
 * const relay = createOutboxRelay({ store, transport });
 * relay.start();
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? outboxRelayDefaults.batchSize;
  const problems: string[] = [];
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
    problems.push("batchSize must be an integer in 1..10000");
  let leaseMs: number = outboxRelayDefaults.leaseMs;
  let pollMs: number = outboxRelayDefaults.pollIntervalMs;
  try {
    if (options.lease !== undefined) leaseMs = parseDuration(options.lease, "lease");
    if (options.pollInterval !== undefined) pollMs = parseDuration(options.pollInterval, "pollInterval");
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:outbox] invalid relay options: ${problems.join("; ")}`, { problems });
  }
  const { store, transport } = options;
  const logger = options.logger ?? createConsoleLogger("warn");

  let running = false;
  let loop: Promise<void> | undefined;
  let abort = new AbortController();
  let wakeResolve: (() => void) | undefined;
  let pendingWake = false;

  const waitForWork = (ms: number): Promise<void> => {
    if (pendingWake) {
      pendingWake = false;
      return Promise.resolve();
    }
    // Whichever wakes first cancels the other, so no waiter outlives this round.
    const round = new AbortController();
    const cancel = () => round.abort();
    abort.signal.addEventListener("abort", cancel, { once: true });
    return Promise.race([
      new Promise<void>((resolve) => {
        wakeResolve = resolve;
      }),
      store.waitForChange({ timeoutMs: ms, signal: round.signal }),
    ]).finally(() => {
      wakeResolve = undefined;
      abort.signal.removeEventListener("abort", cancel);
      round.abort();
    });
  };

  /** One round: returns how many rows were published. */
  async function round(): Promise<number> {
    const entries = await store.outbox.claim({ limit: batchSize, leaseMs });
    if (entries.length === 0) return 0;
    const byTopic = new Map<string, OutboxEntry[]>();
    for (const e of entries) {
      const list = byTopic.get(e.topic);
      if (list) list.push(e);
      else byTopic.set(e.topic, [e]);
    }
    for (const [topic, list] of byTopic) {
      await transport.publish(
        topic,
        list.map((e) => encodeEvent(e.event)),
      );
    }
    await store.outbox.markPublished({
      entries: entries.map((e) => ({ id: e.id, leaseToken: e.leaseToken })),
    });
    return entries.length;
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (running) {
      try {
        const n = await round();
        failures = 0;
        if (n === 0 && running) await waitForWork(pollMs);
      } catch (error) {
        failures++;
        logger.error("outbox relay round failed; rows stay unpublished and are retried", { error });
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures, 5_000)));
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      abort = new AbortController();
      loop = run();
    },
    async stop() {
      if (!running) return;
      running = false;
      abort.abort();
      wakeResolve?.();
      await loop;
    },
    wake() {
      if (wakeResolve) wakeResolve();
      else pendingWake = true;
    },
    async flush(flushOptions = {}) {
      const timeoutMs =
        flushOptions.timeout === undefined ? 30_000 : parseDuration(flushOptions.timeout, "timeout");
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if ((await store.outbox.pending()) === 0) return;
        if (running) {
          this.wake();
          await new Promise((r) => setTimeout(r, 10));
        } else {
          await round();
        }
      }
      throw new EventferryError("ABORTED", `[eventferry:outbox] outbox not empty after ${timeoutMs} ms`);
    },
    get running() {
      return running;
    },
  };
}
