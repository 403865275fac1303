// @eventferry/core — the public API. An explicit barrel: every export is named here.

export * from "./clock.js";
export * from "./codec.js";
export * from "./console-logger.js";
export * from "./contracts/handler.js";
export * from "./contracts/health.js";
export * from "./contracts/plugin.js";
export * from "./contracts/transport.js";
export * from "./define-event.js";
export * from "./duration.js";
export * from "./errors.js";
export * from "./event.js";
export * from "./glob.js";
export * from "./memory-transport.js";
export * from "./redact.js";
export * from "./registry.js";
export * from "./retry-policy.js";
export * from "./uuid.js";
// (helpers add: codec, uuid, glob, retry-policy, duration, redact, registry, memory-transport)
