// @eventferry/outbox — the Transactional Outbox: the writer, the relay and model lifecycle events.
export {
  createOutboxRelay,
  type OutboxRelay,
  type OutboxRelayOptions,
  outboxRelayDefaults,
} from "./create-outbox-relay.js";
export {
  type AnyModelEvents,
  type DefineModelEventsOptions,
  defineModelEvents,
  isModelEvents,
  type ModelAction,
  type ModelChange,
  type ModelEventName,
  type ModelEvents,
  type ModelHook,
  type ModelUpdatedSchema,
  type ModelUpdateOptions,
  type ModelWriteOptions,
  modelEventOf,
} from "./define-model-events.js";
export { publishInTransaction } from "./publish-in-transaction.js";
