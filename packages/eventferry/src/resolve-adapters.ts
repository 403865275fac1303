import {
  ConfigError,
  createMemoryTransport,
  isEventferryError,
  redact,
  type Transport,
} from "@eventferry/core";
import { createMemoryStore, type Store } from "@eventferry/store";
import { importFromApplication } from "./internal/import-from-application.js";

/**
 * Which package serves each URL scheme, by kind. `createEventferry` loads the package with a
 * dynamic `import()` when a config string uses the scheme, so only the adapters you use need to
 * be installed.
 *
 * `memory:` is served by packages `eventferry` already depends on. The transport scheme `store:`
 * is not in the table: it means "the store's own queue transport" (see {@link StoreAdapterModule}).
 *
 * @example
 * adapterPackages.store.postgres;   // "@eventferry/store-postgres"
 * adapterPackages.transport.nats;   // "@eventferry/transport-nats"
 */
export const adapterPackages: {
  readonly store: Readonly<Record<"memory" | "sqlite" | "postgres" | "postgresql", string>>;
  readonly transport: Readonly<Record<"memory" | "redis" | "rediss" | "nats", string>>;
} = Object.freeze({
  store: Object.freeze({
    memory: "@eventferry/store",
    sqlite: "@eventferry/store-sqlite",
    postgres: "@eventferry/store-postgres",
    postgresql: "@eventferry/store-postgres",
  }),
  transport: Object.freeze({
    memory: "@eventferry/core",
    redis: "@eventferry/transport-redis",
    rediss: "@eventferry/transport-redis",
    nats: "@eventferry/transport-nats",
  }),
});

/**
 * Extra scheme → package mappings, for adapters outside this repository. They take precedence
 * over {@link adapterPackages} (except `memory:`, which is built in). Keys are schemes without
 * the colon.
 *
 * @example
 * createEventferry({ store: "mysql://localhost/shop", adapters: { store: { mysql: "eventferry-store-mysql" } } })
 */
export interface AdapterPackageOverrides {
  readonly store?: Readonly<Record<string, string>> | undefined;
  readonly transport?: Readonly<Record<string, string>> | undefined;
}

/**
 * What a store adapter package exports so that `createEventferry({ store: "<scheme>:…" })` can
 * use it. The package MUST export `createStoreFromUrl`; it SHOULD export `createStoreTransport`
 * when the database can serve as the queue (the `store:` transport).
 *
 * - `createStoreFromUrl(url)` receives the whole config string, scheme included
 *   (`"postgres://user:pass@host/db"`), validates it synchronously (throw a `ConfigError`) and
 *   connects lazily. The caller that created the store owns it and closes it.
 * - `createStoreTransport(store)` receives a store created by the same package and returns a
 *   {@link Transport} that queues through that database.
 */
export interface StoreAdapterModule {
  createStoreFromUrl(url: string): Store | Promise<Store>;
  createStoreTransport?(store: Store): Transport | Promise<Transport>;
}

/**
 * What a transport adapter package exports so that `createEventferry({ transport: "<scheme>:…" })`
 * can use it: `createTransportFromUrl(url)` receives the whole config string, scheme included,
 * validates it synchronously (throw a `ConfigError`) and connects lazily.
 */
export interface TransportAdapterModule {
  createTransportFromUrl(url: string): Transport | Promise<Transport>;
}

/** Options of {@link resolveStore} and {@link resolveTransport}. */
export interface ResolveAdapterOptions {
  /** Extra scheme → package mappings. */
  adapters?: AdapterPackageOverrides | undefined;
}

const SCHEME_RE = /^([a-z][a-z0-9+.-]*):/i;

/**
 * Creates a store from a config string by its scheme: `memory:` → `createMemoryStore()`,
 * otherwise the scheme's adapter package's `createStoreFromUrl(url)`. The caller owns (and
 * closes) the store.
 *
 * Throws a `ConfigError` with code `ADAPTER_MISSING` when the package is not installed (its
 * message names the package to install), and with code `CONFIG_INVALID` for an unknown scheme
 * (its message lists the known ones). Passwords in the URL never reach a message.
 *
 * @example
 * const store = await resolveStore("postgres://localhost/shop");
 */
export async function resolveStore(url: string, options: ResolveAdapterOptions = {}): Promise<Store> {
  return (await loadStoreAdapter(url, options)).store;
}

/**
 * Creates a transport from a config string by its scheme: `memory:` → `createMemoryTransport()`,
 * `store:` → the queue transport of `options.store` (the `createStoreTransport(store)` of the
 * store's adapter package, found by the store's `name`; the memory transport for the memory
 * store), otherwise the scheme's adapter package's `createTransportFromUrl(url)`. The caller owns
 * (and closes) the transport.
 *
 * Errors as in {@link resolveStore}.
 *
 * @example
 * const transport = await resolveTransport("redis://localhost:6379");
 * const queue = await resolveTransport("store:", { store });
 */
