// @eventferry/core — the public API. An explicit barrel: every export is named here.
export * from "./errors.js";
export * from "./event.js";
export * from "./define-event.js";
export * from "./contracts/health.js";
export * from "./contracts/transport.js";
export * from "./contracts/handler.js";
export * from "./contracts/plugin.js";
// (helpers add: codec, uuid, glob, retry-policy, duration, redact, registry, memory-transport)
