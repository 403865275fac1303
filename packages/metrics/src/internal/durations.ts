import { ConfigError, type Duration, parseDuration } from "@eventferry/core";

/** Parses an optional duration option, or returns `fallback`; `false` stays `false`. */
export function durationOption(
  value: Duration | false | undefined,
  fallback: number,
  name: string,
  problems: string[],
): number | false {
  if (value === false) return false;
  if (value === undefined) return fallback;
  try {
    const ms = parseDuration(value, name);
    if (ms <= 0) problems.push(`${name} must be positive`);
    return ms;
  } catch (error) {
    problems.push(...(error instanceof ConfigError ? error.problems : [String(error)]));
    return fallback;
  }
}

/** Milliseconds since an ISO-8601 instant, or `undefined` when it does not parse. */
export function ageMs(iso: string | undefined, now: number): number | undefined {
  if (typeof iso !== "string") return undefined;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? undefined : Math.max(0, now - at);
}
