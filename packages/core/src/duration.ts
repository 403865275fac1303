import { ConfigError } from "./errors.js";

/**
 * A length of time: a number of milliseconds, or a string with units.
 *
 * Units: `ms`, `s`, `m`, `h`, `d`, `w` (also `sec`, `min`, `hr`, `second(s)`, `minute(s)`,
 * `hour(s)`, `day(s)`, `week(s)`). Fractions are allowed (`"1.5s"`), parts may be combined
 * (`"1h30m"`, `"1m 30s"`), and a bare numeric string is milliseconds (`"250"`).
 *
 * @example
 * const a: Duration = 250;      // 250 ms
 * const b: Duration = "10s";    // 10 000 ms
 * const c: Duration = "1h30m";  // 5 400 000 ms
 */
export type Duration = number | string;

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** A whole duration string: one or more `<number><unit>` parts, optionally separated by spaces. */
const WHOLE_RE = /^(?:\d+(?:\.\d+)?|\.\d+) *[a-z]+(?: *(?:\d+(?:\.\d+)?|\.\d+) *[a-z]+)*$/;
const PART_RE = /(\d+(?:\.\d+)?|\.\d+) *([a-z]+)/g;
const PLAIN_NUMBER_RE = /^(?:\d+(?:\.\d+)?|\.\d+)$/;

/**
 * Parses a {@link Duration} into milliseconds. Returns `undefined` for anything that is not a
 * valid, finite, non-negative duration (never throws).
 *
 * @example
 * tryParseDuration("1.5s"); // 1500
 * tryParseDuration("soon"); // undefined
 */
export function tryParseDuration(value: unknown): number | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== "string") return undefined;
  const text = value.trim().toLowerCase();
  if (text.length === 0 || text.length > 100) return undefined;
  if (PLAIN_NUMBER_RE.test(text)) return Math.round(Number(text));
  if (!WHOLE_RE.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(PART_RE)) {
    const unit = MS_PER_UNIT[match[2] as string];
    if (unit === undefined) return undefined;
    total += Number(match[1]) * unit;
  }
  total = Math.round(total);
  return Number.isFinite(total) ? total : undefined;
}

/**
 * Parses a {@link Duration} into milliseconds.
 *
 * Numbers are milliseconds and are returned as given; strings are rounded to whole milliseconds.
 * MUST reject (with a {@link ConfigError} that names `name`) anything that is not a finite,
 * non-negative duration: garbage strings, unknown units, negative numbers, `NaN`, `Infinity`.
 *
 * @param name What the value configures, for the error message. @default "duration"
 * @example
 * parseDuration("5m");               // 300000
 * parseDuration(250);                // 250
 * parseDuration("soon", "maxDelay"); // throws ConfigError: maxDelay must be a duration …
 */
export function parseDuration(value: Duration, name = "duration"): number {
  const ms = tryParseDuration(value);
  if (ms === undefined) {
    const problem = `${name} must be a non-negative duration (milliseconds, or a string like "250ms", "10s", "5m", "2h", "1d"), got ${describe(value)}`;
    throw new ConfigError(`[eventferry:core] ${problem}`, { problems: [problem], details: { name } });
  }
  return ms;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number") return String(value);
  return typeof value;
}
