import { ConfigError } from "./errors.js";

/** A compiled event-type pattern: true when `type` matches. */
export type TypeMatcher = (type: string) => boolean;

const LITERAL_SEGMENT_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Compiles an event-type pattern into a matcher. Event types are dot-separated segments.
 *
 * - a literal segment (`[A-Za-z0-9_-]+`) matches itself;
 * - `*` matches exactly one segment: `"order.*"` matches `order.created`, not `order` nor `order.a.b`;
 * - `**` matches zero or more segments: `"order.**"` matches `order`, `order.a` and `order.a.b`;
 *   `"**.failed"` matches `failed` and `payment.card.failed`; `"**"` matches every type.
 *
 * A wildcard is always a whole segment (`"order.*ed"` and `"a**b"` are invalid). Empty segments,
 * characters outside `[A-Za-z0-9_*-]` and empty patterns are rejected with a {@link ConfigError}.
 *
 * The pattern is compiled once: literal patterns compare strings, `prefix.**` compares a prefix,
 * anything else walks the segments with one backtrack point (linear in practice, O(segments ×
 * tokens) at worst, no RegExp). Matching allocates nothing.
 *
 * @example
 * const isOrder = compileGlob("order.*");
 * isOrder("order.created");   // true
 * isOrder("order.item.added"); // false
 * compileGlob("order.**")("order.item.added"); // true
 */
export function compileGlob(pattern: string): TypeMatcher {
  const segments = parseGlob(pattern);

  // Collapse runs of `**`: `a.**.**.b` is `a.**.b`.
  const collapsed: string[] = [];
  for (const s of segments) {
    if (s === "**" && collapsed[collapsed.length - 1] === "**") continue;
    collapsed.push(s);
  }

  const wildcards = collapsed.filter((s) => s === "*" || s === "**").length;
  if (wildcards === 0) {
    const literal = collapsed.join(".");
    return (type) => type === literal;
  }
  if (collapsed.length === 1 && collapsed[0] === "**") return () => true;
  if (wildcards === 1 && collapsed[collapsed.length - 1] === "**") {
    const exact = collapsed.slice(0, -1).join(".");
    const prefix = `${exact}.`;
    return (type) => type === exact || type.startsWith(prefix);
  }

  const tokens: readonly string[] = collapsed;
  return (type) => matchSegments(tokens, type);
}

/**
 * Wildcard matching over segments, walking `type` by character offsets (no split, no allocation).
 * `**` is the classic "star" with a single backtrack point, so the cost is O(segments × tokens)
 * whatever the pattern — no exponential backtracking.
 */
function matchSegments(tokens: readonly string[], type: string): boolean {
  const n = type.length;
  const m = tokens.length;
  let pos = 0; // start of the current type segment; n + 1 once every segment is consumed
  let j = 0; // current token
  let starToken = -1; // the last `**` seen
  let starPos = 0; // where the segments it absorbs end
  while (pos <= n) {
    let end = type.indexOf(".", pos);
    if (end === -1) end = n;
    const token = j < m ? (tokens[j] as string) : undefined;
    if (token === "**") {
      starToken = j;
      starPos = pos;
      j++;
    } else if (
      token !== undefined &&
      (token === "*" ? end > pos : end - pos === token.length && type.startsWith(token, pos))
    ) {
      pos = end + 1;
      j++;
    } else if (starToken !== -1) {
      // Let the last `**` absorb one more segment and retry from there.
      let absorbed = type.indexOf(".", starPos);
      if (absorbed === -1) absorbed = n;
      starPos = absorbed + 1;
      pos = starPos;
      j = starToken + 1;
    } else {
      return false;
    }
  }
  while (j < m && tokens[j] === "**") j++;
  return j === m;
}

/** True when `value` contains a wildcard (`*`), i.e. is a pattern rather than one event type. */
export function isGlobPattern(value: string): boolean {
  return value.includes("*");
}

function parseGlob(pattern: string): string[] {
  if (typeof pattern !== "string" || pattern.length === 0) {
    throw invalid(pattern, "it is empty");
  }
  if (pattern.length > 255) throw invalid(pattern, "it is longer than 255 characters");
  const segments = pattern.split(".");
  for (const segment of segments) {
    if (segment.length === 0) throw invalid(pattern, "it has an empty segment");
    if (segment === "*" || segment === "**") continue;
    if (segment.includes("*")) {
      throw invalid(
        pattern,
        `segment "${segment}" mixes "*" with other characters (a wildcard is a whole segment)`,
      );
    }
    if (!LITERAL_SEGMENT_RE.test(segment)) {
      throw invalid(pattern, `segment "${segment}" has characters outside [A-Za-z0-9_-]`);
    }
  }
  return segments;
}

function invalid(pattern: unknown, reason: string): ConfigError {
  const problem = `event type pattern ${JSON.stringify(pattern)} is invalid: ${reason}`;
  return new ConfigError(`[eventferry:core] ${problem}`, { problems: [problem] });
}
