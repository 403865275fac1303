// Names shared by the transport's files: the component label, key layout and connection names.

/** The component name in messages and health reports. */
export const COMPONENT = "transport-redis";

/** Prefixes are key-safe and glob-safe (so `SCAN MATCH prefix:*` finds exactly a prefix's keys). */
export const PREFIX_RE = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/;

/** Longest accepted prefix. */
export const MAX_PREFIX_LENGTH = 100;

/**
 * The stream key of `topic`: `<prefix>:{<topic>}`. The braces are a Redis Cluster hash tag, so the
 * stream and its per-group delayed sets live in one slot (pipelines and scripts stay on one node).
 */
export function streamKey(prefix: string, topic: string): string {
  return `${prefix}:{${topic}}`;
}

/** The sorted set of nacked entries (`score` = due time, server ms) of one group of a topic. */
export function delayedKey(prefix: string, topic: string, group: string): string {
  return `${prefix}:{${topic}}:delayed:${group}`;
}

/** A short random suffix for consumer and connection names. */
export function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** Client names may not contain spaces or newlines (CLIENT SETNAME). */
export function clientName(...parts: string[]): string {
  return parts
    .join(":")
    .replace(/[^\x21-\x7e]/g, "_")
    .slice(0, 200);
}
