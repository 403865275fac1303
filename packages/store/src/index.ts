// @eventferry/store — the Store contract and the in-memory store.

export {
  copyAttemptError,
  LEASE_EXPIRED_ERROR_NAME,
  LEASE_EXPIRED_REASON,
  toAttemptError,
  withoutNul,
} from "./attempt-error.js";
export { checkBatchCreate, checkRecordInput } from "./input-checks.js";
export {
  createMemoryStore,
  type MemoryKv,
  type MemoryStore,
  type MemoryStoreClock,
  type MemoryStoreOptions,
  type MemoryTx,
  memoryStoreDefaults,
} from "./memory-store.js";
export { canonicalJson, type StorableEnvelope, storableEnvelope } from "./storable-envelope.js";
export type * from "./store.js";
