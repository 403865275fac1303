import { componentMessage, EventferryError } from "@eventferry/core";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { toStoreError } from "../classify-error.js";
import { COMPONENT, type TableNames } from "./names.js";

/** A pool or a checked-out client: what every statement runs on. */
export type Queryable = Pool | PoolClient;

/** Wakes in-process `waitForChange` calls. */
export class ChangeSignal {
  readonly #waiters = new Set<() => void>();

  /** Resolves on the next `notify`. Returns the resolver so a caller can drop it. */
  wait(): { promise: Promise<void>; cancel: () => void } {
    let resolver!: () => void;
    const promise = new Promise<void>((resolve) => {
      resolver = resolve;
    });
    this.#waiters.add(resolver);
    return { promise, cancel: () => this.#waiters.delete(resolver) };
  }

  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }
}

/** What the store's parts share: the pool, the table names, the closed flag, the change signal. */
export class PgContext {
  closed = false;
  readonly changes = new ChangeSignal();

  constructor(
    readonly pool: Pool,
    readonly t: TableNames,
  ) {}

  ensureOpen(): void {
    if (this.closed) throw new EventferryError("CLOSED", componentMessage(COMPONENT, "the store is closed"));
  }

  /** A prepared-statement name unique to this schema + prefix. */
  name(statement: string): string {
    return `ef_${this.t.hash}_${statement}`;
  }

  /** Runs one statement (prepared when `name` is given); driver errors become Eventferry errors. */
  async query<R extends QueryResultRow = QueryResultRow>(
    on: Queryable,
    operation: string,
    text: string,
    values: unknown[] = [],
    name?: string,
  ): Promise<R[]> {
    this.ensureOpen();
    try {
      const result = await on.query<R>(name ? { name, text, values } : { text, values });
      return result.rows;
    } catch (error) {
      throw toStoreError(error, operation);
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID-shaped string (ids and lease tokens are `uuid` columns). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

/** ISO-8601 of a timestamp the driver returned. */
export function iso(value: Date | string | null | undefined): string {
  if (value === null || value === undefined) return "";
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
