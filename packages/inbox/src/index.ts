// @eventferry/inbox — the Transactional Inbox consumer.
export { createInbox, type Inbox, type InboxOptions, inboxDefaults } from "./create-inbox.js";
export type { HandlerOptions } from "./handler-options.js";
export { timeout } from "./middleware/timeout.js";
