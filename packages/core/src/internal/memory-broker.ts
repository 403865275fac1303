// The state machine of the memory transport: topics hold a bounded log, consumer groups track
// what each group has delivered, leased, delayed and acked. Every operation is O(1) per message
// (O(batch) per call, O(groups) per publish); nothing scans a backlog.
import type { Clock, TimerHandle } from "../clock.js";
import type { Delivery } from "../contracts/transport.js";
import type { EncodedEvent } from "../event.js";
import { MemoryDeque } from "./memory-deque.js";

const INFLIGHT = 0;
const READY = 1;
const DELAYED = 2;
const ACKED = 3;
type EntryState = typeof INFLIGHT | typeof READY | typeof DELAYED | typeof ACKED;

const RESOLVED: Promise<void> = Promise.resolve();

/** One subscriber of a group, as the broker sees it. */
export interface MemoryConsumer {
  /** Entries leased to this consumer and not settled yet. */
  readonly inFlight: Set<MemoryEntry>;
  readonly ackTimeoutMs: number;
}

/** A message of a topic as one group tracks it once it was delivered at least once. */
export interface MemoryEntry {
  readonly seq: number;
  readonly event: EncodedEvent;
  readonly group: MemoryGroup;
  /** Deliveries so far in this group. */
  attempt: number;
  /** Identifies the current delivery; older deliveries cannot nack it. */
  token: number;
  state: EntryState;
  owner: MemoryConsumer | undefined;
  lease: MemoryLease | undefined;
  timer: TimerHandle | undefined;
}

/** One lease timer for a whole fetched batch; cleared once every delivery of it is settled. */
interface MemoryLease {
  readonly entries: MemoryEntry[];
  remaining: number;
  timer: TimerHandle | undefined;
}

/** A blocked fetch. */
export interface MemoryWaiter {
  readonly consumer: MemoryConsumer;
  readonly max: number;
  done: boolean;
  resolve(batch: MemoryDelivery[] | null): void;
}

/** The transport-wide part: clock, timers, token sequence, limits. */
export class MemoryBroker {
  readonly topics = new Map<string, MemoryTopic>();
  readonly #timers = new Set<TimerHandle>();
  #token = 0;
  closed = false;

  constructor(
    readonly clock: Clock,
    readonly maxMessagesPerTopic: number,
  ) {}

  nextToken(): number {
    return ++this.#token;
  }

  topic(name: string): MemoryTopic {
    let topic = this.topics.get(name);
    if (topic === undefined) {
      topic = new MemoryTopic(this, name);
      this.topics.set(name, topic);
    }
    return topic;
  }