export async function resolveTransport(
  url: string,
  options: ResolveAdapterOptions & { store?: Store | undefined } = {},
): Promise<Transport> {
  return resolveTransportWith(url, options);
}

/** A store created from a URL, with the queue-transport factory of the package that made it. */
export interface LoadedStore {
  readonly store: Store;
  readonly createStoreTransport: ((store: Store) => Transport | Promise<Transport>) | undefined;
  /** The adapter package (undefined for `memory:`). */
  readonly pkg: string | undefined;
}

/** {@link resolveStore}, keeping the adapter module's `createStoreTransport` for `store:`. */
export async function loadStoreAdapter(
  url: string,
  options: ResolveAdapterOptions = {},
): Promise<LoadedStore> {
  const scheme = parseScheme(url, "store");
  if (scheme === "memory") {
    return {
      store: createMemoryStore() as Store,
      createStoreTransport: () => createMemoryTransport(),
      pkg: undefined,
    };
  }
  const pkg = packageFor("store", scheme, url, options.adapters);
  const mod = await importAdapter(pkg, `store "${redact(url)}"`);
  const factory = mod.createStoreFromUrl;
  if (typeof factory !== "function") throw notAnAdapter(pkg, "createStoreFromUrl", "store");
  const store = await callFactory(pkg, () => (factory as StoreAdapterModule["createStoreFromUrl"])(url));
  const createStoreTransport = mod.createStoreTransport;
  return {
    store,
    createStoreTransport:
      typeof createStoreTransport === "function"
        ? (createStoreTransport as NonNullable<StoreAdapterModule["createStoreTransport"]>)
        : undefined,
    pkg,
  };
}

/**
 * {@link resolveTransport}; for `store:` uses `options.loaded` (the store created from a URL) when
 * given, else finds the store's adapter package by its name.
 */
export async function resolveTransportWith(
  url: string,
  options: ResolveAdapterOptions & { store?: Store | undefined; loaded?: LoadedStore | undefined },
): Promise<Transport> {
  const scheme = parseScheme(url, "transport");
  if (scheme === "memory") return createMemoryTransport();
  if (scheme === "store") return resolveStoreTransport(options);
  const pkg = packageFor("transport", scheme, url, options.adapters);
  const mod = await importAdapter(pkg, `transport "${redact(url)}"`);
  const factory = mod.createTransportFromUrl;
  if (typeof factory !== "function") throw notAnAdapter(pkg, "createTransportFromUrl", "transport");
  return callFactory(pkg, () => (factory as TransportAdapterModule["createTransportFromUrl"])(url));
}

async function resolveStoreTransport(
  options: ResolveAdapterOptions & { store?: Store | undefined; loaded?: LoadedStore | undefined },
): Promise<Transport> {
  const { loaded } = options;
  if (loaded) {
    if (!loaded.createStoreTransport) throw noQueueTransport(loaded.pkg ?? loaded.store.name);
    const factory = loaded.createStoreTransport;
    return callFactory(loaded.pkg ?? "store", () => factory(loaded.store));
  }
  const store = options.store;
  if (!store) {
    throw new ConfigError('[eventferry] transport "store:" needs a store to queue through', {
      problems: ['transport "store:" needs a store'],
    });
  }
  if (store.name === "memory") return createMemoryTransport();
  const table: Record<string, string> = { ...adapterPackages.store, ...options.adapters?.store };
  const pkg = Object.hasOwn(table, store.name) ? table[store.name] : undefined;
  if (pkg === undefined) {
    const problem = `transport "store:" needs the queue transport of store "${store.name}", which is not a known store adapter; pass a transport (an instance or a URL such as "redis://…" or "nats://…")`;
    throw new ConfigError(`[eventferry] ${problem}`, { problems: [problem] });
  }
  const mod = await importAdapter(pkg, `transport "store:" (the ${store.name} store's queue)`);
  const factory = mod.createStoreTransport;
  if (typeof factory !== "function") throw noQueueTransport(pkg);
  return callFactory(pkg, () => (factory as NonNullable<StoreAdapterModule["createStoreTransport"]>)(store));
}

function noQueueTransport(pkg: string): ConfigError {
  const problem = `${pkg} has no queue transport (no createStoreTransport export), so transport "store:" cannot use it; choose another transport, e.g. "redis://…" or "nats://…"`;
  return new ConfigError(`[eventferry] ${problem}`, { problems: [problem] });
}

