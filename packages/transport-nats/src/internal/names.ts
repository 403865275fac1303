// Names on the server: the stream of a prefix, the subject of a topic, the subjects of a topic
// pattern, the durable consumer of a (topic, group).
import { createHash } from "node:crypto";
import { ConfigError, componentMessage, isValidTopic } from "@eventferry/core";

/** The component name in messages and health reports. */
export const COMPONENT = "transport-nats";

/** A stream prefix (and stream name): one subject token that is also a valid stream name. */
const PREFIX_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** True when `prefix` can be a stream prefix: 1–64 characters of `[A-Za-z0-9_-]`. */
export function isValidStreamPrefix(prefix: unknown): prefix is string {
  return typeof prefix === "string" && PREFIX_RE.test(prefix);
}

/** The subject events of `topic` are published to: `<prefix>.<topic>`. */
export function topicSubject(prefix: string, topic: string): string {
  return `${prefix}.${topic}`;
}

/** The subjects every topic of a prefix lives under (the stream's subject filter). */
export function streamSubjects(prefix: string): string[] {
  return [`${prefix}.>`];
}

const PATTERN_SEGMENT_RE = /^(?:[A-Za-z0-9_-]+|\*|\*\*)$/;

/**
 * True when `topic` is a topic or a topic pattern: dot-separated segments that are literal
 * (`[A-Za-z0-9_-]+`), `*` (one segment) or `**` (zero or more segments, last segment only).
 */
export function isValidTopicPattern(topic: unknown): topic is string {
  if (typeof topic !== "string" || topic.length === 0 || topic.length > 200) return false;
  const segments = topic.split(".");
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (!PATTERN_SEGMENT_RE.test(segment)) return false;
    if (segment === "**" && i !== segments.length - 1) return false;
  }
  return true;
}

/**
 * The NATS subject filters of a topic or topic pattern under `prefix`: `*` → `*`, a trailing
 * `**` → `>` (plus the parent subject itself, because `**` also matches zero segments). A plain
 * topic gives one subject; `order.**` gives two (`<p>.order` and `<p>.order.>`), which needs a
 * consumer with several filter subjects (nats-server 2.10+).
 *
 * Throws a {@link ConfigError} for anything else (`**` not last, empty segments, other characters).
 *
 * @example
 * topicFilterSubjects("ef", "order.*");  // ["ef.order.*"]
 * topicFilterSubjects("ef", "**");       // ["ef.>"]
 * topicFilterSubjects("ef", "order.**"); // ["ef.order", "ef.order.>"]
 */
export function topicFilterSubjects(prefix: string, topic: string): string[] {
  if (!isValidTopicPattern(topic)) {
    throw new ConfigError(
      componentMessage(
        COMPONENT,
        `invalid topic "${String(topic)}": use dot-separated segments of [A-Za-z0-9_-], "*" for one segment, or a trailing "**"`,
      ),
    );
  }
  if (isValidTopic(topic)) return [topicSubject(prefix, topic)];
  const segments = topic.split(".");
  if (segments[segments.length - 1] !== "**") return [topicSubject(prefix, topic)];
  const parent = segments.slice(0, -1);
  if (parent.length === 0) return [`${prefix}.>`];
  const base = `${prefix}.${parent.join(".")}`;
  return [base, `${base}.>`];
}

/** Replaces what a consumer name cannot hold and caps the length. */
function readable(text: string, max: number): string {
  const safe = text.replace(/[^A-Za-z0-9_-]/g, "_");
  return safe.length <= max ? safe : safe.slice(0, max);
}

/**
 * The durable consumer name of `group` on `topic`: readable parts plus a hash of both, so two
 * (topic, group) pairs never share a consumer even when their readable parts collide
 * (`a.b` / `a_b`) or are cut.
 *
 * @example
 * durableName("order.created", "billing"); // "billing__order_created__1f2e3d4c5b6a"
 */
export function durableName(topic: string, group: string): string {
  const hash = createHash("sha256").update(group).update("\u0000").update(topic).digest("hex").slice(0, 12);
  return `${readable(group, 48)}__${readable(topic, 48)}__${hash}`;
}
