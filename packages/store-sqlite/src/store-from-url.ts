import { ConfigError, componentMessage } from "@eventferry/core";
import { SQLITE_COMPONENT } from "./classify-error.js";
import {
  createSqliteStore,
  type SqliteStore,
  type SqliteStoreOptions,
  type SqliteSynchronous,
} from "./sqlite-store.js";

/**
 * Creates a SQLite store from a config string, for `createEventferry({ store: "sqlite:…" })`:
 * `sqlite:./data/events.db` (relative to the working directory), `sqlite:///abs/path/events.db`
 * (absolute), `sqlite::memory:` (private, in memory). Query parameters set options:
 * `tablePrefix`, `busyTimeoutMs`, `synchronous`. The store owns the file (it closes it).
 * Throws a `ConfigError` for anything else.
 *
 * @example
 * const store = createStoreFromUrl("sqlite:./data/events.db?synchronous=full");
 */
export function createStoreFromUrl(url: string): SqliteStore {
  if (typeof url !== "string" || !url.startsWith("sqlite:")) {
    throw new ConfigError(componentMessage(SQLITE_COMPONENT, `not a sqlite: URL: ${JSON.stringify(url)}`), {
      problems: ["the URL must start with sqlite:"],
    });
  }
  let rest = url.slice("sqlite:".length);
  const q = rest.indexOf("?");
  const query = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : "");
  if (q >= 0) rest = rest.slice(0, q);
  let path: string;
  if (rest.startsWith("//")) {
    // sqlite:///abs/path (empty host) — sqlite://host/… is not supported.
    if (!rest.startsWith("///")) {
      throw new ConfigError(
        componentMessage(
          SQLITE_COMPONENT,
          `sqlite URLs have no host: use sqlite:///abs/path or sqlite:./rel/path`,
        ),
        { problems: ["sqlite URLs have no host"] },
      );
    }
    path = decodeURIComponent(rest.slice(2));
  } else {
    path = decodeURIComponent(rest);
  }
  const options: SqliteStoreOptions = { path };
  const problems: string[] = [];
  for (const [name, value] of query) {
    if (name === "tablePrefix") options.tablePrefix = value;
    else if (name === "busyTimeoutMs") options.busyTimeoutMs = Number(value);
    else if (name === "synchronous") options.synchronous = value as SqliteSynchronous;
    else problems.push(`unknown URL parameter ${name}`);
  }
  if (path === "") problems.push("the URL names no file (use sqlite::memory: for an in-memory database)");
  if (problems.length > 0) {
    throw new ConfigError(componentMessage(SQLITE_COMPONENT, `invalid URL: ${problems.join("; ")}`), {
      problems,
    });
  }
  return createSqliteStore(options);
}
