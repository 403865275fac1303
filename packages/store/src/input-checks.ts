import { componentMessage, ValidationError } from "@eventferry/core";
import type { InboxRecordInput } from "./store.js";

/**
 * For store adapters: the checks `inbox.record` applies to each input before writing anything
 * (non-empty consumer, integer `maxAttempts >= 1`). Throws a `ValidationError` naming `component`.
 * The event itself is checked by {@link storableEnvelope}.
 *
 * @example
 * for (const input of params.entries) checkRecordInput(input, "store-sqlite");
 */
export function checkRecordInput(input: InboxRecordInput, component: string): void {
  if (typeof input?.consumer !== "string" || input.consumer === "") {
    throw new ValidationError(componentMessage(component, "an inbox entry needs a non-empty consumer"));
  }
  if (!Number.isInteger(input.maxAttempts) || input.maxAttempts < 1) {
    throw new ValidationError(
      componentMessage(component, `maxAttempts must be an integer >= 1, got ${String(input.maxAttempts)}`),
    );
  }
}

/**
 * For store adapters: the checks `batches.create` applies (non-empty id, integer `total >= 0`).
 * Throws a `ValidationError` naming `component`.
 *
 * @example
 * checkBatchCreate(params, "store-postgres");
 */
export function checkBatchCreate(params: { id: string; total: number }, component: string): void {
  if (typeof params?.id !== "string" || params.id === "") {
    throw new ValidationError(componentMessage(component, "a batch needs a non-empty id"));
  }
  if (!Number.isInteger(params.total) || params.total < 0) {
    throw new ValidationError(
      componentMessage(component, `a batch total must be an integer >= 0, got ${String(params.total)}`),
    );
  }
}
