// @eventferry/transport-redis — the Redis Streams transport on ioredis.

export { classifyRedisError, type RedisErrorKind, toTransportError } from "./classify-error.js";
export { createTransportFromUrl, parseTransportUrl } from "./create-transport-from-url.js";
export {
  createRedisTransport,
  type RedisTransport,
  type RedisTransportOptions,
  type RedisTrimOptions,
  redisTransportDefaults,
  redisTransportFeatures,
} from "./redis-transport.js";
