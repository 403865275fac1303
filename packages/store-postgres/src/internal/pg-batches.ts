import { componentMessage, ValidationError } from "@eventferry/core";
import type { BatchStatus, BatchStore, SchemaRecord, SchemaStore } from "@eventferry/store";
import { checkBatchCreate } from "@eventferry/store";
import type { PgContext } from "./context.js";
import { iso } from "./context.js";
import { invalid } from "./envelope.js";
import { COMPONENT } from "./names.js";

interface BatchRow {
  id: string;
  total: number;
  completed: number;
  failed: number;
  metadata: Record<string, string> | null;
  created_at: Date;
  finished_at: Date | null;
}

function batchView(b: BatchRow): BatchStatus {
  return {
    id: b.id,
    total: b.total,
    completed: b.completed,
    failed: b.failed,
    done: b.completed + b.failed >= b.total,
    ...(b.metadata ? { metadata: b.metadata } : {}),
    createdAt: iso(b.created_at),
    ...(b.finished_at ? { finishedAt: iso(b.finished_at) } : {}),
  };
}

/** Batches: one row per batch, one per counted member (idempotence). */
export class PgBatches implements BatchStore {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  async create(params: {
    id: string;
    total: number;
    metadata?: Record<string, string>;
  }): Promise<BatchStatus> {
    this.#ctx.ensureOpen();
    checkBatchCreate(params, COMPONENT);
    const t = this.#ctx.t;
    const rows = await this.#ctx.query<BatchRow>(
      this.#ctx.pool,
      "batches.create",
      `WITH ins AS (
  INSERT INTO ${t.batches} (id, total, metadata, finished_at)
  VALUES ($1, $2, $3::jsonb, CASE WHEN $2 = 0 THEN now() END)
  ON CONFLICT (id) DO NOTHING RETURNING *)
SELECT * FROM ins UNION ALL SELECT * FROM ${t.batches} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [params.id, params.total, params.metadata ? JSON.stringify(params.metadata) : null],
    );
    return batchView(rows[0] as BatchRow);
  }

  async complete(params: {
    id: string;
    memberId: string;
    outcome?: "completed" | "failed";
  }): Promise<BatchStatus> {
    this.#ctx.ensureOpen();
    const outcome = params?.outcome ?? "completed";
    if (outcome !== "completed" && outcome !== "failed")
      throw invalid(`unknown batch outcome ${String(outcome)}`);
    if (typeof params.memberId !== "string") throw invalid("a batch member needs a string id");
    const t = this.#ctx.t;
    const rows = await this.#ctx.query<BatchRow>(
      this.#ctx.pool,
      "batches.complete",
      `WITH ins AS (
  INSERT INTO ${t.batchMembers} (batch_id, member_id, outcome)
  SELECT id, $2, $3 FROM ${t.batches} WHERE id = $1
  ON CONFLICT DO NOTHING RETURNING outcome),
upd AS (
  UPDATE ${t.batches} b
     SET completed = b.completed + (SELECT count(*) FROM ins WHERE outcome = 'completed'),
         failed = b.failed + (SELECT count(*) FROM ins WHERE outcome = 'failed'),
         finished_at = CASE WHEN b.finished_at IS NULL AND b.completed + b.failed + 1 >= b.total THEN now()
                       ELSE b.finished_at END
   WHERE b.id = $1 AND EXISTS (SELECT 1 FROM ins)
  RETURNING b.*)
SELECT * FROM upd UNION ALL SELECT * FROM ${t.batches} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
      [params.id, params.memberId, outcome],
    );
    if (!rows[0]) {
      throw new ValidationError(componentMessage(COMPONENT, `unknown batch ${String(params.id)}`));
    }
    return batchView(rows[0]);
  }

  async status(params: { id: string }): Promise<BatchStatus | undefined> {
    this.#ctx.ensureOpen();
    const rows = await this.#ctx.query<BatchRow>(
      this.#ctx.pool,
      "batches.status",
      `SELECT * FROM ${this.#ctx.t.batches} WHERE id = $1`,
      [String(params?.id)],
    );
    return rows[0] ? batchView(rows[0]) : undefined;
  }
}

interface SchemaRow {
  type: string;
  version: number;
  schema: Record<string, unknown>;
  created_at: Date;
}

const schemaView = (r: SchemaRow): SchemaRecord => ({
  type: r.type,
  version: r.version,
  schema: r.schema,
  createdAt: iso(r.created_at),
});

/** Schema versions; content compared as `jsonb` (key order does not matter). */
export class PgSchemas implements SchemaStore {
  readonly #ctx: PgContext;

  constructor(ctx: PgContext) {
    this.#ctx = ctx;
  }

  async put(params: { type: string; version: number; schema: Record<string, unknown> }): Promise<void> {
    this.#ctx.ensureOpen();
    const { type, version, schema } = params ?? ({} as typeof params);
    if (typeof type !== "string" || type === "") throw invalid("a schema needs a non-empty type");
    if (!Number.isInteger(version) || version < 1) {
      throw invalid(`a schema version must be an integer >= 1, got ${String(version)}`);
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw invalid("a schema must be a JSON object");
    }
    const t = this.#ctx.t;
    const rows = await this.#ctx.query<{ same: boolean }>(
      this.#ctx.pool,
      "schemas.put",
      `WITH ins AS (
  INSERT INTO ${t.schemas} (type, version, schema) VALUES ($1, $2, $3::jsonb)
  ON CONFLICT (type, version) DO NOTHING RETURNING 1)
SELECT true AS same FROM ins
UNION ALL
SELECT schema = $3::jsonb FROM ${t.schemas} WHERE type = $1 AND version = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
      [type, version, JSON.stringify(schema)],
    );
    if (rows[0]?.same === false) {
      throw new ValidationError(
        componentMessage(COMPONENT, `schema ${type} v${version} already exists with different content`),
        { issues: [`${type}@${version}: content differs from the stored schema`] },
      );
    }
  }

  async get(params: { type: string; version?: number }): Promise<SchemaRecord | undefined> {
    this.#ctx.ensureOpen();
    const rows = await this.#ctx.query<SchemaRow>(
      this.#ctx.pool,
      "schemas.get",
      `SELECT * FROM ${this.#ctx.t.schemas} WHERE type = $1 AND ($2::integer IS NULL OR version = $2)
 ORDER BY version DESC LIMIT 1`,
      [String(params?.type), params?.version ?? null],
    );
    return rows[0] ? schemaView(rows[0]) : undefined;
  }

  async list(params: { type?: string } = {}): Promise<SchemaRecord[]> {
    this.#ctx.ensureOpen();
    const rows = await this.#ctx.query<SchemaRow>(
      this.#ctx.pool,
      "schemas.list",
      `SELECT * FROM ${this.#ctx.t.schemas} WHERE $1::text IS NULL OR type = $1 ORDER BY type COLLATE "C", version`,
      [params.type ?? null],
    );
    return rows.map(schemaView);
  }
}
