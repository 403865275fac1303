import type { MemoryContext } from "./memory-context.js";
import type { MemoryInbox } from "./memory-inbox.js";
import type { MemoryLog } from "./memory-log.js";
import type { MemoryOutbox } from "./memory-outbox.js";

/** The parts of a memory store, for its own tests (sizes of indexes, retention). Not exported. */
export interface MemoryInternals {
  readonly inbox: MemoryInbox;
  readonly outbox: MemoryOutbox;
  readonly log: MemoryLog;
  readonly ctx: MemoryContext;
}

const internals = new WeakMap<object, MemoryInternals>();

export function registerMemoryInternals(store: object, parts: MemoryInternals): void {
  internals.set(store, parts);
}

export function memoryInternals(store: object): MemoryInternals {
  const parts = internals.get(store);
  if (!parts) throw new Error("not a memory store");
  return parts;
}
