/**
 * Features of the transport that need a newer nats-server than the oldest it supports (2.9), and
 * the check against the version the connected server reports in its INFO.
 */

/** A feature the transport gates on the server version. */
export type GatedFeature = "multiFilterConsumers" | "streamCompression" | "consumerMetadata" | "termReason";

/**
 * The minimum nats-server version of each gated feature:
 *
 * - `multiFilterConsumers` — a consumer with several filter subjects; used for topic patterns
 *   ending in `**` (`order.**` needs `order` and `order.>`). On an older server such a subscribe
 *   rejects with a `ConfigError`.
 * - `streamCompression` — the stream option `compression: "s2"`. On an older server provisioning
 *   rejects with a `ConfigError` (the server would otherwise ignore it silently).
 * - `consumerMetadata` — the transport labels its consumers with their topic and group; on an
 *   older server the label is left out (it is informational only).
 * - `termReason` — `term(reason)` sends `+TERM <reason>`; an older server ignores that form (the
 *   message would come back), so there the reason is dropped and a bare `+TERM` is sent.
 *
 * @example
 * natsGatedFeatures.streamCompression; // "2.10.0"
 */
export const natsGatedFeatures: Readonly<Record<GatedFeature, string>> = Object.freeze({
  multiFilterConsumers: "2.10.0",
  streamCompression: "2.10.0",
  consumerMetadata: "2.10.0",
  termReason: "2.10.0",
});

/** `[major, minor, patch]` of a version string such as `2.9.10` or `v2.10.0-beta.1`; undefined when unparsable. */
export function parseServerVersion(version: unknown): [number, number, number] | undefined {
  if (typeof version !== "string") return undefined;
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/**
 * True when `version` is at least `minimum`. An unparsable `version` counts as too old, so a
 * gated feature is never used on a server that did not say what it is.
 *
 * @example
 * serverAtLeast("2.9.10", "2.10.0"); // false
 * serverAtLeast("2.10.4", "2.10.0"); // true
 */
export function serverAtLeast(version: unknown, minimum: string): boolean {
  const have = parseServerVersion(version);
  const need = parseServerVersion(minimum);
  if (have === undefined || need === undefined) return false;
  for (let i = 0; i < 3; i++) {
    if ((have[i] as number) !== (need[i] as number)) return (have[i] as number) > (need[i] as number);
  }
  return true;
}

/** True when the server of `version` supports `feature`. */
export function supportsFeature(version: unknown, feature: GatedFeature): boolean {
  return serverAtLeast(version, natsGatedFeatures[feature]);
}
