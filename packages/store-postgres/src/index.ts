// @eventferry/store-postgres — the PostgreSQL store on `pg`.

export { classifyPostgresError, type PostgresErrorKind, toStoreError } from "./classify-error.js";
export { createStoreFromUrl } from "./create-store-from-url.js";
export { migrate, migrationSql, type PostgresMigration, postgresMigrations } from "./migrations.js";
export {
  createPostgresStore,
  type PostgresStore,
  type PostgresStoreOptions,
  postgresStoreDefaults,
} from "./postgres-store.js";
export { createStoreTransport, type StoreTransportOptions } from "./store-transport.js";
