import type { BatchStatus, BatchStore } from "@eventferry/store";
import { checkBatchCreate } from "@eventferry/store";
import { SQLITE_COMPONENT } from "../classify-error.js";
import { invalid, iso } from "./envelope.js";
import type { SqliteContext } from "./sqlite-context.js";

interface BatchRow {
  id: string;
  total: number;
  completed: number;
  failed: number;
  metadata: string | null;
  created_ms: number;
  finished_ms: number | null;
}

/** Batches: counters per outcome; members remembered (primary key) for idempotence. */
export class SqliteBatches implements BatchStore {
  readonly #ctx: SqliteContext;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  #get(id: string): BatchRow | undefined {
    return this.#ctx.stmt(`SELECT * FROM ${this.#ctx.t("batches")} WHERE id = ?`).get(id) as
      | BatchRow
      | undefined;
  }

  async create(params: {
    id: string;
    total: number;
    metadata?: Record<string, string>;
  }): Promise<BatchStatus> {
    checkBatchCreate(params, SQLITE_COMPONENT);
    this.#ctx.ensureOpen();
    return this.#ctx.write("batches.create", () => {
      const now = this.#ctx.nowMs();
      this.#ctx
        .stmt(
          `INSERT INTO ${this.#ctx.t("batches")} (id, total, metadata, created_ms, finished_ms) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO NOTHING`,
        )
        .run(
          params.id,
          params.total,
          params.metadata ? JSON.stringify(params.metadata) : null,
          now,
          params.total === 0 ? now : null,
        );
      return view(this.#get(params.id) as BatchRow);
    });
  }

  async complete(params: {
    id: string;
    memberId: string;
    outcome?: "completed" | "failed";
  }): Promise<BatchStatus> {
    const outcome = params?.outcome ?? "completed";
    if (outcome !== "completed" && outcome !== "failed")
      throw invalid(`unknown batch outcome ${String(outcome)}`);
    this.#ctx.ensureOpen();
    return this.#ctx.write("batches.complete", () => {
      const batch = this.#get(String(params?.id));
      if (!batch) throw invalid(`unknown batch ${String(params?.id)}`);
      const added = this.#ctx
        .stmt(
          `INSERT INTO ${this.#ctx.t("batch_members")} (batch_id, member_id, outcome) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(batch.id, String(params.memberId), outcome).changes;
      if (added === 0) return view(batch);
      const column = outcome === "completed" ? "completed" : "failed";
      this.#ctx
        .stmt(
          `UPDATE ${this.#ctx.t("batches")} SET ${column} = ${column} + 1,
             finished_ms = CASE WHEN finished_ms IS NULL AND completed + failed + 1 >= total THEN ? ELSE finished_ms END
           WHERE id = ?`,
        )
        .run(this.#ctx.nowMs(), batch.id);
      return view(this.#get(batch.id) as BatchRow);
    });
  }

  async status(params: { id: string }): Promise<BatchStatus | undefined> {
    this.#ctx.ensureOpen();
    return this.#ctx.run("batches.status", () => {
      const row = this.#get(String(params?.id));
      return row ? view(row) : undefined;
    });
  }
}

function view(b: BatchRow): BatchStatus {
  return {
    id: b.id,
    total: b.total,
    completed: b.completed,
    failed: b.failed,
    done: b.completed + b.failed >= b.total,
    ...(b.metadata ? { metadata: JSON.parse(b.metadata) } : {}),
    createdAt: iso(b.created_ms),
    ...(b.finished_ms !== null ? { finishedAt: iso(b.finished_ms) } : {}),
  };
}
