import { ConfigError, componentMessage, redact } from "@eventferry/core";
import { COMPONENT } from "./internal/names.js";
import { createPostgresStore, type PostgresStore } from "./postgres-store.js";

/**
 * Creates a {@link PostgresStore} from a config string (the `eventferry` front door's `store:`
 * option): `postgres://user:pass@host:5432/db?schema=app_events&tablePrefix=ef_`
 * (`postgresql://` works too). `schema`, `tablePrefix`, `queryTimeoutMs` and `listenerCheckMs`
 * (a number of ms, or `false`) are read from the query and removed before the rest goes to `pg`.
 * Validates synchronously (a {@link ConfigError}, password redacted) and connects lazily; call
 * `migrate()` before use.
 *
 * @example
 * const store = createStoreFromUrl("postgres://app@db:5432/app?schema=events");
 * await store.migrate();
 */
export function createStoreFromUrl(url: string): PostgresStore {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(componentMessage(COMPONENT, `not a valid connection URL: ${redact(String(url))}`), {
      problems: ["url is not a valid URL"],
    });
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new ConfigError(
      componentMessage(COMPONENT, `expected a postgres:// or postgresql:// URL, got ${redact(String(url))}`),
      { problems: [`unsupported scheme ${parsed.protocol}`] },
    );
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  const tablePrefix = parsed.searchParams.get("tablePrefix") ?? undefined;
  const queryTimeoutMs = msOrFalse(parsed.searchParams.get("queryTimeoutMs"));
  const listenerCheckMs = msOrFalse(parsed.searchParams.get("listenerCheckMs"));
  for (const key of ["schema", "tablePrefix", "queryTimeoutMs", "listenerCheckMs"]) {
    parsed.searchParams.delete(key);
  }
  return createPostgresStore({
    url: parsed.toString(),
    ...(schema !== undefined ? { schema } : {}),
    ...(tablePrefix !== undefined ? { tablePrefix } : {}),
    ...(queryTimeoutMs !== undefined ? { queryTimeoutMs } : {}),
    ...(listenerCheckMs !== undefined ? { listenerCheckMs } : {}),
  });
}

/** A query parameter that is a number of ms or `false` (anything else: NaN, which validation reports). */
function msOrFalse(value: string | null): number | false | undefined {
  if (value === null) return undefined;
  if (value === "false") return false;
  return value.trim() === "" ? Number.NaN : Number(value);
}
