// @eventferry/store-sqlite — the SQLite store (better-sqlite3, WAL) and the store: transport.

export {
  classifySqliteError,
  SQLITE_COMPONENT,
  type SqliteErrorClass,
  type SqliteErrorReason,
  toStoreError,
} from "./classify-error.js";
export { type SqliteMigration, sqliteMigrations } from "./migrations.js";
export {
  createSqliteStore,
  type SqliteDatabase,
  type SqliteStore,
  type SqliteStoreOptions,
  type SqliteSynchronous,
  sqliteStoreDefaults,
} from "./sqlite-store.js";
export { createStoreFromUrl } from "./store-from-url.js";
export {
  createStoreTransport,
  type SqliteStoreTransportOptions,
  sqliteStoreTransportDefaults,
  sqliteStoreTransportFeatures,
} from "./store-transport.js";