function parseScheme(url: string, kind: "store" | "transport"): string {
  const match = typeof url === "string" ? SCHEME_RE.exec(url) : null;
  if (!match) {
    const problem = `${kind} must be an adapter instance or a URL with a scheme (${knownSchemes(kind).join(", ")}), got ${typeof url === "string" ? JSON.stringify(redact(url)) : typeof url}`;
    throw new ConfigError(`[eventferry] ${problem}`, { problems: [problem] });
  }
  return (match[1] as string).toLowerCase();
}

function knownSchemes(kind: "store" | "transport", adapters?: AdapterPackageOverrides): string[] {
  const names = new Set([...Object.keys(adapterPackages[kind]), ...Object.keys(adapters?.[kind] ?? {})]);
  if (kind === "transport") names.add("store");
  return [...names].map((s) => `${s}:`);
}

function packageFor(
  kind: "store" | "transport",
  scheme: string,
  url: string,
  adapters: AdapterPackageOverrides | undefined,
): string {
  const table: Record<string, string> = { ...adapterPackages[kind], ...adapters?.[kind] };
  const pkg = Object.hasOwn(table, scheme) ? table[scheme] : undefined;
  if (pkg === undefined) {
    const problem = `unknown ${kind} scheme "${scheme}:" in ${JSON.stringify(redact(url))}; known schemes: ${knownSchemes(kind, adapters).join(", ")} (or pass a ${kind} instance)`;
    throw new ConfigError(`[eventferry] ${problem}`, { problems: [problem], details: { kind, scheme } });
  }
  return pkg;
}

/**
 * Imports an adapter package. A package that is not installed becomes a `ConfigError` with code
 * `ADAPTER_MISSING` naming what to install (the adapter, or a driver it needs).
 */
async function importAdapter(pkg: string, forWhat: string): Promise<Record<string, unknown>> {
  let failure: unknown;
  try {
    return (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch (error) {
    failure = error;
  }
  if (missingPackage(failure, pkg) === pkg) {
    // Not visible from eventferry's own location: try where the application installed it.
    try {
      const fromApp = await importFromApplication(pkg);
      if (fromApp) return fromApp;
    } catch (error) {
      failure = error;
    }
  }
  const error = failure;
  const missing = missingPackage(error, pkg);
  if (missing === pkg) {
    const problem = `${forWhat} needs the package ${pkg}, which is not installed; install it: npm install ${pkg}`;
    throw new ConfigError(`[eventferry] ${problem}`, {
      code: "ADAPTER_MISSING",
      problems: [problem],
      cause: error,
      details: { package: pkg },
    });
  }
  if (missing !== undefined) {
    const problem = `${pkg} (for ${forWhat}) could not load ${missing}, which is not installed; install it: npm install ${missing}`;
    throw new ConfigError(`[eventferry] ${problem}`, {
      code: "ADAPTER_MISSING",
      problems: [problem],
      cause: error,
      details: { package: missing, adapter: pkg },
    });
  }
  const problem = `${pkg} (for ${forWhat}) failed to load: ${redact(messageOf(error))}`;
  throw new ConfigError(`[eventferry] ${problem}`, { problems: [problem], cause: error });
}

const NOT_FOUND_CODES = new Set(["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND", "ERR_LOAD_URL"]);
const NOT_FOUND_RE = /Cannot find (?:package|module) '([^']+)'|Failed to load url (\S+)/;

/**
 * The package that could not be found, when `error` is a "module not found" error: `pkg` itself,
 * or a package it imports (a driver). `undefined` for any other load failure.
 */
function missingPackage(error: unknown, pkg: string): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  const message = messageOf(error);
  const match = NOT_FOUND_RE.exec(message);
  if (!match) {
    return typeof code === "string" && NOT_FOUND_CODES.has(code) && message.includes(pkg) ? pkg : undefined;
  }
  const specifier = (match[1] ?? match[2]) as string;
  if (specifier === pkg || specifier.startsWith(`${pkg}/`)) return pkg;
  // A file path (a broken install), not a package name.
  if (specifier.startsWith(".") || specifier.startsWith("/") || /^[a-z]+:/i.test(specifier)) return undefined;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function notAnAdapter(pkg: string, exportName: string, kind: "store" | "transport"): ConfigError {
  const problem = `${pkg} does not export ${exportName}(url), so it cannot serve a ${kind} URL; is it an Eventferry ${kind} adapter of a matching version?`;
  return new ConfigError(`[eventferry] ${problem}`, { problems: [problem] });
}

async function callFactory<T>(pkg: string, create: () => T | Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (error) {
    if (isEventferryError(error)) throw error;
    const problem = `${pkg} could not create the adapter: ${redact(messageOf(error))}`;
    throw new ConfigError(`[eventferry] ${problem}`, { problems: [problem], cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
