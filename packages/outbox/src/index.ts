// @eventferry/outbox — the Transactional Outbox relay.
export {
  createOutboxRelay,
  type OutboxRelay,
  type OutboxRelayOptions,
  outboxRelayDefaults,
} from "./create-outbox-relay.js";
export { publishInTransaction } from "./publish-in-transaction.js";
