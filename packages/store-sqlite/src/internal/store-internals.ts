import type { Store } from "@eventferry/store";
import type { SqliteContext } from "./sqlite-context.js";

const registry = new WeakMap<object, SqliteContext>();

/** Links a SQLite store to its context, for the store: transport. */
export function registerSqliteInternals(store: Store, ctx: SqliteContext): void {
  registry.set(store, ctx);
}

/** The context of a store made by `createSqliteStore`, or undefined for any other store. */
export function sqliteInternals(store: unknown): SqliteContext | undefined {
  return typeof store === "object" && store !== null ? registry.get(store) : undefined;
}