  schedule(fn: () => void, ms: number): TimerHandle {
    const handle = this.clock.setTimeout(() => {
      this.#timers.delete(handle);
      if (!this.closed) fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  cancel(handle: TimerHandle): void {
    this.#timers.delete(handle);
    this.clock.clearTimeout(handle);
  }

  /** Timers currently scheduled (lease and delay timers). */
  get timerCount(): number {
    return this.#timers.size;
  }

  close(): void {
    this.closed = true;
    for (const handle of this.#timers) this.clock.clearTimeout(handle);
    this.#timers.clear();
  }
}

/** A topic: the retained log (from `baseSeq`) and its groups. */
export class MemoryTopic {
  readonly log = new MemoryDeque<EncodedEvent>();
  /** Sequence number of `log.at(0)`. */
  baseSeq = 0;
  /** Messages ever published to the topic. */
  published = 0;
  readonly groups = new Map<string, MemoryGroup>();

  constructor(
    readonly broker: MemoryBroker,
    readonly name: string,
  ) {}

  get nextSeq(): number {
    return this.baseSeq + this.log.length;
  }

  eventAt(seq: number): EncodedEvent {
    return this.log.at(seq - this.baseSeq)!;
  }

  append(events: readonly EncodedEvent[]): void {
    for (const event of events) this.log.push(event);
    this.published += events.length;
    for (const group of this.groups.values()) group.pump();
  }

  /** The group `name`, created at the oldest retained message when new. */
  group(name: string): MemoryGroup {
    let group = this.groups.get(name);
    if (group === undefined) {
      group = new MemoryGroup(this, name, this.baseSeq);
      this.groups.set(name, group);
    }
    return group;
  }

  /** Frees the messages every group has acked. */
  trim(): void {
    let min = Number.POSITIVE_INFINITY;
    for (const group of this.groups.values()) if (group.floor < min) min = group.floor;
    while (this.baseSeq < min && this.log.length > 0) {
      this.log.shift();
      this.baseSeq++;
    }
  }
}

/** A consumer group of one topic. */
export class MemoryGroup {
  /** Next sequence number never delivered to this group. */
  cursor: number;
  /** Lowest sequence number this group has not acked. */
  floor: number;
  /** Acked sequence numbers above `floor`. */
  readonly #ackedAhead = new Set<number>();
  /** Entries redeliverable now, in the order they became so (may hold settled ones: skipped). */
  readonly #ready = new MemoryDeque<MemoryEntry>();
  readonly #waiters = new MemoryDeque<MemoryWaiter>();
  readyCount = 0;
  inFlightCount = 0;
  delayedCount = 0;
  readonly consumers = new Set<MemoryConsumer>();

  constructor(
    readonly topic: MemoryTopic,
    readonly name: string,
    start: number,
  ) {
    this.cursor = start;
    this.floor = start;
  }

  /** Published messages this group has not received yet. */
  get backlog(): number {
    return this.topic.nextSeq - this.cursor;
  }

  get #broker(): MemoryBroker {
    return this.topic.broker;
  }

  available(): boolean {
    return this.readyCount > 0 || this.cursor < this.topic.nextSeq;
  }

  /** Hands out up to `max` deliveries to `consumer` (redeliveries first), or `undefined`. */
  take(consumer: MemoryConsumer, max: number): MemoryDelivery[] | undefined {
    if (!this.available()) return undefined;
    const lease: MemoryLease = { entries: [], remaining: 0, timer: undefined };
    const batch: MemoryDelivery[] = [];
    while (batch.length < max && this.readyCount > 0) {
      const entry = this.#ready.shift()!;
      if (entry.state !== READY) continue;
      this.readyCount--;
      batch.push(this.#deliver(entry, consumer, lease));
    }
    if (this.readyCount === 0 && this.#ready.length > 0) this.#ready.clear();
    const end = this.topic.nextSeq;
    while (batch.length < max && this.cursor < end) {
      const seq = this.cursor++;
      const entry: MemoryEntry = {
        seq,
        event: this.topic.eventAt(seq),
        group: this,
        attempt: 0,
        token: 0,
        state: READY,
        owner: undefined,
        lease: undefined,
        timer: undefined,
      };
      batch.push(this.#deliver(entry, consumer, lease));
    }
    lease.remaining = batch.length;
    lease.timer = this.#broker.schedule(() => this.#expire(lease), consumer.ackTimeoutMs);
    return batch;
  }

  /** Parks a fetch until deliveries are available; `pump()` resolves it. */
  wait(waiter: MemoryWaiter): void {
    this.#waiters.push(waiter);
  }

  /** Serves blocked fetches, oldest first, while there is something to deliver. */
  pump(): void {
    while (this.#waiters.length > 0 && this.available()) {
      const waiter = this.#waiters.shift()!;
      if (waiter.done) continue;
      waiter.done = true;
      waiter.resolve(this.take(waiter.consumer, waiter.max) ?? []);
    }
    if (this.#waiters.length > 0 && this.#waiters.peek()!.done) this.#dropDoneWaiters();
  }

  /** Acks `entry` in this group, whichever delivery of it asks (like Redis `XACK`). */
  ack(entry: MemoryEntry): void {
    if (entry.state === ACKED) return;
    this.#detach(entry);
    entry.state = ACKED;
    if (entry.seq === this.floor) {
      const wasTopicFloor = this.floor === this.topic.baseSeq;
      this.floor++;
      while (this.#ackedAhead.delete(this.floor)) this.floor++;
      if (wasTopicFloor) this.topic.trim();
    } else {
      this.#ackedAhead.add(entry.seq);
    }
  }

  /** Makes the in-flight `entry` redeliverable now, or after `delayMs`. */
  nack(entry: MemoryEntry, delayMs: number): void {
    this.#detach(entry);
    if (delayMs > 0) {
      entry.state = DELAYED;
      this.delayedCount++;
      entry.timer = this.#broker.schedule(() => {
        entry.timer = undefined;
        this.delayedCount--;
        this.#makeReady(entry);
        this.pump();
      }, delayMs);
    } else {
      this.#makeReady(entry);
      this.pump();
    }
  }

  /** A consumer went away: everything it holds is redeliverable now. */
  release(consumer: MemoryConsumer): void {
    for (const entry of consumer.inFlight) {
      this.inFlightCount--;
      this.#settleLease(entry);
      entry.owner = undefined;
      this.#makeReady(entry);
    }
    consumer.inFlight.clear();
    this.consumers.delete(consumer);
    this.pump();
  }

  /**
   * Returns deliveries that were fetched but never shown to the consumer: they go back to the
   * front, in order, without counting an attempt.
   */
  giveBack(consumer: MemoryConsumer, deliveries: readonly MemoryDelivery[]): void {
    for (let i = deliveries.length - 1; i >= 0; i--) {
      const delivery = deliveries[i]!;
      const entry = delivery.entry;
      if (!delivery.isCurrent() || entry.owner !== consumer) continue;
      consumer.inFlight.delete(entry);
      this.inFlightCount--;
      this.#settleLease(entry);
      entry.owner = undefined;
      entry.attempt--;
      entry.state = READY;
      this.readyCount++;
      this.#ready.pushFront(entry);
    }
    this.pump();
  }

  #deliver(entry: MemoryEntry, consumer: MemoryConsumer, lease: MemoryLease): MemoryDelivery {
    entry.attempt++;
    entry.token = this.#broker.nextToken();
    entry.state = INFLIGHT;
    entry.owner = consumer;
    entry.lease = lease;
    lease.entries.push(entry);
    consumer.inFlight.add(entry);
    this.inFlightCount++;
    return new MemoryDelivery(entry, entry.token);
  }

  #expire(lease: MemoryLease): void {
    lease.timer = undefined;
    for (const entry of lease.entries) {
      if (entry.lease !== lease || entry.state !== INFLIGHT) continue;
      entry.lease = undefined;
      entry.owner?.inFlight.delete(entry);
      entry.owner = undefined;
      this.inFlightCount--;
      this.#makeReady(entry);
    }
    this.pump();
  }

  /** Takes `entry` out of whatever state it is in (not ACKED). */
  #detach(entry: MemoryEntry): void {
    switch (entry.state) {
      case INFLIGHT:
        entry.owner?.inFlight.delete(entry);
        entry.owner = undefined;
        this.inFlightCount--;
        this.#settleLease(entry);
        break;
      case READY:
        this.readyCount--;
        if (this.readyCount === 0) this.#ready.clear();
        break;
      case DELAYED:
        if (entry.timer !== undefined) this.#broker.cancel(entry.timer);
        entry.timer = undefined;
        this.delayedCount--;
        break;
    }
  }

  #settleLease(entry: MemoryEntry): void {
    const lease = entry.lease;
    if (lease === undefined) return;
    entry.lease = undefined;
    lease.remaining--;
    if (lease.remaining === 0 && lease.timer !== undefined) {
      this.#broker.cancel(lease.timer);
      lease.timer = undefined;
    }
  }

  #makeReady(entry: MemoryEntry): void {
    entry.state = READY;
    this.readyCount++;
    this.#ready.push(entry);
  }

  #dropDoneWaiters(): void {
    const live: MemoryWaiter[] = [];
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters.shift()!;
      if (!waiter.done) live.push(waiter);
    }
    for (const waiter of live) this.#waiters.push(waiter);
  }
}

