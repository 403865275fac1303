import { createHash } from "node:crypto";

/** The component name used in messages and health reports. */
export const COMPONENT = "store-postgres";

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** A problem with a schema or prefix name, or undefined when it is valid. */
export function identifierProblem(what: string, value: unknown, allowEmpty: boolean): string | undefined {
  if (typeof value !== "string") return `${what} must be a string`;
  if (value === "" && allowEmpty) return undefined;
  if (!IDENT.test(value)) return `${what} must match ${IDENT.source} (got ${JSON.stringify(value)})`;
  if (value.length > 40) return `${what} must be at most 40 characters`;
  return undefined;
}

/** Double-quotes an identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Fully qualified, quoted table names of one store. */
export interface TableNames {
  readonly schema: string;
  readonly prefix: string;
  readonly events: string;
  readonly inbox: string;
  readonly outbox: string;
  readonly deadLetters: string;
  readonly batches: string;
  readonly batchMembers: string;
  readonly schemas: string;
  readonly migrations: string;
  readonly transportGroups: string;
  readonly transportMessages: string;
  /** The NOTIFY channel (a plain name; quote it for LISTEN). */
  readonly channel: string;
  /** A short hash of schema + prefix (prepared statement names, advisory lock key). */
  readonly hash: string;
}

export function tableNames(schema: string, prefix: string): TableNames {
  const t = (name: string): string => `${quoteIdent(schema)}.${quoteIdent(`${prefix}${name}`)}`;
  const hash = createHash("sha1").update(`${schema}\u0000${prefix}`).digest("hex").slice(0, 12);
  return {
    schema,
    prefix,
    events: t("events"),
    inbox: t("inbox"),
    outbox: t("outbox"),
    deadLetters: t("dead_letters"),
    batches: t("batches"),
    batchMembers: t("batch_members"),
    schemas: t("schemas"),
    migrations: t("migrations"),
    transportGroups: t("transport_groups"),
    transportMessages: t("transport_messages"),
    channel: `eventferry_${hash}`,
    hash,
  };
}
