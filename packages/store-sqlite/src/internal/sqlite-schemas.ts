import { componentMessage, ValidationError } from "@eventferry/core";
import type { SchemaRecord, SchemaStore } from "@eventferry/store";
import { SQLITE_COMPONENT } from "../classify-error.js";
import { canonicalJson, invalid, iso, numbered } from "./envelope.js";
import type { SqliteContext } from "./sqlite-context.js";

interface SchemaRow {
  type: string;
  version: number;
  canonical: string;
  created_ms: number;
}

/** Schema versions, compared by canonical JSON (key order does not matter). */
export class SqliteSchemas implements SchemaStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  async put(params: { type: string; version: number; schema: Record<string, unknown> }): Promise<void> {
    const { type, version, schema } = params ?? ({} as typeof params);
    if (typeof type !== "string" || type === "") throw invalid("a schema needs a non-empty type");
    if (!Number.isInteger(version) || version < 1) {
      throw invalid(`a schema version must be an integer >= 1, got ${String(version)}`);
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw invalid("a schema must be a JSON object");
    }
    this.#ctx.ensureOpen();
    const canonical = canonicalJson(schema);
    const table = this.#ctx.t("schemas");
    await this.#ctx.write("schemas.put", () => {
      this.#ctx
        .stmt(
          `INSERT INTO ${table} (type, version, canonical, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(type, version, canonical, this.#ctx.nowMs());
      const row = this.#ctx
        .stmt(`SELECT canonical FROM ${table} WHERE type = ? AND version = ?`)
        .get(type, version) as {
        canonical: string;
      };
      if (row.canonical !== canonical) {
        throw new ValidationError(
          componentMessage(
            SQLITE_COMPONENT,
            `schema ${type} v${version} already exists with different content`,
          ),
          { issues: [`${type}@${version}: content differs from the stored schema`] },
        );
      }
    });
  }

  async get(params: { type: string; version?: number }): Promise<SchemaRecord | undefined> {
    this.#ctx.ensureOpen();
    const table = this.#ctx.t("schemas");
    return this.#ctx.run("schemas.get", () => {
      const row = this.#ctx
        .stmt(
          `SELECT * FROM ${table} WHERE type = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1`,
        )
        .get(numbered(String(params?.type), params?.version ?? null)) as SchemaRow | undefined;
      return row ? view(row) : undefined;
    });
  }

  async list(params: { type?: string } = {}): Promise<SchemaRecord[]> {
    this.#ctx.ensureOpen();
    const table = this.#ctx.t("schemas");
    return this.#ctx.run("schemas.list", () =>
      (
        this.#ctx
          .stmt(`SELECT * FROM ${table} WHERE ?1 IS NULL OR type = ?1 ORDER BY type, version`)
          .all(numbered(params.type ?? null)) as SchemaRow[]
      ).map(view),
    );
  }
}

function view(s: SchemaRow): SchemaRecord {
  return { type: s.type, version: s.version, schema: JSON.parse(s.canonical), createdAt: iso(s.created_ms) };
}
