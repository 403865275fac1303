/**
 * The schema of the SQLite store, as versioned migrations. `migrate()` applies the missing ones in
 * order inside one `BEGIN IMMEDIATE` transaction and records each in `<prefix>migrations`, so it
 * is idempotent and safe from several processes at once (the second waits for the first, then
 * finds nothing to do).
 */
export interface SqliteMigration {
  /** Strictly increasing from 1. */
  readonly version: number;
  readonly name: string;
  /** The SQL for a validated table prefix. */
  sql(prefix: string): string;
}

/**
 * Every migration, oldest first. Never edit a released migration: add a new one.
 *
 * @example
 * sqliteMigrations.at(-1)?.version; // the schema version this package expects
 */
export const sqliteMigrations: readonly SqliteMigration[] = Object.freeze([
  {
    version: 1,
    name: "initial schema",
    sql: (p: string) => `
CREATE TABLE IF NOT EXISTS "${p}events" (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  key TEXT,
  occurred_ms INTEGER,
  recorded_ms INTEGER NOT NULL,
  json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS "${p}events_type" ON "${p}events" (type, position);
CREATE INDEX IF NOT EXISTS "${p}events_key" ON "${p}events" (key, position) WHERE key IS NOT NULL;

CREATE TABLE IF NOT EXISTS "${p}inbox" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  key TEXT,
  priority INTEGER NOT NULL,
  occurred_at TEXT NOT NULL,
  occurred_ms INTEGER,
  max_attempts INTEGER NOT NULL,
  status TEXT NOT NULL,
  due_ms INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  lease_token TEXT,
  lease_expires_ms INTEGER,
  worker TEXT,
  history TEXT NOT NULL DEFAULT '[]',
  last_error TEXT,
  reason TEXT,
  finished_ms INTEGER,
  json TEXT NOT NULL,
  UNIQUE (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS "${p}inbox_claim" ON "${p}inbox" (consumer, priority, due_ms, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS "${p}inbox_leases" ON "${p}inbox" (consumer, lease_expires_ms) WHERE status = 'in-flight';
CREATE INDEX IF NOT EXISTS "${p}inbox_keys" ON "${p}inbox" (consumer, key, seq) WHERE key IS NOT NULL AND status IN ('pending', 'in-flight');
CREATE INDEX IF NOT EXISTS "${p}inbox_dead" ON "${p}inbox" (id) WHERE status = 'dead';

CREATE TABLE IF NOT EXISTS "${p}dead_letters" (
  id TEXT PRIMARY KEY,
  consumer TEXT NOT NULL,
  type TEXT,
  json TEXT,
  raw TEXT,
  reason TEXT NOT NULL,
  error TEXT NOT NULL,
  dead_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS "${p}outbox" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  key TEXT,
  json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  lease_token TEXT,
  lease_expires_ms INTEGER,
  published_ms INTEGER
);
CREATE INDEX IF NOT EXISTS "${p}outbox_unpublished" ON "${p}outbox" (seq) WHERE status <> 'published';
CREATE INDEX IF NOT EXISTS "${p}outbox_keys" ON "${p}outbox" (key, seq) WHERE key IS NOT NULL AND status <> 'published';
CREATE INDEX IF NOT EXISTS "${p}outbox_published" ON "${p}outbox" (published_ms) WHERE status = 'published';

CREATE TABLE IF NOT EXISTS "${p}batches" (
  id TEXT PRIMARY KEY,
  total INTEGER NOT NULL,
  completed INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  metadata TEXT,
  created_ms INTEGER NOT NULL,
  finished_ms INTEGER
);
CREATE TABLE IF NOT EXISTS "${p}batch_members" (
  batch_id TEXT NOT NULL REFERENCES "${p}batches" (id) ON DELETE CASCADE,
  member_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  PRIMARY KEY (batch_id, member_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS "${p}schemas" (
  type TEXT NOT NULL,
  version INTEGER NOT NULL,
  canonical TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (type, version)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: "store: transport queue",
    sql: (p: string) => `
CREATE TABLE IF NOT EXISTS "${p}transport_groups" (
  topic TEXT NOT NULL,
  grp TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (topic, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "${p}transport_messages" (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  grp TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  key TEXT,
  payload TEXT NOT NULL,
  payload_is_map INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  due_ms INTEGER NOT NULL,
  lease_token TEXT,
  lease_expires_ms INTEGER
);
CREATE INDEX IF NOT EXISTS "${p}transport_messages_fetch" ON "${p}transport_messages" (topic, grp, seq);
`,
  },
]);

/** The migrations table of a prefix. */
export function migrationsTable(prefix: string): string {
  return `"${prefix}migrations"`;
}
