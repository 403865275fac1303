/**
 * Inbox entry ids on PostgreSQL are the entry's `seq` (its primary key) written as a UUID:
 * `00000000-0000-8000-8hhh-hhhhhhhhhhhh`, the 15 `h` the seq in hexadecimal (version 8, the
 * RFC 9562 custom layout, so it never equals the random version-4 id of a dead letter added with
 * `deadLetters.add`). An entry is found by its primary key — no uuid column, no unique index that
 * every record, claim and completion would insert into.
 */
const PREFIX = "00000000-0000-8000-8";
const PATTERN = /^00000000-0000-8000-8([0-9a-f]{3})-([0-9a-f]{12})$/i;

/** The entry id of inbox row `seq` (a positive bigint, decimal, as `pg` returns it). */
export function entryId(seq: string | number): string {
  const n = Number(seq);
  const hex = (Number.isSafeInteger(n) ? n.toString(16) : BigInt(seq).toString(16)).padStart(15, "0");
  return `${PREFIX}${hex.slice(0, 3)}-${hex.slice(3)}`;
}

/** The seq (decimal) of an entry id, or `undefined` for anything else (another uuid, garbage). */
export function entrySeq(id: unknown): string | undefined {
  if (typeof id !== "string") return undefined;
  const m = PATTERN.exec(id);
  if (!m) return undefined;
  const hex = `${m[1]}${m[2]}`;
  const n = Number.parseInt(hex, 16);
  const seq = Number.isSafeInteger(n) ? String(n) : BigInt(`0x${hex}`).toString();
  return seq === "0" ? undefined : seq;
}

/** SQL for the entry id (a `uuid`) of the inbox row whose seq is `column`. */
export function entryIdSql(column: string): string {
  const hex = `lpad(to_hex(${column}), 15, '0')`;
  return `('${PREFIX}' || substr(${hex}, 1, 3) || '-' || substr(${hex}, 4))::uuid`;
}
