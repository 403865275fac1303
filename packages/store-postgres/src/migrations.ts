import type { Pool, PoolClient } from "pg";
import { quoteIdent, type TableNames, tableNames } from "./internal/names.js";

/** One versioned migration: applied once per schema + table prefix, in version order. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  /** The SQL of this migration for the given table names. */
  sql(t: TableNames): string;
}

/**
 * The migrations of the PostgreSQL store, oldest first. Each runs once (recorded in
 * `<prefix>migrations`); all pending ones run in one transaction under an advisory lock.
 */
export const postgresMigrations: readonly PostgresMigration[] = Object.freeze([
  {
    version: 1,
    name: "initial tables",
    sql: (t: TableNames) => {
      const ix = (name: string): string => quoteIdent(`${t.prefix}${name}`);
      return `
CREATE TABLE ${t.events} (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  type text NOT NULL,
  key text,
  occurred_at timestamptz,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  event jsonb NOT NULL
);
CREATE INDEX ${ix("events_type")} ON ${t.events} (type, position);
CREATE INDEX ${ix("events_key")} ON ${t.events} (key, position) WHERE key IS NOT NULL;

CREATE TABLE ${t.inbox} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  consumer text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  key text,
  priority smallint NOT NULL,
  occurred_at timestamptz,
  event jsonb NOT NULL,
  max_attempts integer NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in-flight', 'completed', 'dead')),
  due_at timestamptz NOT NULL,
  attempt integer NOT NULL DEFAULT 0,
  lease_token uuid,
  lease_expires_at timestamptz,
  worker text,
  history jsonb NOT NULL DEFAULT '[]',
  last_error jsonb,
  reason text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  UNIQUE (consumer, event_id)
);
CREATE INDEX ${ix("inbox_claim")} ON ${t.inbox} (consumer, priority, due_at, seq) WHERE status = 'pending';
CREATE INDEX ${ix("inbox_lease")} ON ${t.inbox} (consumer, lease_expires_at) WHERE status = 'in-flight';
CREATE INDEX ${ix("inbox_key")} ON ${t.inbox} (consumer, key, seq)
  WHERE key IS NOT NULL AND status IN ('pending', 'in-flight');
CREATE INDEX ${ix("inbox_dead")} ON ${t.inbox} (id) WHERE status = 'dead';

CREATE TABLE ${t.outbox} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  topic text NOT NULL,
  key text,
  event jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  lease_token uuid,
  lease_expires_at timestamptz,
  published_at timestamptz
);
CREATE INDEX ${ix("outbox_unpublished")} ON ${t.outbox} (seq) WHERE published_at IS NULL;
CREATE INDEX ${ix("outbox_key")} ON ${t.outbox} (key, seq) WHERE key IS NOT NULL AND published_at IS NULL;
CREATE INDEX ${ix("outbox_published")} ON ${t.outbox} (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE ${t.deadLetters} (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  consumer text NOT NULL,
  type text,
  event jsonb,
  raw text,
  reason text NOT NULL,
  error jsonb NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${t.batches} (
  id text PRIMARY KEY,
  total integer NOT NULL,
  completed integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  metadata jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE TABLE ${t.batchMembers} (
  batch_id text NOT NULL REFERENCES ${t.batches} (id) ON DELETE CASCADE,
  member_id text NOT NULL,
  outcome text NOT NULL,
  PRIMARY KEY (batch_id, member_id)
);

CREATE TABLE ${t.schemas} (
  type text NOT NULL,
  version integer NOT NULL,
  schema jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (type, version)
);`;
    },
  },
  {
    version: 2,
    name: "store transport",
    sql: (t: TableNames) => {
      const ix = (name: string): string => quoteIdent(`${t.prefix}${name}`);
      return `
CREATE TABLE ${t.transportGroups} (
  topic text NOT NULL,
  grp text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, grp)
);
CREATE TABLE ${t.transportMessages} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  grp text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  key text,
  payload text NOT NULL,
  fields boolean NOT NULL DEFAULT false,
  attempt integer NOT NULL DEFAULT 0,
  due_at timestamptz NOT NULL DEFAULT now(),
  lease_token uuid,
  lease_expires_at timestamptz,
  consumer text
);
CREATE INDEX ${ix("transport_fetch")} ON ${t.transportMessages} (topic, grp, seq);`;
    },
  },
  {
    version: 3,
    name: "outbox rows by seq, event as json",
    // An outbox row is addressed by its seq (the primary key): the uuid id and its unique index
    // cost an index insert on every add and every mark and served nothing else. The event is
    // never queried inside: json keeps the text as sent and returns it without conversion.
    sql: (t: TableNames) => `
ALTER TABLE ${t.outbox} DROP COLUMN id;
ALTER TABLE ${t.outbox} ALTER COLUMN event TYPE json USING event::json;`,
  },
  {
    version: 4,
    name: "inbox entries by seq",
    // An inbox entry's id is its seq written as a UUID (internal/entry-id.ts): entries are found
    // by the primary key, and the uuid id's unique index — an insert on every record, claim and
    // completion — goes. Dropping the column drops the dead-letter index on it; it comes back on seq.
    sql: (t: TableNames) => `
ALTER TABLE ${t.inbox} DROP COLUMN id;
CREATE INDEX ${quoteIdent(`${t.prefix}inbox_dead`)} ON ${t.inbox} (seq) WHERE status = 'dead';`,
  },
  {
    version: 5,
    name: "inbox claims as heap-only updates",
    // A claim writes status, attempt, lease, worker and history. With no index on those columns
    // (nor in an index's predicate) and room on the row's page, PostgreSQL writes the leased
    // version beside the row with no index entry (a HOT update) instead of one entry in every
    // index. The indexes select on finished_at (NULL exactly while pending or in flight) and reason
    // (set exactly on dead entries); expired leases are found by the claim's scan, so the lease
    // index goes. Half of each page is left free for the leased version.
    sql: (t: TableNames) => {
      const ix = (name: string): string => quoteIdent(`${t.prefix}${name}`);
      const qix = (name: string): string => `${quoteIdent(t.schema)}.${ix(name)}`;
      return `
UPDATE ${t.inbox} SET finished_at = coalesce(finished_at, recorded_at)
 WHERE status IN ('completed', 'dead') AND finished_at IS NULL;
UPDATE ${t.inbox} SET finished_at = NULL WHERE status IN ('pending', 'in-flight') AND finished_at IS NOT NULL;
UPDATE ${t.inbox} SET reason = 'dead' WHERE status = 'dead' AND reason IS NULL;
UPDATE ${t.inbox} SET reason = NULL WHERE status <> 'dead' AND reason IS NOT NULL;
DROP INDEX ${qix("inbox_claim")}, ${qix("inbox_lease")}, ${qix("inbox_key")}, ${qix("inbox_dead")};
CREATE INDEX ${ix("inbox_claim")} ON ${t.inbox} (consumer, priority, due_at, seq) WHERE finished_at IS NULL;
CREATE INDEX ${ix("inbox_key")} ON ${t.inbox} (consumer, key, seq) WHERE key IS NOT NULL AND finished_at IS NULL;
CREATE INDEX ${ix("inbox_dead")} ON ${t.inbox} (seq) WHERE reason IS NOT NULL;
ALTER TABLE ${t.inbox} SET (fillfactor = ${LEASED_FILLFACTOR});`;
    },
  },
  {
    version: 6,
    name: "store transport fetches as heap-only updates",
    // A fetch writes attempt, lease and consumer, none of them indexed: with room on the page the
    // leased version is written beside the row with no index entry (as an inbox claim, version 5).
    sql: (t: TableNames) => `
ALTER TABLE ${t.transportMessages} SET (fillfactor = ${LEASED_FILLFACTOR});`,
  },
]);

