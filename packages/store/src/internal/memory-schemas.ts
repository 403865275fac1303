import { componentMessage, ValidationError } from "@eventferry/core";
import type { SchemaRecord, SchemaStore } from "../store.js";
import { canonicalJson } from "./envelope-json.js";
import { iso, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";

interface StoredSchema {
  readonly type: string;
  readonly version: number;
  readonly canonical: string;
  readonly createdAt: number;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/** Schema versions in memory, compared by content (key order does not matter). */
export class MemorySchemas implements SchemaStore {
  readonly #ctx: MemoryContext;
  readonly #byType = new Map<string, Map<number, StoredSchema>>();

  constructor(ctx: MemoryContext) {
    this.#ctx = ctx;
  }

  async put(params: { type: string; version: number; schema: Record<string, unknown> }): Promise<void> {
    this.#ctx.ensureOpen();
    const { type, version, schema } = params ?? {};
    if (typeof type !== "string" || type === "") throw invalid("a schema needs a non-empty type");
    if (!Number.isInteger(version) || version < 1) {
      throw invalid(`a schema version must be an integer >= 1, got ${String(version)}`);
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw invalid("a schema must be a JSON object");
    }
    const canonical = canonicalJson(schema);
    let versions = this.#byType.get(type);
    const existing = versions?.get(version);
    if (existing) {
      if (existing.canonical === canonical) return;
      throw new ValidationError(
        componentMessage(
          MEMORY_COMPONENT,
          `schema ${type} v${version} already exists with different content`,
        ),
        { issues: [`${type}@${version}: content differs from the stored schema`] },
      );
    }
    if (!versions) {
      versions = new Map();
      this.#byType.set(type, versions);
    }
    versions.set(version, { type, version, canonical, createdAt: this.#ctx.now() });
  }

  async get(params: { type: string; version?: number }): Promise<SchemaRecord | undefined> {
    this.#ctx.ensureOpen();
    const versions = this.#byType.get(params?.type);
    if (!versions) return undefined;
    if (params.version !== undefined) {
      const s = versions.get(params.version);
      return s ? view(s) : undefined;
    }
    let latest: StoredSchema | undefined;
    for (const s of versions.values()) if (!latest || s.version > latest.version) latest = s;
    return latest ? view(latest) : undefined;
  }

  async list(params: { type?: string } = {}): Promise<SchemaRecord[]> {
    this.#ctx.ensureOpen();
    const out: StoredSchema[] = [];
    for (const [type, versions] of this.#byType) {
      if (params.type !== undefined && type !== params.type) continue;
      out.push(...versions.values());
    }
    out.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.version - b.version));
    return out.map(view);
  }
}

function view(s: StoredSchema): SchemaRecord {
  return { type: s.type, version: s.version, schema: JSON.parse(s.canonical), createdAt: iso(s.createdAt) };
}
