import type { HealthReport } from "@eventferry/core";

const isOff = (v: unknown): boolean =>
  v === false || v === 0 || (typeof v === "string" && /^(off|false|0|no)$/i.test(v));

/**
 * Reads the durability facts a component reports in `HealthReport.details` and returns one
 * sentence per setting that can lose acknowledged data. Keys read (all optional):
 *
 * - `details.durability.aof` (Redis: `false` = `appendonly no`), `details.durability.appendfsync`
 *   (`"no"`), `details.durability.rdbSave` (shown when AOF is off)
 * - `details.fsync` (PostgreSQL: `false`/`"off"`), `details.synchronousCommit` /
 *   `details.synchronous_commit` (`"off"`)
 * - `details.synchronous` (SQLite: `"off"`/`0`)
 * - `details.durability.fsync`, `details.durability.synchronousCommit`, `details.durability.synchronous` (same, nested)
 */
export function durabilityWarnings(report: HealthReport | undefined): string[] {
  const details = report?.details;
  if (!details || typeof details !== "object") return [];
  const nested =
    typeof details.durability === "object" && details.durability !== null
      ? (details.durability as Record<string, unknown>)
      : {};
  const read = (key: string): unknown => (key in nested ? nested[key] : details[key]);
  const warnings: string[] = [];
  const aof = nested.aof;
  if (aof === false) {
    const rdb =
      typeof nested.rdbSave === "string" && nested.rdbSave.length > 0
        ? ` (RDB snapshots "${nested.rdbSave}")`
        : " and RDB snapshots are off";
    warnings.push(
      `AOF is off (appendonly no)${rdb}: events the server acknowledged since the last snapshot are lost when it restarts; set appendonly yes`,
    );
  } else if (
    aof === true &&
    typeof nested.appendfsync === "string" &&
    nested.appendfsync.toLowerCase() === "no"
  ) {
    warnings.push(
      "appendfsync is no: the OS decides when the AOF reaches the disk, so a crash can lose acknowledged events; use everysec or always",
    );
  }
  if (isOff(read("fsync"))) {
    warnings.push(
      "fsync is off: a server or OS crash can lose acknowledged commits and corrupt the database; turn fsync on",
    );
  }
  const syncCommit = read("synchronousCommit") ?? read("synchronous_commit");
  if (isOff(syncCommit)) {
    warnings.push(
      "synchronous_commit is off: a crash can lose the last acknowledged commits; turn it on for the event tables",
    );
  }
  if (isOff(read("synchronous"))) {
    warnings.push(
      "synchronous is OFF: an OS crash or power loss can lose acknowledged commits; use NORMAL (WAL) or FULL",
    );
  }
  return warnings;
}