/**
 * The fillfactor of the tables whose rows are leased (the inbox, the store transport's messages):
 * inserts fill half of a page, leaving the rest for the version a claim or fetch writes beside its
 * row (a heap-only update only when the new version fits on the row's page).
 */
export const LEASED_FILLFACTOR = 50;

/**
 * Creates or upgrades the store's tables in `schema` (created when missing), with table names
 * starting with `tablePrefix`. Takes a transaction-level advisory lock first, so any number of
 * processes may call it at once: one applies the pending migrations, the others wait and find
 * nothing left to do. Idempotent. The caller validates `schema` and `tablePrefix`
 * (`createPostgresStore` does).
 *
 * @example
 * await migrate(pool, { schema: "eventferry", tablePrefix: "ef_" });
 */
export async function migrate(pool: Pool, options: { schema: string; tablePrefix: string }): Promise<void> {
  const t = tableNames(options.schema, options.tablePrefix);
  const client: PoolClient = await pool.connect();
  let failed: unknown;
  // Checked out, the client has no pool listener: a terminated backend would emit an unhandled
  // `error`. Keep it; the next statement fails anyway.
  const onClientError = (error: Error): void => {
    failed ??= error;
  };
  client.on("error", onClientError);
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`eventferry:migrate:${t.hash}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${t.migrations}`);
    const applied = new Set(rows.map((r) => r.version));
    for (const m of postgresMigrations) {
      if (applied.has(m.version)) continue;
      await client.query(m.sql(t));
      await client.query(`INSERT INTO ${t.migrations} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
    }
    await client.query("COMMIT");
  } catch (error) {
    failed = error;
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.off("error", onClientError);
    client.release(failed instanceof Error && !("code" in failed) ? failed : undefined);
  }
}

/** The SQL of every migration for the given schema and prefix, for review or manual runs. */
export function migrationSql(options: { schema: string; tablePrefix: string }): string {
  const t = tableNames(options.schema, options.tablePrefix);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)};`,
    `CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`,
    ...postgresMigrations.map(
      (m) =>
        `-- ${m.version}: ${m.name}\n${m.sql(t).trim()}\nINSERT INTO ${t.migrations} (version, name) VALUES (${m.version}, '${m.name}');`,
    ),
  ].join("\n\n");
}
