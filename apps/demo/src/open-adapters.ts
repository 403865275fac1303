import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import {
  ConfigError,
  createMemoryStore,
  type Logger,
  redact,
  resolveStore,
  resolveTransport,
  type Store,
  type StoreAdapterModule,
  type Transport,
} from "eventferry";

/** The store and transport the demo opened; it owns them and closes them after `ferry.stop()`. */
export interface OpenedAdapters {
  readonly store: Store;
  readonly transport: Transport;
  /** Closes the transport, then the store. Idempotent; errors are logged. */
  close(): Promise<void>;
}

const SQLITE_PACKAGE = "@eventferry/store-sqlite";

/**
 * Opens the store and the transport named by the config strings.
 *
 * `sqlite:` is served by `@eventferry/store-sqlite`, which the demo depends on and imports itself
 * (also for `transport: "store:"`, its queue transport). Every other scheme goes through
 * Eventferry's resolver (`resolveStore` / `resolveTransport`), which names the package to install
 * when an adapter is missing.
 */
export async function openAdapters(
  urls: { store: string; transport: string },
  logger: Logger,
): Promise<OpenedAdapters> {
  const scheme = urls.store.slice(0, urls.store.indexOf(":")).toLowerCase();
  let sqlite: StoreAdapterModule | undefined;
  let store: Store;
  if (scheme === "sqlite") {
    sqlite = await importSqliteAdapter();
    ensureParentDirectory(urls.store);
    store = await sqlite.createStoreFromUrl(urls.store);
  } else if (scheme === "memory") {
    store = createMemoryStore() as Store;
  } else {
    store = await resolveStore(urls.store);
  }
  let transport: Transport;
  try {
    const useSqliteQueue = urls.transport.toLowerCase() === "store:" && sqlite !== undefined;
    if (useSqliteQueue && typeof sqlite?.createStoreTransport !== "function") {
      const problem = `${SQLITE_PACKAGE} has no createStoreTransport export, so transport "store:" cannot use it`;
      throw new ConfigError(`[demo] ${problem}`, { problems: [problem] });
    }
    transport =
      useSqliteQueue && sqlite?.createStoreTransport
        ? await sqlite.createStoreTransport(store)
        : await resolveTransport(urls.transport, { store });
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    store,
    transport,
    close() {
      closing ??= (async () => {
        for (const [name, part] of [
          ["transport", transport],
          ["store", store],
        ] as const) {
          try {
            await part.close();
          } catch (error) {
            logger.warn(`closing the ${name} failed`, { error: redact(String(error)) });
          }
        }
      })();
      return closing;
    },
  };
}

async function importSqliteAdapter(): Promise<StoreAdapterModule> {
  let mod: Partial<StoreAdapterModule>;
  try {
    mod = (await import(SQLITE_PACKAGE)) as unknown as Partial<StoreAdapterModule>;
  } catch (error) {
    const problem = `the sqlite: store needs ${SQLITE_PACKAGE} (and its driver better-sqlite3), which could not be loaded: ${redact(error instanceof Error ? error.message : String(error))}`;
    throw new ConfigError(`[demo] ${problem}`, {
      code: "ADAPTER_MISSING",
      problems: [problem],
      cause: error,
    });
  }
  if (typeof mod.createStoreFromUrl !== "function") {
    const problem = `${SQLITE_PACKAGE} does not export createStoreFromUrl yet; use EVENTFERRY_STORE=memory: meanwhile`;
    throw new ConfigError(`[demo] ${problem}`, { problems: [problem] });
  }
  return mod as StoreAdapterModule;
}

/** Creates the directory of a SQLite file (`sqlite:./.eventferry/demo.db` → `./.eventferry`). */
function ensureParentDirectory(url: string): void {
  const path = /^sqlite:(?:\/\/)?([^?#]+)/i.exec(url)?.[1];
  if (!path || path === ":memory:" || path.startsWith("file:")) return;
  mkdirSync(dirname(decodeURIComponent(path)), { recursive: true });
}
