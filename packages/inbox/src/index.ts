// @eventferry/inbox — the Transactional Inbox consumer.
export {
  type BatchContext,
  type BatchHandler,
  type BatchHandlerOptions,
  batchHandlerDefaults,
} from "./batch-handler.js";
export { createInbox, type Inbox, type InboxOptions, inboxDefaults } from "./create-inbox.js";
export type { HandlerOptions } from "./handler-options.js";
export { type DeadLetterOptions, DeadLetterRequest, deadLetter } from "./middleware/dead-letter.js";
export { recoverer } from "./middleware/recoverer.js";
export { type RetryMiddlewareOptions, retry } from "./middleware/retry.js";
export { timeout } from "./middleware/timeout.js";
export {
  type HandlerOutcome,
  type ProcessedResult,
  type WhenProcessedOptions,
  WhenProcessedTimeoutError,
} from "./processed.js";
