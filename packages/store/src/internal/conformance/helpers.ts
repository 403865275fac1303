import { type EventEnvelope, uuidv7 } from "@eventferry/core";
import type {
  AttemptError,
  EventQuery,
  InboxEntry,
  LeaseRef,
  OutboxEntry,
  Store,
  StoredEvent,
} from "../../store.js";

/** Lease long enough never to expire during a case. */
export const LONG_LEASE_MS = 30_000;
/** Lease short enough to wait out (real databases run the suite: no fake clocks). */
export const SHORT_LEASE_MS = 250;
/** For cases that check an entry is still leased after a few round trips: long enough under load. */
export const CHECK_LEASE_MS = 1_500;
/**
 * A retry delay or a delivery delay that a case checks is still in the future after a few round
 * trips: long enough on a loaded machine (300 ms was not, with a CI run beside other work).
 */
export const WAIT_MS = 1_500;
/** Slack added after a store-clock instant before relying on it having passed. */
const CLOCK_SLACK_MS = 5;

let counter = 0;

/** A fresh envelope (UUIDv7 id, priority 3, occurred now), with overrides. */
export function makeEvent(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  counter++;
  return {
    id: uuidv7(),
    type: "conformance.happened",
    data: { n: counter, text: `event ${counter}` },
    schemaVersion: 1,
    priority: 3,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

export function makeEvents(n: number, overrides: Partial<EventEnvelope> = {}): EventEnvelope[] {
  return Array.from({ length: n }, () => makeEvent(overrides));
}

/** An attempt error with a stack and a code, as a handler failure produces. */
export function attemptError(message: string): AttemptError {
  return {
    name: "Error",
    message,
    stack: `Error: ${message}\n    at handler (file:///app/handlers.js:10:11)\n    at run (file:///app/run.js:3:5)`,
    code: "E_CONFORMANCE",
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The store's clock in ms. */
export async function storeMs(store: Store): Promise<number> {
  return (await store.now()).getTime();
}

/** Waits (polling the store's clock) until the store's now is at or past `atMs` + a little slack. */
export async function waitForStoreTime(store: Store, atMs: number, timeoutMs = 3_000): Promise<void> {
  const target = atMs + CLOCK_SLACK_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await storeMs(store);
    if (now >= target) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the store clock did not reach ${new Date(target).toISOString()} within ${timeoutMs} ms`,
      );
    }
    await sleep(Math.min(25, Math.max(1, target - now)));
  }
}

/** Waits until the store's clock is past the entry's lease. */
export function waitPastLease(store: Store, entry: InboxEntry): Promise<void> {
  return waitForStoreTime(store, Date.parse(entry.leaseExpiresAt));
}

export function ref(entry: InboxEntry | OutboxEntry): LeaseRef {
  return { id: entry.id, leaseToken: entry.leaseToken };
}

export async function readAll(store: Store, query?: EventQuery): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of store.read(query)) out.push(e);
  return out;
}

export async function readIds(store: Store, query?: EventQuery): Promise<string[]> {
  return (await readAll(store, query)).map((e) => e.id);
}

/** Records events for one consumer. */
export function record(store: Store, consumer: string, events: readonly EventEnvelope[], maxAttempts = 5) {
  return store.inbox.record({ entries: events.map((event) => ({ consumer, event, maxAttempts })) });
}

/** Claims for one consumer. */
export function claim(store: Store, consumer: string, limit = 100, leaseMs = LONG_LEASE_MS) {
  return store.inbox.claim({ consumers: [consumer], limit, leaseMs, worker: "conformance" });
}

/** Event ids of claimed entries, in the order returned. */
export function eventIds(entries: readonly { event: EventEnvelope }[]): string[] {
  return entries.map((e) => e.event.id);
}

/** Records one event with `maxAttempts` 1, claims it and dead-letters it; returns the entry id. */
export async function deadLetterEvent(
  store: Store,
  consumer: string,
  event: EventEnvelope,
  reason = "given up",
): Promise<string> {
  await record(store, consumer, [event], 1);
  const claimed = await claim(store, consumer);
  const entry = claimed.find((e) => e.event.id === event.id);
  if (!entry) throw new Error(`could not claim ${event.id} to dead-letter it`);
  const outcome = await store.inbox.fail({
    ...ref(entry),
    error: attemptError(`failed ${event.id}`),
    deadLetter: true,
    reason,
  });
  if (outcome !== "dead-lettered") throw new Error(`expected dead-lettered, got ${outcome}`);
  return entry.id;
}

/** An id no store has seen (UUID-shaped, so uuid-typed columns accept it). */
export function unknownId(): string {
  return uuidv7();
}
