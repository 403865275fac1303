import { redact } from "@eventferry/core";
import type { RedisOptions } from "ioredis";
import { configError } from "./classify-error.js";
import {
  createRedisTransport,
  type RedisTransport,
  type RedisTransportOptions,
  type RedisTrimOptions,
} from "./redis-transport.js";

/** Query parameters read from a transport URL, with what they set. */
const NUMBER_PARAMS = [
  "blockMs",
  "claimIntervalMs",
  "watchdogMs",
  "maxLen",
  "maxAgeMs",
  "connectTimeout",
  "commandTimeout",
] as const;
const KNOWN = new Set<string>([
  ...NUMBER_PARAMS,
  "prefix",
  "deadConsumerIdleMs",
  "groupStart",
  "exactTrim",
  "connectionName",
]);

/**
 * Parses a transport URL into {@link RedisTransportOptions} without connecting. Query parameters:
 * `prefix`, `maxLen` or `maxAgeMs` (+ `exactTrim=true`), `blockMs`, `claimIntervalMs`,
 * `deadConsumerIdleMs` (ms, or `off`), `watchdogMs`, `groupStart` (`$` or `0`), `connectionName`,
 * and the ioredis `connectTimeout` / `commandTimeout`. They are removed before the URL (scheme,
 * user, password, host, port, `/db`) goes to ioredis. Unknown parameters are a `ConfigError`.
 *
 * @example
 * parseTransportUrl("redis://cache:6379/0?prefix=shop&maxLen=100000");
 * // { url: "redis://cache:6379/0", prefix: "shop", trim: { maxLen: 100000 } }
 */
export function parseTransportUrl(url: string): RedisTransportOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw configError("invalid transport URL", [`not a valid URL: ${redact(String(url))}`]);
  }
  const problems: string[] = [];
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    problems.push(`expected a redis:// or rediss:// URL, got ${redact(String(url))}`);
  }
  if (parsed.hostname === "") problems.push("the URL has no host");
  const path = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (path !== "" && !/^\d{1,2}$/.test(path))
    problems.push(`the path must be a database number, got "/${path}"`);
  const options: RedisTransportOptions = {};
  const redisOptions: RedisOptions = {};
  const numbers: Partial<Record<(typeof NUMBER_PARAMS)[number], number>> = {};
  for (const name of new Set(parsed.searchParams.keys())) {
    if (!KNOWN.has(name)) {
      problems.push(`unknown query parameter "${name}" (known: ${[...KNOWN].join(", ")})`);
      continue;
    }
    const values = parsed.searchParams.getAll(name);
    if (values.length > 1) problems.push(`query parameter "${name}" is given ${values.length} times`);
    const value = values[0] as string;
    if ((NUMBER_PARAMS as readonly string[]).includes(name)) {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n) || n < 0)
        problems.push(`${name} must be a number >= 0, got "${value}"`);
      else numbers[name as (typeof NUMBER_PARAMS)[number]] = n;
      continue;
    }
    switch (name) {
      case "prefix":
        options.prefix = value;
        break;
      case "connectionName":
        options.connectionName = value;
        break;
      case "groupStart":
        if (value !== "$" && value !== "0") problems.push(`groupStart must be "$" or "0", got "${value}"`);
        else options.groupStart = value;
        break;
      case "deadConsumerIdleMs": {
        if (value === "off" || value === "false") options.deadConsumerIdleMs = false;
        else {
          const n = Number(value);
          if (!Number.isFinite(n) || n <= 0)
            problems.push(`deadConsumerIdleMs must be a positive number or "off", got "${value}"`);
          else options.deadConsumerIdleMs = n;
        }
        break;
      }
      case "exactTrim":
        if (value !== "true" && value !== "false")
          problems.push(`exactTrim must be true or false, got "${value}"`);
        break;
    }
  }
  if (numbers.blockMs !== undefined) options.blockMs = numbers.blockMs;
  if (numbers.claimIntervalMs !== undefined) options.claimIntervalMs = numbers.claimIntervalMs;
  if (numbers.watchdogMs !== undefined) options.watchdogMs = numbers.watchdogMs;
  if (numbers.connectTimeout !== undefined) redisOptions.connectTimeout = numbers.connectTimeout;
  if (numbers.commandTimeout !== undefined) redisOptions.commandTimeout = numbers.commandTimeout;
  const exact = parsed.searchParams.get("exactTrim") === "true";
  if (numbers.maxLen !== undefined && numbers.maxAgeMs !== undefined)
    problems.push("give maxLen or maxAgeMs, not both");
  else if (numbers.maxLen !== undefined)
    options.trim = { maxLen: numbers.maxLen, exact } satisfies RedisTrimOptions;
  else if (numbers.maxAgeMs !== undefined)
    options.trim = { maxAgeMs: numbers.maxAgeMs, exact } satisfies RedisTrimOptions;
  if (problems.length > 0) throw configError(`invalid transport URL ${redact(String(url))}`, problems);
  parsed.search = "";
  options.url = parsed.toString();
  if (Object.keys(redisOptions).length > 0) options.redisOptions = redisOptions;
  return options;
}

/**
 * Creates a {@link RedisTransport} from a config string (the `eventferry` front door's
 * `transport:` option): `redis://[user:password@]host:port[/db]?prefix=shop&maxLen=1000000`, or
 * `rediss://…` for TLS. See {@link parseTransportUrl} for the query parameters. Validates
 * synchronously (a `ConfigError`, password redacted) and connects lazily; the caller owns the
 * transport and closes it.
 *
 * @example
 * const transport = createTransportFromUrl("redis://localhost:6379?prefix=shop");
 */
export function createTransportFromUrl(url: string): RedisTransport {
  return createRedisTransport(parseTransportUrl(url));
}
