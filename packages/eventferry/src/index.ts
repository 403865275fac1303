// eventferry — the front door: createEventferry, the adapter resolution, and core's public API.
export * from "@eventferry/core";
export {
  type BatchContext,
  type BatchHandler,
  type BatchHandlerOptions,
  type DeadLetterOptions,
  DeadLetterRequest,
  deadLetter,
  type HandlerOptions,
  type HandlerOutcome,
  type Inbox,
  type ProcessedResult,
  type RetryMiddlewareOptions,
  recoverer,
  retry,
  timeout,
  type WhenProcessedOptions,
  WhenProcessedTimeoutError,
} from "@eventferry/inbox";
export {
  type AnyModelEvents,
  defineModelEvents,
  type ModelEvents,
  type OutboxRelay,
} from "@eventferry/outbox";
export type {
  AppendResult,
  AttemptError,
  AttemptRecord,
  BatchStatus,
  DeadLetter,
  DeadLetterQuery,
  EventQuery,
  InboxStats,
  InboxStatus,
  SchemaRecord,
  Store,
  StoredEvent,
  StoreFeatures,
  StoreTx,
} from "@eventferry/store";
export { createMemoryStore, type MemoryTx } from "@eventferry/store";
export {
  createEventferry,
  type Eventferry,
  type EventferryDeadLetters,
  type EventferryOptions,
  eventferryDefaults,
  type PublishItem,
} from "./create-eventferry.js";
export {
  type AdapterPackageOverrides,
  adapterPackages,
  type ResolveAdapterOptions,
  resolveStore,
  resolveTransport,
  type StoreAdapterModule,
  type TransportAdapterModule,
} from "./resolve-adapters.js";
