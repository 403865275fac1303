import { componentMessage, ValidationError } from "@eventferry/core";
import { checkBatchCreate } from "../input-checks.js";
import type { BatchStatus, BatchStore } from "../store.js";
import { iso, MEMORY_COMPONENT, type MemoryContext } from "./memory-context.js";

interface BatchRecord {
  readonly id: string;
  readonly total: number;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly createdAt: number;
  readonly members: Map<string, "completed" | "failed">;
  completed: number;
  failed: number;
  finishedAt: number | undefined;
}

function invalid(message: string): ValidationError {
  return new ValidationError(componentMessage(MEMORY_COMPONENT, message));
}

/** Batches in memory: counts per outcome, members remembered for idempotence. */
export class MemoryBatches implements BatchStore {
  readonly #ctx: MemoryContext;
  readonly #batches = new Map<string, BatchRecord>();

  constructor(ctx: MemoryContext) {
    this.#ctx = ctx;
  }

  get size(): number {
    return this.#batches.size;
  }

  async create(params: {
    id: string;
    total: number;
    metadata?: Record<string, string>;
  }): Promise<BatchStatus> {
    this.#ctx.ensureOpen();
    checkBatchCreate(params, MEMORY_COMPONENT);
    const existing = this.#batches.get(params.id);
    if (existing) return view(existing);
    const now = this.#ctx.now();
    const batch: BatchRecord = {
      id: params.id,
      total: params.total,
      metadata: params.metadata ? { ...params.metadata } : undefined,
      createdAt: now,
      members: new Map(),
      completed: 0,
      failed: 0,
      finishedAt: params.total === 0 ? now : undefined,
    };
    this.#batches.set(batch.id, batch);
    return view(batch);
  }

  async complete(params: {
    id: string;
    memberId: string;
    outcome?: "completed" | "failed";
  }): Promise<BatchStatus> {
    this.#ctx.ensureOpen();
    const batch = this.#batches.get(params?.id);
    if (!batch) throw invalid(`unknown batch ${String(params?.id)}`);
    if (batch.members.has(params.memberId)) return view(batch);
    const outcome = params.outcome ?? "completed";
    if (outcome !== "completed" && outcome !== "failed")
      throw invalid(`unknown batch outcome ${String(outcome)}`);
    batch.members.set(params.memberId, outcome);
    if (outcome === "completed") batch.completed++;
    else batch.failed++;
    if (batch.finishedAt === undefined && batch.completed + batch.failed >= batch.total) {
      batch.finishedAt = this.#ctx.now();
    }
    return view(batch);
  }

  async status(params: { id: string }): Promise<BatchStatus | undefined> {
    this.#ctx.ensureOpen();
    const batch = this.#batches.get(params?.id);
    return batch ? view(batch) : undefined;
  }
}

function view(b: BatchRecord): BatchStatus {
  return {
    id: b.id,
    total: b.total,
    completed: b.completed,
    failed: b.failed,
    done: b.completed + b.failed >= b.total,
    ...(b.metadata ? { metadata: { ...b.metadata } } : {}),
    createdAt: iso(b.createdAt),
    ...(b.finishedAt !== undefined ? { finishedAt: iso(b.finishedAt) } : {}),
  };
}
