// @eventferry/transport-nats — the NATS JetStream transport on the v3 client.

export { classifyNatsError, type NatsErrorKind, toTransportError } from "./classify-error.js";
export { createTransportFromUrl, parseNatsUrl } from "./create-transport-from-url.js";
export type { NatsDelivery } from "./internal/nats-subscription.js";
export {
  createNatsTransport,
  type NatsTransport,
  type NatsTransportOptions,
  natsTransportDefaults,
  natsTransportFeatures,
} from "./nats-transport.js";
export {
  type GatedFeature,
  natsGatedFeatures,
  parseServerVersion,
  serverAtLeast,
  supportsFeature,
} from "./server-features.js";