/** A delivery of the memory transport. Ack or nack once; later calls are no-ops. */
export class MemoryDelivery implements Delivery {
  readonly event: EncodedEvent;
  readonly attempt: number;
  readonly #token: number;
  #settled = false;

  constructor(
    readonly entry: MemoryEntry,
    token: number,
  ) {
    this.event = entry.event;
    this.attempt = entry.attempt;
    this.#token = token;
  }

  get transportId(): string {
    return String(this.entry.seq);
  }

  /** True while this is the entry's current, unsettled delivery. */
  isCurrent(): boolean {
    return !this.#settled && this.entry.token === this.#token && this.entry.state === INFLIGHT;
  }

  ack(): Promise<void> {
    this.ackNow();
    return RESOLVED;
  }

  /** Synchronous ack, for `ackMany`. */
  ackNow(): void {
    if (this.#settled) return;
    this.#settled = true;
    const group = this.entry.group;
    if (group.topic.broker.closed) return;
    group.ack(this.entry);
  }

  nack(options?: { delayMs?: number }): Promise<void> {
    if (!this.isCurrent()) {
      this.#settled = true;
      return RESOLVED;
    }
    this.#settled = true;
    const group = this.entry.group;
    if (group.topic.broker.closed) return RESOLVED;
    const delayMs = options?.delayMs;
    group.nack(
      this.entry,
      typeof delayMs === "number" && Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0,
    );
    return RESOLVED;
  }
}
